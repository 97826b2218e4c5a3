// Package concurrency limits how many calls run at once: a fixed bulkhead,
// or an adaptive limit that follows the latency the calls observe.
//
// A [Limiter] admits a call while fewer than its limit are in flight.
// Beyond the limit it sheds the call at once with an [*Error] (the
// default), or, with [Config.Wait], queues it in arrival order until a
// slot frees up or the call's context ends.
//
// A Limiter is built like every middleware of Switchyard: [New] takes a
// [Config] whose zero value means the defaults and returns an error
// wrapping [ErrConfig] for an invalid one; its faces are methods:
//
//	bulkhead, err := concurrency.New(concurrency.Config{Limit: 64}) // fixed
//	adaptive, err := concurrency.New(concurrency.Config{})          // adaptive, default tuning
//	ep = bulkhead.Endpoint(ep)   // go-kit endpoint; bulkhead.Endpoint is an endpoint.Middleware
//	h = adaptive.Handler(h)      // net/http, answering 503 with Retry-After when shedding
//
// A fixed limit ([Config.Limit]) stays where it is put: a bulkhead that
// stops one slow dependency from tying up every goroutine of a service.
//
// An adaptive limit (the default, tuned by [Adaptive]) moves with latency,
// in the style of the
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
// [Limiter.Endpoint] wraps a go-kit endpoint; [Limiter.Handler] wraps an
// [net/http.Handler] and answers shed requests with 503 Service
// Unavailable, a Retry-After header and the JSON body
// {"error":{"code":"overloaded","message":"…"}}. Each shed call and each
// decrease of an adaptive limit is recorded as a span event
// ("switchyard.concurrency.shed", "switchyard.concurrency.limit") with a
// "reason" attribute, and each change of an adaptive limit reaches
// [Hooks.OnLimitChange].
//
// Calls are timed with the real clock; the adaptive limit's tests simulate
// latency inside testing/synctest bubbles, where that clock is fake.
package concurrency
