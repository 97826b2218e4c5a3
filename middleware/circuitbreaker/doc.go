// Package circuitbreaker stops calling an upstream that keeps failing, and
// lets a few probe calls through after a pause to find out whether it has
// recovered.
//
// A [Breaker] wraps one github.com/sony/gobreaker/v2 circuit breaker: the
// closed → open → half-open → closed state machine, its counters and its
// windows are gobreaker's. This package adds what gobreaker leaves to its
// user:
//
//   - Two trip rules, both on by default: [Settings.ConsecutiveFailures]
//     server failures in a row, or a [Settings.FailureRatio] of server
//     failures once the window holds [Settings.MinRequests] answered calls.
//   - Only server-health failures count, as decided by outcome.Default (or
//     [Settings.Classifier]): timeouts, 5xx and connection errors trip the
//     breaker; 4xx answers count as successes, because the server answered
//     sensibly; calls the caller cancelled count as neither; and rejections
//     by any breaker of this package ([RejectedError]) count as neither, so
//     stacked breakers never feed on each other.
//   - State changes reach [Settings.OnStateChange] and the calling request's
//     span (as OpenTelemetry span events) after gobreaker has released its
//     lock: gobreaker calls its own hook under its mutex, so the wrapper only
//     queues the change there and delivers it, in order, afterwards.
//
// # Where to put a breaker
//
// [Middleware] guards one endpoint (a whole upstream service when placed
// above the balancer). [Group] keeps one breaker per key with bounded
// memory; [Group.Factory] wraps a balancer.Factory so that every instance
// the balancer creates gets its own breaker (per-instance breaking, like
// Linkerd's failure accrual). [Handler] guards an [net/http.Handler], for
// example one route of a gateway, answering 503 with Retry-After while
// open.
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
// balancer.WithClassifier([Classifier](outcome.Default)), which makes the
// balancer treat rejections as neutral (neither success nor failure, no
// latency sample) and defers to the given classifier for everything else.
//
// # Time
//
// gobreaker v2.4.0 reads time.Now directly and has no clock option, so a
// Breaker runs on the real clock (there is no WithClock here, unlike the
// rest of Switchyard). Its tests stay deterministic by running inside a
// testing/synctest bubble, where time.Now is a fake clock that jumps
// forward only when every goroutine in the bubble is blocked: a test
// sleeps through the 10-second open period in no real time.
package circuitbreaker
