package roundrobin_test

import (
	"context"
	"fmt"

	"github.com/switchyard/switchyard/balancer"
	"github.com/switchyard/switchyard/balancer/roundrobin"
	"github.com/switchyard/switchyard/discovery"
)

func Example() {
	b, err := balancer.New(roundrobin.New(), balancer.Config{})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer b.Close()
	b.Update([]discovery.Instance{
		{ID: "a", Service: "catalog", Addr: "10.0.0.1:8080"},
		{ID: "b", Service: "catalog", Addr: "10.0.0.2:8080"},
		{ID: "c", Service: "catalog", Addr: "10.0.0.3:8080"},
	})

	// The rotation starts at a random host, but every round of three picks
	// visits each host once.
	counts := map[string]int{}
	for range 300 {
		h, _ := b.Pick(context.Background())
		counts[h.Instance.ID]++
	}
	fmt.Println(counts["a"], counts["b"], counts["c"])
	// Output: 100 100 100
}
