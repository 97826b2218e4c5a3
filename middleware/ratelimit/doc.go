// Package ratelimit admits requests at a steady rate with room for bursts,
// using the token buckets of golang.org/x/time/rate.
//
// A [Limiter] is built like every middleware of Switchyard: [New] takes
// the required rate and burst and a [Config] whose zero value means the
// defaults, and returns an error wrapping [ErrConfig] for an invalid one.
// Its faces are methods:
//
//	l, err := ratelimit.New(100, 20, ratelimit.Config{HTTPKey: ratelimit.RemoteIP})
//	ep = l.Endpoint(ep)   // go-kit endpoint; l.Endpoint is an endpoint.Middleware
//	h = l.Handler(h)      // net/http, answering 429 with Retry-After
//
// Without a key function ([Config.Key] for endpoints, [Config.HTTPKey] for
// handlers) the limiter is global: one bucket shared by every request.
// With one it keeps one bucket per key (a client IP, a user, an API key)
// with bounded memory: it holds at most [Config.MaxKeys] buckets (default
// 100,000), spread over shards, and when a shard is full it forgets an
// idle key chosen by a clock sweep (an approximation of least recently
// used). A forgotten key starts again with a full bucket, which is what
// an idle key would have had anyway once its bucket refilled.
//
// A limiter works in one of two modes. In the default error mode a
// request over the rate fails at once with an [*Error] that carries how
// long to wait before a token is available. In wait mode ([Config.Wait])
// the request waits for its token, but never past its context's deadline
// or [Config.MaxWait]; if the wait would be longer it fails at once with
// an [*Error] instead of waiting in vain.
//
// [Limiter.Handler] answers a refused request 429 Too Many Requests with a
// Retry-After header (whole seconds, rounded up) and the JSON body
// {"error":{"code":"rate_limited","message":"…"}}.
//
// Every refusal and every wait is recorded as a span event
// ("switchyard.ratelimit.limit", "switchyard.ratelimit.wait", attribute
// "reason") on the span in the request's context, and every refusal
// reaches [Hooks.OnLimited].
//
// The buckets are driven with explicit times (AllowN, ReserveN) read from
// the real clock once per request; tests run in testing/synctest bubbles,
// where that clock is fake and exact.
package ratelimit
