package gateway_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"

	"github.com/switchyard/switchyard/discovery"
	"github.com/switchyard/switchyard/discovery/memory"
	"github.com/switchyard/switchyard/transport/gateway"
)

// A gateway maps public paths onto services found in the registry. Here
// GET /api/v1/products/{id} is sent to an instance of "catalog" as
// /products/{id}; route policies are ordinary HTTP middleware.
func Example() {
	catalog := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "catalog saw %s %s", r.Method, r.URL.Path)
	}))
	defer catalog.Close()

	ctx := context.Background()
	reg := memory.New()
	defer reg.Close()
	reg.Register(ctx, discovery.Instance{ID: "catalog-1", Service: "catalog", Addr: strings.TrimPrefix(catalog.URL, "http://")})

	cors := gateway.CORS{AllowedOrigins: []string{"https://shop.example"}}.Middleware()
	g, err := gateway.New(ctx, reg, []gateway.Route{
		{Pattern: "GET /api/v1/products/{id}", Service: "catalog", Rewrite: "/products/{id}",
			Middleware: []func(http.Handler) http.Handler{cors}},
	}, gateway.Config{})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer g.Close()
	g.WaitReady(ctx)
	front := httptest.NewServer(g)
	defer front.Close()

	for _, path := range []string{"/api/v1/products/p-42", "/api/v1/nothing"} {
		resp, err := http.Get(front.URL + path)
		if err != nil {
			fmt.Println(err)
			return
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		fmt.Println(resp.StatusCode, strings.TrimSpace(string(body)))
	}
	// Output:
	// 200 catalog saw GET /products/p-42
	// 404 {"error":{"code":"not_found","message":"no route for GET /api/v1/nothing"}}
}
