// Package authz admits only named callers per route: an authorization
// middleware whose callers are the SPIFFE IDs of their verified TLS client
// certificates (package identity).
//
// An [Authorizer] is built like every middleware of Switchyard: [New]
// takes a [Config] and returns an error wrapping [ErrConfig] for an
// invalid one. Its faces are methods:
//
//	orders, _ := identity.ForService("shop.internal", "orders")
//	a, err := authz.New(authz.Config{Rules: []authz.Rule{
//		{Route: "GET /healthz", Anyone: true},
//		{Route: "DELETE /v1/reservations/{id}", Operation: "reservations.release", Callers: []identity.ID{orders}},
//	}})
//	h = a.Handler(mux)                                     // net/http, answering 403
//	ep = a.Operation("reservations.release").Endpoint(ep)  // go-kit endpoint
//
// A [Rule] covers an http.ServeMux pattern (Route) for the Handler face,
// an operation name (Operation) for the Endpoint face, or both, and admits
// the IDs it lists (Callers), everyone (Anyone: probes of an orchestrator
// without a certificate) or no one (Nobody). Whatever no rule covers is
// refused: authorization is deny by default.
//
// [Authorizer.Handler] finds a request's rule with a ServeMux of its own
// that holds the rules' patterns, so it picks the pattern the service's
// own ServeMux would pick — with its precedence, its path cleaning and
// its method matching — and refuses what that ServeMux would not route to
// a pattern (unknown paths, redirects of unclean paths). The caller is
// the identity of the request's verified client certificate, or, for a
// connection without one, the identity an outer layer put on the
// context; a passing request carries it on its context for the handler.
// A refusal is a 403 with the JSON body
// {"error":{"code":"forbidden"|"no_identity","message":"…"}}. There is no
// 401: a 401 must carry a WWW-Authenticate challenge, and HTTP has no
// scheme for asking for a client certificate.
//
// [Authorizer.Endpoint] takes the caller from the call's context
// (identity.HTTPToContext as a go-kit ServerBefore puts it there) and
// refuses with an [*Error], status 403.
//
// Every refusal reaches [Hooks.OnDeny].
//
// Put the Handler inside access logging, tracing and metrics, so that
// refusals are seen, and outside everything that spends something on a
// request (rate limits, concurrency limits, token validation, the
// business handler), so that a refused caller costs nothing; see
// docs/middleware/authz.md.
package authz
