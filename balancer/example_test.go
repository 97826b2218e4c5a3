package balancer_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/go-kit/kit/endpoint"

	"github.com/switchyard/switchyard/balancer"
	"github.com/switchyard/switchyard/balancer/roundrobin"
	"github.com/switchyard/switchyard/discovery"
)

// A balancer with a factory is an endpoint: Call picks a host, calls it
// and reports the outcome. Here one of three instances always fails with a
// server error; after five consecutive failures outlier detection ejects it
// and every later call lands on a healthy instance.
func ExampleBalancer_Call() {
	factory := func(inst discovery.Instance) (endpoint.Endpoint, io.Closer, error) {
		return func(ctx context.Context, req any) (any, error) {
			if inst.ID == "b" {
				return nil, errors.New("connection refused")
			}
			return inst.ID, nil
		}, nil, nil
	}
	b, err := balancer.New(roundrobin.New(), balancer.Config{
		Factory: factory,
		Outlier: &balancer.OutlierConfig{
			ConsecutiveFailures: 5,
			BaseEjectionTime:    time.Minute,
			MaxEjectionPercent:  50,
			OnEject: func(inst discovery.Instance, reason string, d time.Duration) {
				fmt.Println("ejected", inst.ID, "for", d, "after", reason)
			},
		},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer b.Close()
	b.Update([]discovery.Instance{
		{ID: "a", Service: "catalog", Addr: "10.0.0.1:80"},
		{ID: "b", Service: "catalog", Addr: "10.0.0.2:80"},
		{ID: "c", Service: "catalog", Addr: "10.0.0.3:80"},
	})
	failures := 0
	for range 15 {
		if _, err := b.Call(context.Background(), nil); err != nil {
			failures++
		}
	}
	fmt.Println("failed calls:", failures)
	for range 100 {
		if _, err := b.Call(context.Background(), nil); err != nil {
			fmt.Println("unexpected failure after ejection")
		}
	}
	_, eligible := b.Len()
	fmt.Println("eligible hosts:", eligible)
	// Output:
	// ejected b for 1m0s after consecutive_failures
	// failed calls: 5
	// eligible hosts: 2
}

// ContextWithKey carries the key that consistent-hash policies (ringhash,
// maglev) hash to choose an instance.
func ExampleContextWithKey() {
	ctx := balancer.ContextWithKey(context.Background(), "cart-42")
	key, ok := balancer.KeyFromContext(ctx)
	fmt.Println(key, ok)
	// Output: cart-42 true
}

// An invalid configuration is an error from New, never a panic later.
func ExampleNew_invalidConfig() {
	_, err := balancer.New(roundrobin.New(), balancer.Config{
		Outlier: &balancer.OutlierConfig{MaxEjectionPercent: 150},
	})
	fmt.Println(errors.Is(err, balancer.ErrConfig))
	fmt.Println(err)
	// Output:
	// true
	// balancer: invalid configuration: OutlierConfig.MaxEjectionPercent 150 is out of range [0, 100]
}
