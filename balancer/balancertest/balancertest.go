// Package balancertest is the conformance suite and benchmark harness that
// every balancing policy runs. A contributor adding a policy calls
// [Run] from a test and [BenchmarkPick] from a benchmark, and gets the
// same checks and the same comparable numbers as the policies that ship
// with Switchyard.
package balancertest

import (
	"context"
	"fmt"
	"sync"
	"testing"

	"github.com/switchyard/switchyard/balancer"
	"github.com/switchyard/switchyard/discovery"
)

// Sizes are the pool sizes every policy is benchmarked at.
var Sizes = []int{3, 100, 10000}

// Instances returns n valid instances of service "svc", sorted by ID
// ("i00000", "i00001", …), with distinct addresses and weight 0 (the
// default of 1).
func Instances(n int) []discovery.Instance {
	list := make([]discovery.Instance, n)
	for i := range list {
		list[i] = discovery.Instance{
			ID:      fmt.Sprintf("i%05d", i),
			Service: "svc",
			Addr:    fmt.Sprintf("10.%d.%d.%d:8080", i>>16&255, i>>8&255, i&255),
		}
	}
	return list
}

// Run checks the contract of [balancer.Policy] for the policies newPolicy
// makes: a picker over one host returns it; picks return only members,
// never nil, with or without a hashing key in the context; pickers are
// safe for concurrent use while the balancer rebuilds; and picks do not
// allocate.
func Run(t *testing.T, newPolicy func() balancer.Policy) {
	t.Helper()
	ctxs := []context.Context{
		context.Background(),
		balancer.ContextWithKey(context.Background(), "user-42"),
		balancer.ContextWithKey(context.Background(), ""),
	}
	t.Run("Name", func(t *testing.T) {
		if newPolicy().Name() == "" {
			t.Fatal("policy has an empty name")
		}
	})
	t.Run("SingleHost", func(t *testing.T) {
		b, err := balancer.New(newPolicy(), balancer.Config{})
		if err != nil {
			t.Fatal(err)
		}
		defer b.Close()
		b.Update(Instances(1))
		for _, ctx := range ctxs {
			for range 10 {
				h, err := b.Pick(ctx)
				if err != nil || h == nil || h.Instance.ID != "i00000" {
					t.Fatalf("Pick = %v, %v; want the only host", h, err)
				}
			}
		}
	})
	t.Run("PicksMembersOnly", func(t *testing.T) {
		for _, n := range []int{2, 3, 7, 100} {
			b, err := balancer.New(newPolicy(), balancer.Config{})
			if err != nil {
				t.Fatal(err)
			}
			list := Instances(n + 3)
			b.Update(list[:n])
			b.Update(list[3 : n+3]) // some leave, some join
			member := map[string]bool{}
			for _, inst := range list[3 : n+3] {
				member[inst.ID] = true
			}
			for i := range 2000 {
				h, err := b.Pick(ctxs[i%len(ctxs)])
				if err != nil || h == nil {
					t.Fatalf("n=%d: Pick = %v, %v", n, h, err)
				}
				if !member[h.Instance.ID] {
					t.Fatalf("n=%d: picked %s, which is not a member", n, h.Instance.ID)
				}
			}
			b.Close()
		}
	})
	t.Run("ConcurrentPicksDuringUpdates", func(t *testing.T) {
		b, err := balancer.New(newPolicy(), balancer.Config{})
		if err != nil {
			t.Fatal(err)
		}
		defer b.Close()
		list := Instances(20)
		b.Update(list)
		var wg sync.WaitGroup
		stop := make(chan struct{})
		for g := range 4 {
			wg.Go(func() {
				for i := 0; ; i++ {
					select {
					case <-stop:
						return
					default:
					}
					h, err := b.Pick(ctxs[(g+i)%len(ctxs)])
					if err != nil || h == nil {
						t.Errorf("Pick during updates = %v, %v", h, err)
						return
					}
					start := b.Begin(h)
					b.Done(context.Background(), h, start, nil)
				}
			})
		}
		for i := range 50 {
			b.Update(list[i%5 : 15+i%5])
		}
		close(stop)
		wg.Wait()
	})
	t.Run("PickDoesNotAllocate", func(t *testing.T) {
		b, err := balancer.New(newPolicy(), balancer.Config{})
		if err != nil {
			t.Fatal(err)
		}
		defer b.Close()
		b.Update(Instances(100))
		for _, ctx := range ctxs {
			if n := testing.AllocsPerRun(1000, func() { _, _ = b.Pick(ctx) }); n != 0 {
				t.Fatalf("Pick allocates %v times", n)
			}
		}
	})
}

// BenchmarkPick runs picks on a balancer built by setup for each of
// [Sizes], serially or from every core (b.RunParallel), reporting
// allocations. setup receives the instances and returns the balancer and
// the contexts to cycle through (nil means context.Background()).
func BenchmarkPick(b *testing.B, parallel bool, setup func(b *testing.B, list []discovery.Instance) (*balancer.Balancer, []context.Context)) {
	for _, n := range Sizes {
		b.Run(fmt.Sprintf("n=%d", n), func(b *testing.B) {
			bal, ctxs := setup(b, Instances(n))
			defer bal.Close()
			if len(ctxs) == 0 {
				ctxs = []context.Context{context.Background()}
			}
			b.ReportAllocs()
			b.ResetTimer()
			if parallel {
				b.RunParallel(func(pb *testing.PB) {
					for i := 0; pb.Next(); i++ {
						if _, err := bal.Pick(ctxs[i%len(ctxs)]); err != nil {
							b.Error(err)
							return
						}
					}
				})
				return
			}
			for i := 0; b.Loop(); i++ {
				if _, err := bal.Pick(ctxs[i%len(ctxs)]); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
