// Package fault injects failures on purpose, the way Envoy's fault filter
// does: it delays some requests and aborts others, for tests and game
// days that check how the rest of the system copes.
//
// An [Injector] is configured with [Config]: a delay applied to a
// percentage of requests, and an abort (an HTTP status, or an error for
// endpoints) returned for a percentage of requests, in that order: a
// request may be delayed and then aborted. The zero Config injects
// nothing: faults are off unless configured.
//
// An Injector is built like every middleware of Switchyard: [New] takes a
// [Config] whose zero value means the defaults and returns an error
// wrapping [ErrConfig] for an invalid one; hooks are the func fields of
// [Config.Hooks]; its faces are methods:
//
//	inj, err := fault.New(fault.Config{AbortPercent: 5, AbortStatus: 503})
//	ep = inj.Endpoint(ep)   // go-kit endpoint; inj.Endpoint is an endpoint.Middleware
//	h = inj.Handler(h)      // net/http, also honouring fault headers when allowed
//
// # Faults chosen by request headers
//
// With [Config.Headers] set, a request may ask for its own fault:
//
//	X-Switchyard-Fault-Delay: 250ms          (or 250: milliseconds)
//	X-Switchyard-Fault-Delay-Percent: 50     (optional, default 100)
//	X-Switchyard-Fault-Abort: 503            (a status from 400 to 599)
//	X-Switchyard-Fault-Abort-Percent: 10     (optional, default 100)
//
// A header fault replaces the configured fault of the same kind for that
// request; invalid headers are ignored. This is off by default because
// it hands every client a denial-of-service lever: anyone who can set a
// header could hold server goroutines for the delay or fail requests at
// will. Enable it only where the callers are trusted (a test
// environment, an internal listener), narrow it further with
// [Config.HeaderGate], keep [Config.MaxHeaderDelay] small, and make the
// edge gateway strip these headers from outside traffic.
//
// Every injected fault is recorded as a span event
// ("switchyard.fault.delay", "switchyard.fault.abort") whose "reason" is
// "percentage" or "header", and reaches [Hooks.OnFault]. Delays run on
// the real clock (tests use testing/synctest bubbles) and end early when
// the request's context ends.
package fault
