// Package ratelimit admits requests at a steady rate with room for bursts,
// using the token buckets of golang.org/x/time/rate.
//
// A [Global] limiter is one bucket shared by every request. A [PerKey]
// limiter keeps one bucket per key (a client IP, a user, an API key) with
// bounded memory: it holds at most [WithMaxKeys] buckets (default
// 100,000), spread over shards, and when a shard is full it forgets an
// idle key chosen by a clock sweep (an approximation of least recently
// used). A forgotten key starts again with a full bucket, which is what
// an idle key would have had anyway once its bucket refilled.
//
// Both limiters work in one of two modes. In the default error mode a
// request over the rate fails at once with an [*Error] that carries how
// long to wait before a token is available. In wait mode ([WithWait]) the
// request waits for its token, but never past its context's deadline or
// the configured maximum wait; if the wait would be longer it fails at
// once with an [*Error] instead of waiting in vain.
//
// [Middleware] applies a limiter to a go-kit endpoint; [Handler] applies it
// to an [net/http.Handler], answering 429 Too Many Requests with a
// Retry-After header (whole seconds, rounded up) and the JSON body
// {"error":{"code":"rate_limited","message":"…"}}.
//
// Every refusal and every wait is recorded as a span event
// ("switchyard.ratelimit.limit", "switchyard.ratelimit.wait", attribute
// "reason") on the span in the request's context.
//
// Time comes from an injectable clock ([WithClock]); the buckets are
// always driven with explicit times (AllowN, ReserveN), so tests on a fake
// clock are exact.
package ratelimit
