package authz

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"

	"github.com/go-kit/kit/endpoint"

	"github.com/switchyard/switchyard/identity"
)

// ErrConfig is wrapped by the error [New] returns for an invalid [Config].
var ErrConfig = errors.New("authz: invalid configuration")

// ErrForbidden is wrapped by every [*Error]: every refusal.
var ErrForbidden = errors.New("authz: forbidden")

// ErrNoIdentity is wrapped, besides [ErrForbidden], by the [*Error] of a
// refusal whose caller had no identity: no verified client certificate
// with a SPIFFE ID, and none on the context.
var ErrNoIdentity = errors.New("authz: the caller has no identity")

// Error is the refusal of a call or request. It wraps [ErrForbidden], and
// [ErrNoIdentity] when Caller is the zero ID.
//
// It reports HTTP status 403 through StatusCode, so outcome.Default
// classes it as the caller's fault (it never counts against an instance)
// and transport/http's error encoder answers 403 with the code
// "forbidden". [Authorizer.Handler] answers for itself; see there.
type Error struct {
	// Route is the Route (Handler face) or the Operation (Endpoint face)
	// of the rule that refused the caller; for an Endpoint bound to an
	// operation that no rule names, that name; and "" for a request that
	// no rule covers. Its values come from the configuration and the
	// code, never from the request, so it is fit for a metric label.
	Route string
	// Caller is the caller's identity, the zero ID when it had none.
	Caller identity.ID
}

func (e *Error) Error() string {
	who := "a caller without identity"
	if !e.Caller.IsZero() {
		who = e.Caller.String()
	}
	if e.Route == "" {
		return "authz: forbidden: no rule admits " + who + " to this request"
	}
	return "authz: forbidden: " + who + " may not call " + e.Route
}

// Unwrap returns [ErrForbidden], and [ErrNoIdentity] when the caller had
// no identity.
func (e *Error) Unwrap() []error {
	if e.Caller.IsZero() {
		return []error{ErrForbidden, ErrNoIdentity}
	}
	return []error{ErrForbidden}
}

// StatusCode returns 403 Forbidden.
func (e *Error) StatusCode() int { return http.StatusForbidden }

// Rule names who may call a route, an operation, or both. Exactly one of
// Callers, Anyone and Nobody says who.
type Rule struct {
	// Route is an http.ServeMux pattern — "DELETE /v1/reservations/{id}",
	// "GET /healthz", "/v1/users/", "example.com/" — that this rule
	// covers for [Authorizer.Handler]. A request is covered by the rule
	// whose Route a ServeMux holding the Routes of all rules would route
	// it to: the most specific pattern wins, "GET /x" also covers HEAD
	// /x, and "/" covers everything no other rule does. Empty means the
	// rule is only for [Authorizer.Endpoint]. Two rules may not have the
	// same or conflicting Routes (ServeMux would panic; New returns an
	// error).
	Route string

	// Operation is the name [Authorizer.Operation] binds for
	// [Authorizer.Endpoint] ("reservations.release"). Empty means the
	// rule is only for [Authorizer.Handler]. Two rules may not have the
	// same Operation. A rule with both Route and Operation covers the
	// route and the operation alike, for a service that serves one
	// endpoint over both faces.
	Operation string

	// Callers are the identities admitted. Compared with ==: a caller is
	// admitted when its ID is one of these exactly (trust domain and
	// path). Zero IDs and duplicates are invalid.
	Callers []identity.ID

	// Anyone admits every caller, with or without an identity: liveness
	// and readiness probes of an orchestrator that has no certificate.
	Anyone bool

	// Nobody admits no caller. It is how a rule refusing everyone is
	// written — to close a path under a broader rule ("/debug/" under
	// "/") or to keep an operation's name in the configuration while it
	// is closed — so that an empty Callers list is never taken for one.
	Nobody bool
}

// who says how a rule decides.
type who uint8

const (
	callers who = iota // the listed IDs
	anyone             // every caller, even without identity
	nobody             // no caller
)

// rule is a validated [Rule]. Its address is its identity on the
// request path: [Authorizer.Handler] registers a *rule as the internal
// ServeMux's handler and gets it back from ServeMux.Handler.
type rule struct {
	route   string // Route, or Operation for a rule without Route
	op      string
	who     who
	callers []identity.ID
}

// admits reports whether the caller id (the zero ID for none) may pass.
func (r *rule) admits(id identity.ID) bool {
	switch r.who {
	case anyone:
		return true
	case callers:
		return !id.IsZero() && slices.Contains(r.callers, id)
	}
	return false
}

// ServeHTTP refuses: a *rule is registered on the internal ServeMux only
// to be found by ServeMux.Handler, never to serve.
func (r *rule) ServeHTTP(w http.ResponseWriter, _ *http.Request) {
	w.WriteHeader(http.StatusForbidden)
}

// Config configures an [Authorizer].
type Config struct {
	// Rules say who may call what; at least one. Whatever no rule covers
	// is refused: a request whose method and path match no rule's Route
	// (or that ServeMux would redirect, see [Authorizer.Handler]), and a
	// call through an Endpoint whose operation names no rule. To admit
	// requests no other rule covers, write a rule for "/".
	Rules []Rule

	// Hooks are called on the authorizer's events. The zero value calls
	// nothing.
	Hooks Hooks
}

// Hooks are functions an [Authorizer] calls on its events. Each nil field
// is not called. Hooks are called on the goroutine of the request
// concerned, before it is answered; they must not block.
type Hooks struct {
	// OnDeny is called for every refusal with the request's context and
	// the [*Error] that says which rule refused whom — for logs and for
	// metrics labelled by route and caller (both bounded: routes come from
	// the configuration, callers from certificates the TLS handshake
	// verified).
	OnDeny func(ctx context.Context, err *Error)
}

