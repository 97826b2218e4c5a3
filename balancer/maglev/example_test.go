package maglev_test

import (
	"context"
	"fmt"
	"slices"

	"github.com/switchyard/switchyard/balancer"
	"github.com/switchyard/switchyard/balancer/maglev"
	"github.com/switchyard/switchyard/discovery"
)

func Example() {
	list := []discovery.Instance{
		{ID: "carts-1", Service: "carts", Addr: "10.0.0.1:8080"},
		{ID: "carts-2", Service: "carts", Addr: "10.0.0.2:8080"},
		{ID: "carts-3", Service: "carts", Addr: "10.0.0.3:8080"},
		{ID: "carts-4", Service: "carts", Addr: "10.0.0.4:8080"},
		{ID: "carts-5", Service: "carts", Addr: "10.0.0.5:8080"},
	}
	b, err := balancer.New(maglev.Policy{}, balancer.Config{})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer b.Close()
	b.Update(list)

	// Every call for one cart goes to the same instance, so its cache
	// stays warm there.
	ctx := balancer.ContextWithKey(context.Background(), "cart-4711")
	first, _ := b.Pick(ctx)
	second, _ := b.Pick(ctx)
	fmt.Println("same host twice:", first == second)

	// Another client with the same members agrees, with no coordination.
	other, err := balancer.New(maglev.Policy{}, balancer.Config{})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer other.Close()
	other.Update(list)
	h, _ := other.Pick(ctx)
	fmt.Println("other client agrees:", h.Instance.ID == first.Instance.ID)

	// When another instance leaves, the cart stays where it is.
	gone := list[0].ID
	if gone == first.Instance.ID {
		gone = list[1].ID
	}
	remaining := slices.DeleteFunc(slices.Clone(list), func(inst discovery.Instance) bool { return inst.ID == gone })
	b.Update(remaining)
	after, _ := b.Pick(ctx)
	fmt.Println("stays after another host leaves:", after.Instance.ID == first.Instance.ID)
	// Output:
	// same host twice: true
	// other client agrees: true
	// stays after another host leaves: true
}

func ExampleNew() {
	// A larger table for a pool of up to about 5,000 hosts: 2 MiB.
	p, err := maglev.New(maglev.WithTableSize(524287))
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(p.Name())

	_, err = maglev.New(maglev.WithTableSize(65536))
	fmt.Println(err)
	// Output:
	// maglev
	// maglev: table size must be a prime in [2, 16777216], got 65536
}
