// Package concurrency limits how many calls run at once: a fixed bulkhead,
// or an adaptive limit that follows the latency the calls observe.
//
// A [Limiter] admits a call while fewer than its limit are in flight.
// Beyond the limit it sheds the call at once with an [*Error] (the
// default), or, with [WithWait], queues it in arrival order until a slot
// frees up or the call's context ends.
//
// [NewFixed] keeps the limit where it is put: a bulkhead that stops one
// slow dependency from tying up every goroutine of a service.
//
// [NewAdaptive] moves the limit with latency, in the style of the
// gradient limiters of Netflix's concurrency-limits library. It averages
// the round-trip times of each sampling window (the short-term RTT) and
// keeps a slow moving average across windows (the long-term RTT, the
// latency the service has when it is not queueing). When the short-term
// RTT climbs past Tolerance × the long-term one, requests are queueing
// somewhere, and the limit shrinks in proportion (at most halving per
// window, smoothed); otherwise it grows by about √limit per window, also
// smoothed. Windows in which the limiter was far from full (in flight
// below half the limit) do not change the limit: they say nothing about
// capacity. The signal is latency only, never CPU, so it protects the
// service from any kind of saturation downstream of it.
//
// [Middleware] wraps a go-kit endpoint; [Handler] wraps an
// [net/http.Handler] and answers shed requests with 503 Service
// Unavailable, a Retry-After header and the JSON body
// {"error":{"code":"overloaded","message":"…"}}. Each shed call and each
// decrease of an adaptive limit is recorded as a span event
// ("switchyard.concurrency.shed", "switchyard.concurrency.limit") with a
// "reason" attribute.
//
// Time comes from an injectable clock ([WithClock]) so that the adaptive
// limit can be tested with simulated latency on a fake clock.
package concurrency
