// Package retry retries failed calls without letting retries become the
// outage: a bounded number of attempts, exponential backoff with full
// jitter, and a retry [Budget] shared by everything that calls one
// upstream.
//
// [New] returns a go-kit endpoint.Middleware; [NewHTTPClient] returns an
// *http.Client built on go-retryablehttp that follows the same rules and
// can share the same Budget. The rules:
//
//   - at most [MaxAttempts] (5) attempts, [DefaultMaxAttempts] (3) unless
//     configured;
//   - only failures that [outcome.Default] (or the classifier given with
//     [WithClassifier]) calls server-health failures are retried, and only
//     for idempotent calls: see [IsIdempotent], [WithIdempotent] and
//     [WithIdempotencyKey]. The whole decision is a [Policy], replaceable
//     with [WithPolicy];
//   - a call whose caller's context is done is never retried, and no
//     backoff starts that would end within [WithMinAttemptTime] of the
//     caller's deadline;
//   - each retry costs one unit of the [Budget], which every call feeds
//     with a fraction of a unit ([DefaultRatio], 0.2) plus a floor of
//     [DefaultMinPerSecond] (10) retries per second, so that a failing
//     upstream sees at most about 1.2 times the normal load, not 5 times;
//   - [WithPerTryTimeout] gives each attempt its own deadline.
//
// One retry layer per call path: a retry layer marks the context it passes
// down ([Active]) and any retry layer further in makes a single attempt,
// so a retrying middleware around a retrying HTTP client does not square
// the number of attempts; the mark also tells layers further in whether
// the attempt is the last ([FinalAttempt]), which a per-attempt timeout
// spares. Deposits are likewise made once per call and
// budget ([Budget.Enter]), which is how middleware/hedge shares a Budget
// with this package.
//
// Every decision (retry, budget exhausted, deadline, attempts exhausted)
// is an OpenTelemetry span event on the caller's span, named
// switchyard.retry.<decision> with a reason attribute, and calls the
// optional [Hooks] for metrics. Time comes from an injectable clock.
package retry
