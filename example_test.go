package switchyard_test

import (
	"context"
	"fmt"
	"io"

	"github.com/go-kit/kit/endpoint"

	"github.com/switchyard/switchyard/balancer"
	"github.com/switchyard/switchyard/balancer/roundrobin"
	"github.com/switchyard/switchyard/discovery"
	"github.com/switchyard/switchyard/discovery/memory"
)

// This is the README's quick start: register instances, follow them with a
// balancer, and call through it.
func Example_quickStart() {
	ctx := context.Background()
	reg := memory.New() // or discovery/etcd, discovery/dns
	defer reg.Close()
	for _, addr := range []string{"127.0.0.1:9001", "127.0.0.1:9002"} {
		reg.Register(ctx, discovery.Instance{ID: addr, Service: "catalog", Addr: addr})
	}
	// One endpoint per instance; in a real service, an HTTP client endpoint.
	factory := func(inst discovery.Instance) (endpoint.Endpoint, io.Closer, error) {
		return func(ctx context.Context, req any) (any, error) { return "hello from " + inst.Addr, nil }, nil, nil
	}
	lb, err := balancer.New(roundrobin.New(), balancer.Config{
		Factory: factory,
		Outlier: &balancer.OutlierConfig{}, // eject failing instances, with the defaults
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer lb.Close()
	w, _ := reg.Watch(ctx, "catalog")
	lb.Follow(w)
	lb.WaitReady(ctx)
	seen := map[any]bool{}
	for range 4 {
		resp, _ := lb.Call(ctx, nil) // lb.Call is an endpoint.Endpoint
		seen[resp] = true
	}
	fmt.Println(len(seen), "instances answered")
	// Output: 2 instances answered
}
