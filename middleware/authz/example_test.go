package authz_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"

	"github.com/go-kit/kit/endpoint"

	"github.com/switchyard/switchyard/identity"
	"github.com/switchyard/switchyard/middleware/authz"
	"github.com/switchyard/switchyard/middleware/ratelimit"
)

// A catalog admits only orders to its reservation routes and anyone to
// its probes. In a server the caller is the SPIFFE ID of the client's
// verified TLS certificate; here, without TLS, an outer layer puts it on
// the request's context, which the Handler reads for a connection without
// a certificate.
func ExampleAuthorizer_Handler() {
	orders, _ := identity.ForService("shop.internal", "orders")
	gateway, _ := identity.ForService("shop.internal", "gateway")
	a, err := authz.New(authz.Config{Rules: []authz.Rule{
		{Route: "GET /healthz", Anyone: true},
		{Route: "DELETE /v1/reservations/{id}", Callers: []identity.ID{orders}},
	}})
	if err != nil {
		panic(err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) { fmt.Fprintln(w, "ok") })
	mux.HandleFunc("DELETE /v1/reservations/{id}", func(w http.ResponseWriter, r *http.Request) {
		caller, _ := identity.FromContext(r.Context())
		fmt.Fprintf(w, "reservation %s released by %s\n", r.PathValue("id"), caller.Service())
	})
	h := a.Handler(mux)

	send := func(caller identity.ID, method, path string) {
		r := httptest.NewRequest(method, path, nil)
		if !caller.IsZero() {
			r = r.WithContext(identity.NewContext(r.Context(), caller))
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		fmt.Print(w.Code, " ", w.Body.String())
	}
	send(orders, "DELETE", "/v1/reservations/42")
	send(gateway, "DELETE", "/v1/reservations/42")
	send(identity.ID{}, "DELETE", "/v1/reservations/42")
	send(identity.ID{}, "GET", "/healthz")
	send(orders, "GET", "/v1/../healthz") // ServeMux would only redirect it
	// Output:
	// 200 reservation 42 released by orders
	// 403 {"error":{"code":"forbidden","message":"the caller may not make this request"}}
	// 403 {"error":{"code":"no_identity","message":"a client certificate with a SPIFFE ID is required"}}
	// 200 ok
	// 403 {"error":{"code":"forbidden","message":"the caller may not make this request"}}
}

// The go-kit face: bind the operation once, when the endpoint is built.
// The caller comes from the context, where identity.HTTPToContext (as a
// ServerBefore) puts the identity of the verified client certificate.
func ExampleAuthorizer_Endpoint() {
	orders, _ := identity.ForService("shop.internal", "orders")
	gateway, _ := identity.ForService("shop.internal", "gateway")
	a, err := authz.New(authz.Config{Rules: []authz.Rule{
		{Operation: "reservations.release", Callers: []identity.ID{orders}},
	}})
	if err != nil {
		panic(err)
	}
	release := a.Operation("reservations.release").Endpoint(func(context.Context, any) (any, error) {
		return "released", nil
	})
	misspelt := a.Operation("reservation.release").Endpoint(endpoint.Nop)

	fmt.Println(release(identity.NewContext(context.Background(), orders), nil))
	_, err = release(identity.NewContext(context.Background(), gateway), nil)
	var e *authz.Error
	fmt.Println(errors.As(err, &e), e.StatusCode(), err)
	_, err = release(context.Background(), nil)
	fmt.Println(errors.Is(err, authz.ErrNoIdentity), err)
	_, err = misspelt(identity.NewContext(context.Background(), orders), nil)
	fmt.Println(err)
	// Output:
	// released <nil>
	// true 403 authz: forbidden: spiffe://shop.internal/gateway may not call reservations.release
	// true authz: forbidden: a caller without identity may not call reservations.release
	// authz: forbidden: spiffe://shop.internal/orders may not call reservation.release
}

// Order: access logging outside authz, so that refusals are logged;
// authz outside rate limiting (and every other layer that spends
// something), so that a refused caller costs nothing. Here the limit is
// one request, and three refused requests of the gateway leave it to
// orders.
func ExampleAuthorizer_Handler_order() {
	orders, _ := identity.ForService("shop.internal", "orders")
	gateway, _ := identity.ForService("shop.internal", "gateway")
	a, err := authz.New(authz.Config{Rules: []authz.Rule{
		{Route: "DELETE /v1/reservations/{id}", Callers: []identity.ID{orders}},
	}})
	if err != nil {
		panic(err)
	}
	limit, err := ratelimit.New(1e-9, 1, ratelimit.Config{}) // one request, ever
	if err != nil {
		panic(err)
	}
	accessLog := func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			rec := httptest.NewRecorder()
			next.ServeHTTP(rec, r)
			caller, _ := identity.FromContext(r.Context()) // the outer layer's view
			fmt.Println(r.Method, r.URL.Path, caller.Service(), rec.Code)
		})
	}
	h := accessLog(a.Handler(limit.Handler(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))))

	for _, caller := range []identity.ID{gateway, gateway, gateway, orders, orders} {
		r := httptest.NewRequest("DELETE", "/v1/reservations/1", nil)
		h.ServeHTTP(httptest.NewRecorder(), r.WithContext(identity.NewContext(r.Context(), caller)))
	}
	// Output:
	// DELETE /v1/reservations/1 gateway 403
	// DELETE /v1/reservations/1 gateway 403
	// DELETE /v1/reservations/1 gateway 403
	// DELETE /v1/reservations/1 orders 200
	// DELETE /v1/reservations/1 orders 429
}
