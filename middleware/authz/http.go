package authz

import (
	"net/http"

	"github.com/switchyard/switchyard/identity"
	"github.com/switchyard/switchyard/internal/httperr"
)

// The codes of the 403 answers of [Authorizer.Handler].
const (
	// CodeForbidden answers a caller with an identity that no rule admits
	// to the request.
	CodeForbidden = "forbidden"
	// CodeNoIdentity answers a caller without an identity, on any route
	// but those with [Rule.Anyone].
	CodeNoIdentity = "no_identity"
)

// Handler returns next guarded by a's rules. Each request is covered by
// the rule whose Route an http.ServeMux holding every rule's Route routes
// it to — the same pattern, with the same precedence, host matching, path
// cleaning and method matching ("GET /x" also covers HEAD), as a ServeMux
// of the service registering those patterns would pick. The caller is the
// identity of the request's verified TLS client certificate
// (identity.FromRequest); when the connection has none, the identity an
// outer layer put on the context (identity.NewContext), if any. Headers
// are never consulted.
//
// A request passes when its rule admits the caller: every request on a
// route with [Rule.Anyone], and a request whose caller is among the rule's
// Callers. next then sees the caller on the request's context
// (identity.FromContext). Every other request is answered 403 with the
// JSON body {"error":{"code":…,"message":…}} and never reaches next:
//
//   - "no_identity" ([CodeNoIdentity]) when the caller has no identity;
//   - "forbidden" ([CodeForbidden]) when it has one but the rule does
//     not admit it, or no rule covers the request.
//
// "No rule covers the request" includes every request the internal
// ServeMux would not route to a rule's pattern: one matching no pattern,
// one whose method no pattern of its path allows, and one ServeMux would
// redirect — a path that is not clean ("/v1/../healthz",
// "//healthz") or lacks a trailing slash ("/v1/users" under a rule for
// "/v1/users/"). A ServeMux behind would only redirect those, so
// refusing them costs a well-behaved caller nothing, and nothing ever
// reaches next under a path no rule was written for. The answer never
// says whether a route exists: a caller with an identity is told
// "forbidden" alike for a route it may not call and for one that is not
// there, and a caller without one is told "no_identity" everywhere but
// on Anyone routes.
//
// Every refusal is reported to [Hooks.OnDeny]. The method value a.Handler
// is a func(http.Handler) http.Handler; the handler is safe for
// concurrent use.
func (a *Authorizer) Handler(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		r := a.match(req)
		ctx := req.Context()
		caller, ok := identity.FromRequest(req)
		onCtx, hadCtx := identity.FromContext(ctx)
		if !ok {
			caller, ok = onCtx, hadCtx
		}
		if r == nil || !r.admits(caller) {
			route := ""
			if r != nil {
				route = r.route
			}
			if a.onDeny != nil {
				a.deny(ctx, route, caller)
			}
			if !ok {
				httperr.Write(w, http.StatusForbidden, CodeNoIdentity, "a client certificate with a SPIFFE ID is required")
				return
			}
			httperr.Write(w, http.StatusForbidden, CodeForbidden, "the caller may not make this request")
			return
		}
		if ok && (!hadCtx || onCtx != caller) {
			req = req.WithContext(identity.NewContext(ctx, caller))
		}
		next.ServeHTTP(w, req)
	})
}

// match returns the rule covering req, or nil: the *rule the internal
// ServeMux routes req to. Anything else ServeMux.Handler returns — its
// not-found, method-not-allowed and redirect handlers — is no rule.
func (a *Authorizer) match(req *http.Request) *rule {
	if req.URL == nil {
		return nil
	}
	h, _ := a.mux.Handler(req)
	r, _ := h.(*rule)
	return r
}
