package authz_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/go-kit/kit/endpoint"
	kithttp "github.com/go-kit/kit/transport/http"

	"github.com/switchyard/switchyard/identity"
	"github.com/switchyard/switchyard/middleware/authz"
	"github.com/switchyard/switchyard/outcome"
	shttp "github.com/switchyard/switchyard/transport/http"
)

func TestNewRejectsInvalidConfigurations(t *testing.T) {
	orders := id(t, "orders")
	for _, tc := range []struct {
		name  string
		rules []authz.Rule
		says  string // part of the error's text
	}{
		{"no rules", nil, "no rules"},
		{"neither route nor operation", []authz.Rule{{Anyone: true}}, "neither Route nor Operation"},
		{"admits no one", []authz.Rule{{Route: "/x"}}, "admits no one"},
		{"empty callers", []authz.Rule{{Route: "/x", Callers: []identity.ID{}}}, "admits no one"},
		{"Anyone and Callers", []authz.Rule{{Route: "/x", Anyone: true, Callers: []identity.ID{orders}}}, "more than one"},
		{"Anyone and Nobody", []authz.Rule{{Route: "/x", Anyone: true, Nobody: true}}, "more than one"},
		{"Nobody and Callers", []authz.Rule{{Operation: "x", Nobody: true, Callers: []identity.ID{orders}}}, "more than one"},
		{"zero ID", []authz.Rule{{Route: "/x", Callers: []identity.ID{orders, {}}}}, "zero ID"},
		{"repeated ID", []authz.Rule{{Route: "/x", Callers: []identity.ID{orders, orders}}}, "listed twice"},
		{"same route twice", []authz.Rule{{Route: "GET /x", Anyone: true}, {Route: "GET /x", Nobody: true}}, "also rule 0's"},
		{"same pattern spelt otherwise", []authz.Rule{{Route: "GET /x/{a}", Anyone: true}, {Route: "GET /x/{b}", Nobody: true}}, "conflicts"},
		{"conflicting patterns", []authz.Rule{{Route: "/a/{x}", Anyone: true}, {Route: "/{y}/b", Nobody: true}}, "conflicts"},
		{"pattern without slash", []authz.Rule{{Route: "healthz", Anyone: true}}, "route \"healthz\""},
		{"operation name as route", []authz.Rule{{Route: "users.get", Anyone: true}}, "route \"users.get\""},
		{"bad method", []authz.Rule{{Route: "G@T /x", Anyone: true}}, "route"},
		{"bad wildcard", []authz.Rule{{Route: "/x/{a", Anyone: true}}, "route"},
		{"same operation twice", []authz.Rule{{Operation: "users.get", Anyone: true}, {Operation: "users.get", Nobody: true}}, "operation \"users.get\""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a, err := authz.New(authz.Config{Rules: tc.rules})
			if !errors.Is(err, authz.ErrConfig) || a != nil {
				t.Fatalf("New = %v, %v; want an ErrConfig", a, err)
			}
			if !strings.Contains(err.Error(), tc.says) {
				t.Errorf("error %q does not say %q", err, tc.says)
			}
		})
	}
}

// TestNewCopiesCallers: changing the caller's slice after New changes
// nothing.
func TestNewCopiesCallers(t *testing.T) {
	callers := []identity.ID{id(t, "orders")}
	a, err := authz.New(authz.Config{Rules: []authz.Rule{{Operation: "op", Callers: callers}}})
	if err != nil {
		t.Fatal(err)
	}
	callers[0] = id(t, "gateway")
	ep := a.Operation("op").Endpoint(endpoint.Nop)
	if _, err := ep(identity.NewContext(context.Background(), id(t, "orders")), nil); err != nil {
		t.Fatalf("orders refused after the caller's slice changed: %v", err)
	}
	if _, err := ep(identity.NewContext(context.Background(), id(t, "gateway")), nil); err == nil {
		t.Fatal("gateway admitted after being written into the caller's slice")
	}
}

