package balancer_test

import (
	"context"
	"fmt"
	"io"
	"runtime"
	"testing"

	"github.com/go-kit/kit/endpoint"

	"github.com/switchyard/switchyard/balancer"
	"github.com/switchyard/switchyard/balancer/p2c"
	"github.com/switchyard/switchyard/balancer/roundrobin"
	"github.com/switchyard/switchyard/discovery"
)

// BenchmarkRebuild measures the cost of one membership change: one
// instance leaves or joins a pool of n, and a new snapshot is published.
func BenchmarkRebuild(b *testing.B) {
	for _, n := range []int{3, 100, 10000} {
		b.Run(fmt.Sprintf("n=%d", n), func(b *testing.B) {
			all := instances(n + 1)
			with, without := all, all[:n]
			bal, err := balancer.New(roundrobin.New(), balancer.Config{})
			if err != nil {
				b.Fatal(err)
			}
			defer bal.Close()
			bal.Update(without)
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; b.Loop(); i++ {
				if i%2 == 0 {
					bal.Update(with)
				} else {
					bal.Update(without)
				}
			}
		})
	}
}

// BenchmarkSnapshotMemory reports the heap held per instance by a balancer
// (hosts, snapshot, index) after building it from n instances. The
// instances' own strings are allocated before the measurement and not
// counted, since they belong to the registry's update.
func BenchmarkSnapshotMemory(b *testing.B) {
	for _, n := range []int{100, 10000} {
		b.Run(fmt.Sprintf("n=%d", n), func(b *testing.B) {
			list := instances(n)
			var perInstance float64
			for b.Loop() {
				var before, after runtime.MemStats
				runtime.GC()
				runtime.ReadMemStats(&before)
				bal, err := balancer.New(roundrobin.New(), balancer.Config{})
				if err != nil {
					b.Fatal(err)
				}
				bal.Update(list)
				runtime.GC()
				runtime.ReadMemStats(&after)
				perInstance = float64(after.HeapAlloc-before.HeapAlloc) / float64(n)
				if _, err := bal.Pick(context.Background()); err != nil {
					b.Fatal(err)
				}
				bal.Close()
			}
			b.ReportMetric(perInstance, "B/instance")
		})
	}
}

// BenchmarkCall measures [balancer.Balancer.Call] on no-op endpoints —
// pick, Begin, the endpoint, Done — for the requests a call path hands
// it: none (a go-kit caller), a plain request value, and a request that
// remembers the hosts of its earlier attempts but has none yet (every
// first attempt through the gateway or the client chain). These three
// are the no-retry path. "retry" is a request that has tried one host,
// whose calls that pick it are moved elsewhere.
func BenchmarkCall(b *testing.B) {
	ctx := context.Background()
	nop := func(context.Context, any) (any, error) { return nil, nil }
	factory := func(discovery.Instance) (endpoint.Endpoint, io.Closer, error) { return nop, nil, nil }
	policies := []struct {
		name string
		p    balancer.Policy
	}{{"roundrobin", roundrobin.New()}, {"p2c", p2c.New()}}
	for _, pol := range policies {
		for _, n := range []int{3, 100} {
			bal, err := balancer.New(pol.p, balancer.Config{Factory: factory})
			if err != nil {
				b.Fatal(err)
			}
			list := instances(n)
			bal.Update(list)
			requests := []struct {
				name string
				req  any
			}{
				{"nil", nil},
				{"plain", &plainRequest{path: "/v1/products"}},
				{"first-attempt", &benchTried{}},
				{"retry", &benchTried{ids: []string{list[0].ID}}},
			}
			for _, r := range requests {
				b.Run(fmt.Sprintf("%s/n=%d/%s", pol.name, n, r.name), func(b *testing.B) {
					b.ReportAllocs()
					for b.Loop() {
						if _, err := bal.Call(ctx, r.req); err != nil {
							b.Fatal(err)
						}
					}
				})
			}
			bal.Close()
		}
	}
}

// plainRequest is a request value that knows nothing of its attempts.
type plainRequest struct{ path string }

// benchTried is a request that remembers the IDs of the hosts its
// earlier attempts went to, as the gateway's does.
type benchTried struct{ ids []string }

func (r *benchTried) Tried(h *balancer.Host) bool {
	for _, id := range r.ids {
		if id == h.Instance.ID {
			return true
		}
	}
	return false
}
