package leastrequest_test

import (
	"context"
	"fmt"

	"github.com/switchyard/switchyard/balancer"
	"github.com/switchyard/switchyard/balancer/leastrequest"
	"github.com/switchyard/switchyard/discovery"
)

func Example() {
	b, err := balancer.New(leastrequest.New(), balancer.Config{})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer b.Close()
	b.Update([]discovery.Instance{
		{ID: "a", Service: "orders", Addr: "10.0.0.1:8080"},
		{ID: "b", Service: "orders", Addr: "10.0.0.2:8080"},
	})

	// Start a call on whichever host comes first and leave it in flight.
	busy, _ := b.Pick(context.Background())
	b.Begin(busy)

	// With two hosts both are compared on every pick, so the idle one
	// wins until the busy one finishes.
	for range 3 {
		h, _ := b.Pick(context.Background())
		fmt.Println(h != busy, h.InFlight())
	}
	// Output:
	// true 0
	// true 0
	// true 0
}
