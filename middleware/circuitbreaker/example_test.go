package circuitbreaker_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"

	"github.com/go-kit/kit/endpoint"

	"github.com/switchyard/switchyard/balancer"
	"github.com/switchyard/switchyard/balancer/roundrobin"
	"github.com/switchyard/switchyard/discovery"
	"github.com/switchyard/switchyard/middleware/circuitbreaker"
)

// An endpoint that keeps failing with 503 trips the breaker after two
// failures; later calls are rejected without reaching it.
func ExampleBreaker_Endpoint() {
	calls := 0
	upstream := func(context.Context, any) (any, error) {
		calls++
		return nil, StatusErr(503)
	}
	b, err := circuitbreaker.New("inventory", circuitbreaker.Config{
		ConsecutiveFailures: 2,
		Hooks: circuitbreaker.Hooks{
			OnStateChange: func(name string, from, to circuitbreaker.State) {
				fmt.Printf("%s: %s -> %s\n", name, from, to)
			},
		},
	})
	if err != nil {
		panic(err)
	}
	ep := b.Endpoint(upstream)
	for range 4 {
		_, err := ep(context.Background(), nil)
		fmt.Println(err, "| rejected:", errors.Is(err, circuitbreaker.ErrOpen))
	}
	fmt.Println("upstream calls:", calls)
	// Output:
	// status 503 | rejected: false
	// inventory: closed -> open
	// status 503 | rejected: false
	// circuitbreaker: "inventory" is open | rejected: true
	// circuitbreaker: "inventory" is open | rejected: true
	// upstream calls: 2
}

// A route whose handler fails trips its breaker; then the breaker answers
// 503 with Retry-After without calling the handler.
func ExampleBreaker_Handler() {
	b, err := circuitbreaker.New("checkout", circuitbreaker.Config{ConsecutiveFailures: 1})
	if err != nil {
		panic(err)
	}
	h := b.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusBadGateway)
	}))
	for range 2 {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, httptest.NewRequest("POST", "/checkout", nil))
		line := fmt.Sprintf("%d Retry-After:%s %s", w.Code, w.Header().Get("Retry-After"), w.Body.String())
		fmt.Println(strings.TrimSpace(line))
	}
	// Output:
	// 502 Retry-After:
	// 503 Retry-After:10 {"error":{"code":"circuit_open","message":"upstream is unavailable (circuit open), retry after 10s"}}
}

// Per-instance breakers under a balancer: each instance gets its own
// breaker, and SkipRejections keeps rejections out of outlier detection.
func ExampleGroup_Factory() {
	g, err := circuitbreaker.NewGroup(circuitbreaker.GroupConfig{
		Breaker: circuitbreaker.Config{ConsecutiveFailures: 1},
	})
	if err != nil {
		panic(err)
	}
	factory := func(inst discovery.Instance) (endpoint.Endpoint, io.Closer, error) {
		return func(context.Context, any) (any, error) {
			if inst.ID == "b" {
				return nil, StatusErr(500)
			}
			return inst.ID, nil
		}, nil, nil
	}
	lb, err := balancer.New(roundrobin.New(), balancer.Config{
		Factory:    g.Factory(factory),
		Classifier: circuitbreaker.SkipRejections(nil),
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer lb.Close()
	lb.Update([]discovery.Instance{
		{ID: "a", Service: "users", Addr: "10.0.0.1:80"},
		{ID: "b", Service: "users", Addr: "10.0.0.2:80"},
	})
	for range 4 {
		lb.Call(context.Background(), nil)
	}
	for _, s := range g.States() {
		fmt.Println(s.Key, s.State)
	}
	// Output:
	// a closed
	// b open
}

// One breaker per tenant: a failing tenant's calls are rejected while
// another tenant's go through.
func ExampleGroup_Endpoint() {
	g, err := circuitbreaker.NewGroup(circuitbreaker.GroupConfig{
		Breaker: circuitbreaker.Config{ConsecutiveFailures: 1},
		Key:     func(_ context.Context, request any) string { return request.(string) },
	})
	if err != nil {
		panic(err)
	}
	ep := g.Endpoint(func(_ context.Context, request any) (any, error) {
		if request == "acme" {
			return nil, StatusErr(500)
		}
		return "ok", nil
	})
	for _, tenant := range []string{"acme", "acme", "globex"} {
		resp, err := ep(context.Background(), tenant)
		fmt.Println(tenant, resp, err)
	}
	// Output:
	// acme <nil> status 500
	// acme <nil> circuitbreaker: "acme" is open
	// globex ok <nil>
}
