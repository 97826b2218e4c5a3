// Package balancertest is the conformance suite and benchmark harness that
// every balancing policy runs. A contributor adding a policy calls
// [Run] from a test and [BenchmarkPick] from a benchmark, and gets the
// same checks and the same comparable numbers as the policies that ship
// with Switchyard.
package balancertest

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"sync"
	"testing"

	"github.com/go-kit/kit/endpoint"

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
// safe for concurrent use while the balancer rebuilds; a call whose
// request has tried some hosts ([balancer.TriedHosts]) goes to another
// whenever one is left; and neither picks nor calls allocate.
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
	t.Run("CallAvoidsTriedHosts", func(t *testing.T) {
		rng := rand.New(rand.NewPCG(1, 2))
		for _, n := range []int{2, 3, 7, 100} {
			b, err := balancer.New(newPolicy(), balancer.Config{Factory: echoID})
			if err != nil {
				t.Fatal(err)
			}
			list := Instances(n)
			b.Update(list)
			for i := range 600 {
				ctx := ctxs[i%len(ctxs)]
				// k of the n hosts tried, k from 1 to n: with k = n
				// every host has been tried and the call goes to one
				// of them all the same.
				k := 1 + rng.IntN(n)
				tried := Tried{}
				for _, j := range rng.Perm(n)[:k] {
					tried[list[j].ID] = true
				}
				resp, err := b.Call(ctx, tried)
				if err != nil {
					t.Fatalf("n=%d: Call = %v", n, err)
				}
				id := resp.(string)
				if k < n && tried[id] {
					t.Fatalf("n=%d, %d tried: the call went to %s, which it had tried", n, k, id)
				}
				if id < list[0].ID || id > list[n-1].ID {
					t.Fatalf("n=%d: the call went to %s, which is not a member", n, id)
				}
			}
			// Neither a first attempt nor a retry allocates.
			first, retry := Tried{}, Tried{list[0].ID: true, list[n-1].ID: true}
			for _, ctx := range ctxs {
				for _, req := range []Tried{first, retry} {
					if a := testing.AllocsPerRun(200, func() { _, _ = b.Call(ctx, req) }); a != 0 {
						t.Fatalf("n=%d: Call with %d hosts tried allocates %v times", n, len(req), a)
					}
				}
			}
			b.Close()
		}
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

// Tried is a request that has tried the hosts whose instance IDs it
// holds: a [balancer.TriedHosts] for tests.
type Tried map[string]bool

// Tried reports whether h's ID is in t.
func (t Tried) Tried(h *balancer.Host) bool { return t[h.Instance.ID] }

// echoID is a factory whose endpoints answer with their instance's ID.
func echoID(inst discovery.Instance) (endpoint.Endpoint, io.Closer, error) {
	var id any = inst.ID // boxed once: a call must not allocate
	return func(context.Context, any) (any, error) { return id, nil }, nil, nil
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
