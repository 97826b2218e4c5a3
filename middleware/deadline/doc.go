// Package deadline carries a request's deadline from service to service,
// so that work nobody is waiting for any more stops everywhere at once.
//
// The time left travels in the [Header] X-Switchyard-Deadline-Ms as whole
// milliseconds, relative to the moment the request is received, so that
// hosts need not agree on the time. [New] builds a [Deadline] from a
// [Config] whose zero value is the default; its methods are the faces.
// Each hop shrinks the time left: a client writes what its context has
// left when it sends ([Deadline.Transport] for net/http clients,
// [Deadline.ClientBefore] for go-kit clients), rounding down and
// optionally keeping a [Config.HopAllowance] for itself; a server sets the
// deadline of the request's context from it ([Deadline.Handler] for
// net/http, [Deadline.ServerBefore] with [Deadline.Endpoint] for go-kit
// servers), keeping any earlier local deadline and capping absurd budgets
// at [Config.Max] ([DefaultMax] by default).
//
// A server answers 504 with {"error":{"code":"deadline_exceeded",…}} at
// once, without calling the next handler, when a request arrives with no
// time left, and at the deadline when the handler has not begun its
// response by then; a malformed header gets a 400 with code
// "bad_deadline". A client with no time left does not send the request
// ([ErrExceeded]). Outgoing calls made with the request's context are
// cancelled at the deadline, so the whole tree of calls below stops too.
//
// Each refusal is an OpenTelemetry span event named
// switchyard.deadline.<decision> with a reason attribute, and calls the
// optional [Hooks]. Time is the real clock's; the package's timing tests
// run in testing/synctest bubbles (the one behind a real server sets an
// unexported clock).
package deadline
