package discovery_test

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/go-kit/kit/endpoint"
	"github.com/go-kit/kit/sd"
	"github.com/go-kit/kit/sd/lb"
	"github.com/go-kit/log"

	"github.com/switchyard/switchyard/discovery"
	"github.com/switchyard/switchyard/discovery/memory"
)

// Code written for go-kit's sd package follows a Switchyard backend through
// NewInstancer: here go-kit's own Endpointer and round-robin balancer spread
// calls over instances registered in a memory registry.
func ExampleNewInstancer() {
	ctx := context.Background()
	reg := memory.New() // or any other backend's Resolver
	defer reg.Close()
	for _, addr := range []string{"127.0.0.1:9001", "127.0.0.1:9002"} {
		reg.Register(ctx, discovery.Instance{ID: addr, Service: "catalog", Addr: addr})
	}

	w, err := reg.Watch(ctx, "catalog")
	if err != nil {
		fmt.Println(err)
		return
	}
	instancer := discovery.NewInstancer(w)
	defer instancer.Stop() // stops w too

	// A go-kit factory: one endpoint per instance string (host:port).
	factory := func(addr string) (endpoint.Endpoint, io.Closer, error) {
		return func(context.Context, any) (any, error) { return "hello from " + addr, nil }, nil, nil
	}
	endpointer := sd.NewEndpointer(instancer, factory, log.NewNopLogger())
	defer endpointer.Close()

	// The Endpointer applies events on its own goroutine; wait for it.
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(time.Millisecond) {
		if eps, _ := endpointer.Endpoints(); len(eps) == 2 {
			break
		}
	}
	balancer := lb.NewRoundRobin(endpointer)
	for range 4 {
		ep, err := balancer.Endpoint()
		if err != nil {
			fmt.Println(err)
			return
		}
		resp, _ := ep(ctx, nil)
		fmt.Println(resp)
	}
	// Output:
	// hello from 127.0.0.1:9001
	// hello from 127.0.0.1:9002
	// hello from 127.0.0.1:9001
	// hello from 127.0.0.1:9002
}