// Authorizer admits only the callers its rules name, per route and per
// operation. Create it with [New]; the zero value is not usable. An
// Authorizer is immutable and safe for concurrent use; [Authorizer.Operation]
// returns copies.
type Authorizer struct {
	mux    *http.ServeMux   // the rules' Routes, each pattern's handler its *rule
	ops    map[string]*rule // by Operation
	op     string           // the operation bound by Operation, for Endpoint
	opRule *rule            // ops[op]; nil when op names no rule
	onDeny func(context.Context, *Error)
}

// New returns an Authorizer for cfg, or an error wrapping [ErrConfig]
// when cfg has no rule or a rule is invalid: with neither Route nor
// Operation; with a Route that is not a valid http.ServeMux pattern, or
// that is the same as or conflicts with another rule's; with an
// Operation another rule has; with none, or more than one, of Callers,
// Anyone and Nobody; with a zero or repeated ID in Callers.
func New(cfg Config) (*Authorizer, error) {
	if len(cfg.Rules) == 0 {
		return nil, fmt.Errorf("%w: no rules (everything would be refused)", ErrConfig)
	}
	a := &Authorizer{
		mux:    http.NewServeMux(),
		ops:    make(map[string]*rule),
		onDeny: cfg.Hooks.OnDeny,
	}
	routes := make(map[string]int, len(cfg.Rules))
	for i, rc := range cfg.Rules {
		r, err := compile(rc)
		if err != nil {
			return nil, fmt.Errorf("%w: rule %d: %w", ErrConfig, i, err)
		}
		if rc.Route != "" {
			if j, dup := routes[rc.Route]; dup {
				return nil, fmt.Errorf("%w: rule %d: route %q is also rule %d's", ErrConfig, i, rc.Route, j)
			}
			routes[rc.Route] = i
			if err := register(a.mux, rc.Route, r); err != nil {
				return nil, fmt.Errorf("%w: rule %d: %w", ErrConfig, i, err)
			}
		}
		if rc.Operation != "" {
			if _, dup := a.ops[rc.Operation]; dup {
				return nil, fmt.Errorf("%w: rule %d: operation %q is named by another rule", ErrConfig, i, rc.Operation)
			}
			a.ops[rc.Operation] = r
		}
	}
	return a, nil
}

func compile(rc Rule) (*rule, error) {
	if rc.Route == "" && rc.Operation == "" {
		return nil, errors.New("neither Route nor Operation is set")
	}
	r := &rule{route: rc.Route, op: rc.Operation}
	if r.route == "" {
		r.route = rc.Operation
	}
	n := 0
	if len(rc.Callers) > 0 {
		n++
		r.who = callers
	}
	if rc.Anyone {
		n++
		r.who = anyone
	}
	if rc.Nobody {
		n++
		r.who = nobody
	}
	switch {
	case n == 0:
		return nil, fmt.Errorf("%s admits no one: list its Callers, or set Anyone, or Nobody to close it on purpose", r.route)
	case n > 1:
		return nil, fmt.Errorf("%s sets more than one of Callers, Anyone and Nobody", r.route)
	}
	for k, id := range rc.Callers {
		if id.IsZero() {
			return nil, fmt.Errorf("%s: Callers[%d] is the zero ID", r.route, k)
		}
		if slices.Contains(rc.Callers[:k], id) {
			return nil, fmt.Errorf("%s: %s is listed twice", r.route, id)
		}
	}
	r.callers = slices.Clone(rc.Callers)
	return r, nil
}

// register adds pattern to mux, turning ServeMux's panic on an invalid or
// conflicting pattern into an error.
func register(mux *http.ServeMux, pattern string, r *rule) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("route %q: %v", pattern, p)
		}
	}()
	mux.Handle(pattern, r)
	return nil
}

// Operation returns an Authorizer that shares a's rules and whose
// [Authorizer.Endpoint] applies the rule whose Operation is name. When no
// rule has that Operation, every call through that Endpoint is refused
// (deny by default: New cannot know the names bound later, so a misspelt
// name shows as refusals, each reported to [Hooks.OnDeny]). It is cheap
// (one small allocation) and meant to be called once per operation when
// the endpoints are built, not per call. It does not change
// [Authorizer.Handler].
func (a *Authorizer) Operation(name string) *Authorizer {
	c := *a
	c.op = name
	c.opRule = a.ops[name]
	return &c
}

// deny reports a refusal to [Hooks.OnDeny] and returns its error.
func (a *Authorizer) deny(ctx context.Context, route string, caller identity.ID) *Error {
	e := &Error{Route: route, Caller: caller}
	if a.onDeny != nil {
		a.onDeny(ctx, e)
	}
	return e
}

// Endpoint returns next guarded by the rule of the operation bound with
// [Authorizer.Operation]: the caller is the identity on the call's context
// (put there by identity.HTTPToContext in a go-kit server's ServerBefore,
// by [Authorizer.Handler], or by identity.NewContext), and a call the rule
// does not admit fails with an [*Error] (status 403), after
// [Hooks.OnDeny], without calling next. An Authorizer with no operation
// bound, or bound to a name no rule has, refuses every call. An admitted
// call allocates nothing. The method value a.Endpoint is an
// endpoint.Middleware; the endpoint is safe for concurrent use.
func (a *Authorizer) Endpoint(next endpoint.Endpoint) endpoint.Endpoint {
	r, op := a.opRule, a.op
	return func(ctx context.Context, req any) (any, error) {
		caller, _ := identity.FromContext(ctx)
		if r == nil {
			return nil, a.deny(ctx, op, caller)
		}
		if !r.admits(caller) {
			return nil, a.deny(ctx, r.op, caller)
		}
		return next(ctx, req)
	}
}
