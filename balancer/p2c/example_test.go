package p2c_test

import (
	"context"
	"fmt"
	"time"

	"github.com/switchyard/switchyard/balancer"
	"github.com/switchyard/switchyard/balancer/p2c"
	"github.com/switchyard/switchyard/discovery"
)

func Example() {
	policy := p2c.New(p2c.WithHalfLife(5 * time.Second))
	b, err := balancer.New(policy, balancer.Config{})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer b.Close()
	b.Update([]discovery.Instance{
		{ID: "fast", Service: "users", Addr: "10.0.0.1:8080"},
		{ID: "slow", Service: "users", Addr: "10.0.0.2:8080"},
	})
	latency := map[string]time.Duration{"fast": 2 * time.Millisecond, "slow": 20 * time.Millisecond}

	// Normally Balancer.Call (or Begin and Done) reports each call's
	// latency; here we report one answer per host by hand. A host without a
	// sample is tried first, so two picks meet both hosts.
	for range 2 {
		h, _ := b.Pick(context.Background())
		policy.Observe(h, latency[h.Instance.ID], h.Now(), false)
	}

	// With two hosts both are compared on every pick: the faster wins.
	for range 3 {
		h, _ := b.Pick(context.Background())
		fmt.Println(h.Instance.ID)
	}
	// Output:
	// fast
	// fast
	// fast
}
