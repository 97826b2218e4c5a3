// Package circuitbreaker stops calling an upstream that keeps failing, and
// lets a few probe calls through after a pause to find out whether it has
// recovered.
//
// A [Breaker] wraps one github.com/sony/gobreaker/v2 circuit breaker: the
// closed → open → half-open → closed state machine, its counters and its
// windows are gobreaker's. This package adds what gobreaker leaves to its
// user:
//
//   - Two trip rules, both on by default: [Config.ConsecutiveFailures]
//     server failures in a row, or a [Config.FailureRatio] of server
//     failures once the window holds [Config.MinRequests] answered calls.
//   - Only server-health failures count, as decided by outcome.Default (or
//     [Config.Classifier]): timeouts, 5xx and connection errors trip the
//     breaker; 4xx answers count as successes, because the server answered
//     sensibly; calls the caller cancelled count as neither; and rejections
//     by any breaker of this package ([RejectedError]) count as neither, so
//     stacked breakers never feed on each other.
//   - State changes reach [Hooks.OnStateChange] and the calling request's
//     span (as OpenTelemetry span events) after gobreaker has released its
//     lock: gobreaker calls its own hook under its mutex, so the wrapper only
//     queues the change there and delivers it, in order, afterwards.
//
// # Construction and faces
//
// Like every middleware of Switchyard, a breaker is built by [New] from
// its required argument (a name) and a [Config] whose zero value means the
// documented defaults; an invalid Config is an error wrapping [ErrConfig].
// Hooks are the func fields of [Config.Hooks]. The breaker is applied
// through its methods:
//
//	b, err := circuitbreaker.New("inventory", circuitbreaker.Config{})
//	ep = b.Endpoint(ep)      // go-kit endpoint; b.Endpoint is an endpoint.Middleware
//	h = b.Handler(h)         // net/http server side, answering 503 while open
//
// # Where to put a breaker
//
// [Breaker.Endpoint] guards one endpoint (a whole upstream service when
// placed above the balancer). [Group] keeps one breaker per key with
// bounded memory, built by [NewGroup] from a [GroupConfig];
// [Group.Endpoint] picks the breaker per call with [GroupConfig.Key], and
// [Group.Factory] wraps a balancer.Factory so that every instance the
// balancer creates gets its own breaker (per-instance breaking, like
// Linkerd's failure accrual). [Breaker.Handler] guards an
// [net/http.Handler], for example one route of a gateway, answering 503
// with Retry-After while open.
//
// # Rejections and the rest of the call path
//
// A rejected call fails with a [*RejectedError], which reports status 503
// and Temporary() == true. outcome.Default therefore classifies it as a
// server failure: retry layers may try another instance, and an HTTP server
// maps it to 503. A breaker under the balancer (per instance, through
// [Group.Factory]) would then have its rejections counted by the
// balancer's outlier detection as fresh failures of the instance, although
// no request reached it. Build such a balancer with
// balancer.Config{Classifier: [SkipRejections](outcome.Default)}, which makes
// the balancer treat rejections as neutral (neither success nor failure,
// no latency sample) and defers to the given classifier for everything
// else.
//
// # Time
//
// gobreaker v2.4.0 reads time.Now directly and has no clock option, so a
// Breaker runs on the real clock, and so does this package. Its tests stay
// deterministic by running inside a testing/synctest bubble, where
// time.Now is a fake clock that jumps forward only when every goroutine in
// the bubble is blocked: a test sleeps through the 10-second open period
// in no real time.
package circuitbreaker
