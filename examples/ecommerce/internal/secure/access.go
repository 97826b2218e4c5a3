package secure

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"sort"

	"github.com/switchyard/switchyard/middleware/authz"
)

// Policy says who may call each route of a service: an http.ServeMux
// pattern of the service's API to the names of the services admitted
// ("DELETE /v1/reservations/{order_id}" → orders). What no pattern covers
// is refused; the pattern "/" covers every path the others do not.
type Policy map[string][]string

// Access returns the authorization layer that enforces p
// (instance.Config.Access): a caller is admitted to a route only when its
// verified certificate carries the ID of one of the route's services, and
// is answered 403 with the JSON error body otherwise, before anything of
// the service runs. Each refusal is logged at Info with the route and the
// caller. For plain HTTP (the nil Identity) it returns nil, which admits
// everyone.
func (i *Identity) Access(p Policy, logger *slog.Logger) (func(http.Handler) http.Handler, error) {
	if i == nil {
		return nil, nil
	}
	if logger == nil {
		logger = slog.Default()
	}
	routes := make([]string, 0, len(p))
	for route := range p {
		routes = append(routes, route)
	}
	sort.Strings(routes) // a stable order, for stable errors
	rules := make([]authz.Rule, 0, len(p))
	for _, route := range routes {
		r := authz.Rule{Route: route}
		for _, svc := range p[route] {
			id, err := i.Caller(svc)
			if err != nil {
				return nil, fmt.Errorf("secure: policy for %q: %w", route, err)
			}
			r.Callers = append(r.Callers, id)
		}
		if len(r.Callers) == 0 {
			r.Nobody = true
		}
		rules = append(rules, r)
	}
	a, err := authz.New(authz.Config{Rules: rules, Hooks: authz.Hooks{
		OnDeny: func(_ context.Context, err *authz.Error) {
			caller := "none"
			if !err.Caller.IsZero() {
				caller = err.Caller.String()
			}
			logger.Info("caller refused", "route", err.Route, "caller", caller)
		},
	}})
	if err != nil {
		return nil, fmt.Errorf("secure: %w", err)
	}
	return a.Handler, nil
}