func TestEndpoint(t *testing.T) {
	orders, gateway := id(t, "orders"), id(t, "gateway")
	var denied []*authz.Error
	a, err := authz.New(authz.Config{
		Rules: []authz.Rule{
			{Operation: "reservations.release", Route: "DELETE /v1/reservations/{id}", Callers: []identity.ID{orders}},
			{Operation: "products.get", Callers: []identity.ID{orders, gateway}},
			{Operation: "health", Anyone: true},
			{Operation: "closed", Nobody: true},
		},
		Hooks: authz.Hooks{OnDeny: func(_ context.Context, e *authz.Error) { denied = append(denied, e) }},
	})
	if err != nil {
		t.Fatal(err)
	}
	as := func(caller identity.ID) context.Context {
		if caller.IsZero() {
			return context.Background()
		}
		return identity.NewContext(context.Background(), caller)
	}
	for _, tc := range []struct {
		name   string
		ep     *authz.Authorizer
		caller identity.ID
		route  string // Error.Route of a refusal; "-" for admitted
		noID   bool
	}{
		{"listed caller", a.Operation("reservations.release"), orders, "-", false},
		{"unlisted caller", a.Operation("reservations.release"), gateway, "reservations.release", false},
		{"no identity", a.Operation("reservations.release"), identity.ID{}, "reservations.release", true},
		{"second of two", a.Operation("products.get"), gateway, "-", false},
		{"anyone, without identity", a.Operation("health"), identity.ID{}, "-", false},
		{"nobody", a.Operation("closed"), orders, "closed", false},
		{"unknown operation", a.Operation("reservations.relase"), orders, "reservations.relase", false},
		{"no operation bound", a, orders, "", false},
		{"a route is not an operation", a.Operation("DELETE /v1/reservations/{id}"), orders, "DELETE /v1/reservations/{id}", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			denied = nil
			reached := 0
			ep := tc.ep.Endpoint(func(ctx context.Context, req any) (any, error) {
				reached++
				if got, _ := identity.FromContext(ctx); got != tc.caller {
					t.Errorf("next saw caller %q, want %q", got, tc.caller)
				}
				return req, nil
			})
			resp, err := ep(as(tc.caller), "req")
			if tc.route == "-" {
				if err != nil || resp != "req" || reached != 1 || len(denied) != 0 {
					t.Fatalf("= %v, %v; reached %d, denied %v; want admitted", resp, err, reached, denied)
				}
				return
			}
			var e *authz.Error
			if !errors.As(err, &e) || resp != nil {
				t.Fatalf("= %v, %v; want an *authz.Error", resp, err)
			}
			if reached != 0 {
				t.Fatal("next reached on a refusal")
			}
			if e.Route != tc.route || e.Caller != tc.caller {
				t.Errorf("Error{Route: %q, Caller: %q}, want %q, %q", e.Route, e.Caller, tc.route, tc.caller)
			}
			if !errors.Is(err, authz.ErrForbidden) || errors.Is(err, authz.ErrNoIdentity) != tc.noID {
				t.Errorf("%v: Is(ErrForbidden) %v, Is(ErrNoIdentity) %v", err, errors.Is(err, authz.ErrForbidden), errors.Is(err, authz.ErrNoIdentity))
			}
			if e.StatusCode() != http.StatusForbidden {
				t.Errorf("StatusCode %d", e.StatusCode())
			}
			if c := outcome.Default(context.Background(), err); c != outcome.CallerFault {
				t.Errorf("outcome %v, want caller_fault", c)
			}
			if len(denied) != 1 || denied[0] != e {
				t.Errorf("OnDeny got %v, want the returned error", denied)
			}
		})
	}
}

// TestEndpointBehindGoKitOverTLS: a go-kit server over real mutual TLS
// puts the caller on the context with identity.HTTPToContext, and
// transport/http's encoder answers a refusal 403 with the JSON body.
func TestEndpointBehindGoKitOverTLS(t *testing.T) {
	ca := newCA(t, "shop CA")
	a, err := authz.New(authz.Config{Rules: []authz.Rule{
		{Operation: "reservations.release", Callers: []identity.ID{id(t, "orders")}},
	}})
	if err != nil {
		t.Fatal(err)
	}
	reached := 0
	ep := a.Operation("reservations.release").Endpoint(func(ctx context.Context, _ any) (any, error) {
		reached++
		caller, _ := identity.FromContext(ctx)
		return map[string]string{"released_by": caller.String()}, nil
	})
	h := shttp.NewHandler(ep,
		func(context.Context, *http.Request) (any, error) { return nil, nil },
		kithttp.EncodeJSONResponse,
		kithttp.ServerBefore(identity.HTTPToContext))
	srv := tlsServer(t, ca, h)

	for _, tc := range []struct {
		name   string
		cert   string // URI SAN; "-" for no certificate
		status int
		body   string
	}{
		{"orders", id(t, "orders").String(), 200, `{"released_by":"spiffe://shop.test/orders"}`},
		{"gateway", id(t, "gateway").String(), 403, `{"error":{"code":"forbidden","message":"forbidden"}}`},
		{"no certificate", "-", 403, `{"error":{"code":"forbidden","message":"forbidden"}}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := reached
			c := client(t, srv, nil)
			if tc.cert != "-" {
				cert := ca.leaf(t, tc.cert, nil)
				c = client(t, srv, &cert)
			}
			resp, err := c.Post(srv.URL+"/v1/reservations/1", "application/json", nil)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			body, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != tc.status || strings.TrimSpace(string(body)) != tc.body {
				t.Fatalf("%d %s, want %d %s", resp.StatusCode, body, tc.status, tc.body)
			}
			if want := before + btoi(tc.status == 200); reached != want {
				t.Fatalf("endpoint reached %d times, want %d", reached-before, want-before)
			}
		})
	}
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

// TestErrorText: the error names the caller and the route, for logs.
func TestErrorText(t *testing.T) {
	for _, tc := range []struct {
		err  *authz.Error
		want string
	}{
		{&authz.Error{Route: "GET /x", Caller: id(t, "gateway")}, "authz: forbidden: spiffe://shop.test/gateway may not call GET /x"},
		{&authz.Error{Route: "GET /x"}, "authz: forbidden: a caller without identity may not call GET /x"},
		{&authz.Error{Caller: id(t, "gateway")}, "authz: forbidden: no rule admits spiffe://shop.test/gateway to this request"},
	} {
		if got := tc.err.Error(); got != tc.want {
			t.Errorf("%q, want %q", got, tc.want)
		}
	}
}
