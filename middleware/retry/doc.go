// Package retry retries failed calls without letting retries become the
// outage: a bounded number of attempts, exponential backoff with full
// jitter, and a retry [Budget] shared by everything that calls one
// upstream.
//
// [New] builds a [Retry] from a [Config] whose zero value is the default.
// Its faces follow the same rules and may share one Budget:
// [Retry.Endpoint] is a go-kit endpoint.Middleware, and [Retry.Transport]
// an http.RoundTripper built on go-retryablehttp. The rules:
//
//   - at most [MaxAttempts] (5) attempts, [DefaultMaxAttempts] (3) unless
//     [Config.MaxAttempts] says otherwise;
//   - [Config.Classifier] (default outcome.Default) says which failures
//     are server-health failures, and [Config.CheckRetry] (default
//     [DefaultCheckRetry]) decides on top of it: by default only those
//     failures are retried, and only for idempotent calls — see
//     [IsIdempotent], [MarkIdempotent] and [ContextWithIdempotencyKey];
//   - a call whose caller's context is done is never retried, and no
//     backoff starts that would end within [Config.MinAttemptTime] of the
//     caller's deadline;
//   - each retry costs one unit of the [Budget], which every call feeds
//     with a fraction of a unit ([DefaultRatio], 0.2) plus a floor of
//     [DefaultMinPerSecond] (10) retries per second, so that a failing
//     upstream sees at most about 1.2 times the normal load, not 5 times;
//   - [Config.PerTryTimeout] gives each attempt its own deadline.
//
// One retry layer per call path: a retry layer marks the context it passes
// down ([Active]) and any retry layer further in makes a single attempt,
// so a retrying middleware around a retrying transport does not square
// the number of attempts; the mark also tells layers further in whether
// the attempt is the last ([FinalAttempt]), which a per-attempt timeout
// spares. Deposits are likewise made once per call and budget
// ([Budget.Enter]), which is how middleware/hedge shares a Budget with
// this package.
//
// Every decision (retry, budget exhausted, deadline, attempts exhausted)
// is an OpenTelemetry span event on the caller's span, named
// switchyard.retry.<decision> with a reason attribute, and calls the
// optional [Hooks] for metrics. Time is the real clock's; the package's
// tests run in testing/synctest bubbles.
package retry
