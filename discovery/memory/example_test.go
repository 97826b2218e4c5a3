package memory_test

import (
	"context"
	"fmt"
	"time"

	"github.com/switchyard/switchyard/discovery"
	"github.com/switchyard/switchyard/discovery/memory"
)

// Register instances and watch them come and go. Every update is the
// complete list, sorted by ID.
func Example() {
	ctx := context.Background()
	reg := memory.New()
	defer reg.Close()

	w, err := reg.Watch(ctx, "catalog")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer w.Stop()
	show := func() {
		u := <-w.Updates()
		fmt.Print(len(u.Instances), " instances:")
		for _, inst := range u.Instances {
			fmt.Print(" ", inst.ID, "@", inst.Addr)
		}
		fmt.Println()
	}
	show() // the first update arrives at once, even when empty

	b := discovery.Instance{ID: "catalog-b", Service: "catalog", Addr: "127.0.0.1:9002"}
	a := discovery.Instance{ID: "catalog-a", Service: "catalog", Addr: "127.0.0.1:9001"}
	reg.Register(ctx, b)
	show()
	reg.Register(ctx, a)
	show()
	reg.Deregister(ctx, b)
	show()
	// Output:
	// 0 instances:
	// 1 instances: catalog-b@127.0.0.1:9002
	// 2 instances: catalog-a@127.0.0.1:9001 catalog-b@127.0.0.1:9002
	// 1 instances: catalog-a@127.0.0.1:9001
}

// A Registrar keeps its registrations alive with a TTL, as a service
// process does. While the registry is unavailable, watches keep the last
// known good list and report the error beside it.
func ExampleRegistrar() {
	ctx := context.Background()
	reg := memory.New()
	defer reg.Close()
	g, err := memory.NewRegistrar(reg, 10*time.Second)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer g.Close(ctx) // deregisters

	inst := discovery.Instance{ID: "orders-1", Service: "orders", Addr: "127.0.0.1:9101"}
	if err := g.Register(ctx, inst); err != nil {
		fmt.Println(err)
		return
	}
	w, _ := reg.Watch(ctx, "orders")
	defer w.Stop()
	u := <-w.Updates()
	fmt.Println(len(u.Instances), u.Err, g.RegistrationErr())

	reg.SetUnavailable(memory.ErrUnavailable)
	u = <-w.Updates()
	fmt.Println(len(u.Instances), u.Err)

	reg.SetUnavailable(nil)
	u = <-w.Updates()
	fmt.Println(len(u.Instances), u.Err)
	// Output:
	// 1 <nil> <nil>
	// 1 memory: registry unavailable
	// 1 <nil>
}
