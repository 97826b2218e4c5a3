package weighted_test

import (
	"context"
	"fmt"

	"github.com/switchyard/switchyard/balancer"
	"github.com/switchyard/switchyard/balancer/weighted"
	"github.com/switchyard/switchyard/discovery"
)

func Example() {
	b, err := balancer.New(weighted.New(), balancer.Config{})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer b.Close()
	b.Update([]discovery.Instance{
		{ID: "big", Service: "catalog", Addr: "10.0.0.1:8080", Weight: 5},
		{ID: "small-1", Service: "catalog", Addr: "10.0.0.2:8080", Weight: 1},
		{ID: "small-2", Service: "catalog", Addr: "10.0.0.3:8080"}, // weight 0 counts as 1
	})

	// The weights are small, so picks follow a precomputed smooth schedule
	// (big big small-1 big small-2 big big) and every period of seven picks
	// gives each host exactly its share.
	counts := map[string]int{}
	for range 700 {
		h, _ := b.Pick(context.Background())
		counts[h.Instance.ID]++
	}
	fmt.Println(counts["big"], counts["small-1"], counts["small-2"])
	// Output: 500 100 100
}
