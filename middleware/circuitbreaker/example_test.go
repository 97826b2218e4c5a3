package circuitbreaker_test

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/go-kit/kit/endpoint"

	"github.com/switchyard/switchyard/balancer"
	"github.com/switchyard/switchyard/balancer/roundrobin"
	"github.com/switchyard/switchyard/discovery"
	"github.com/switchyard/switchyard/middleware/circuitbreaker"
)

// An endpoint that keeps failing with 503 trips the breaker after two
// failures; later calls are rejected without reaching it.
func ExampleMiddleware() {
	calls := 0
	upstream := func(context.Context, any) (any, error) {
		calls++
		return nil, StatusErr(503)
	}
	b := circuitbreaker.NewBreaker("inventory", circuitbreaker.Settings{
		ConsecutiveFailures: 2,
		OnStateChange: func(name string, from, to circuitbreaker.State) {
			fmt.Printf("%s: %s -> %s\n", name, from, to)
		},
	})
	ep := circuitbreaker.Middleware(b)(upstream)
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

// Per-instance breakers under a balancer: each instance gets its own
// breaker, and Classifier keeps rejections out of outlier detection.
func ExampleGroup_Factory() {
	g := circuitbreaker.NewGroup(circuitbreaker.Settings{ConsecutiveFailures: 1})
	factory := func(inst discovery.Instance) (endpoint.Endpoint, io.Closer, error) {
		return func(context.Context, any) (any, error) {
			if inst.ID == "b" {
				return nil, StatusErr(500)
			}
			return inst.ID, nil
		}, nil, nil
	}
	lb := balancer.New(roundrobin.New(),
		balancer.WithFactory(g.Factory(factory)),
		balancer.WithClassifier(circuitbreaker.Classifier(nil)),
	)
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
