package ringhash_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/switchyard/switchyard/balancer"
	"github.com/switchyard/switchyard/balancer/balancertest"
	"github.com/switchyard/switchyard/balancer/ringhash"
	"github.com/switchyard/switchyard/discovery"
)

var benchSizes = []int{3, 100, 10000}

// keyContexts returns 1024 contexts with distinct keys, made before the
// timed loop so that the benchmark measures the pick alone.
func keyContexts() []context.Context {
	ctxs := make([]context.Context, 1024)
	for i := range ctxs {
		ctxs[i] = balancer.ContextWithKey(context.Background(), fmt.Sprintf("user-%06d", i*7919))
	}
	return ctxs
}

func benchmarkPick(b *testing.B, parallel bool) {
	balancertest.BenchmarkPick(b, parallel, func(b *testing.B, list []discovery.Instance) (*balancer.Balancer, []context.Context) {
		bal, err := balancer.New(ringhash.Policy{}, balancer.Config{})
		if err != nil {
			b.Fatal(err)
		}
		bal.Update(list)
		return bal, keyContexts()
	})
}

func BenchmarkPickRingHash(b *testing.B)         { benchmarkPick(b, false) }
func BenchmarkPickRingHashParallel(b *testing.B) { benchmarkPick(b, true) }

// BenchmarkBuildRingHash measures Policy.Build alone. With the defaults,
// n=3 gets 1,026 entries (the minimum ring size), n=100 gets 25,600 (256
// each) and n=10000 gets 130,000 (13 each, under the maximum ring size).
// The picker keeps 12 bytes an entry plus its index; B/op also counts the
// scratch space of the sort.
func BenchmarkBuildRingHash(b *testing.B) {
	for _, n := range benchSizes {
		b.Run(fmt.Sprintf("n=%d", n), func(b *testing.B) {
			hosts := hostsOf(instances(n))
			var p ringhash.Policy
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				p.Build(hosts)
			}
		})
	}
}

func instances(n int) []discovery.Instance {
	list := make([]discovery.Instance, n)
	for i := range list {
		list[i] = discovery.Instance{
			ID:      fmt.Sprintf("i%05d", i),
			Service: "svc",
			Addr:    fmt.Sprintf("10.0.%d.%d:8080", i/250, i%250+1),
		}
	}
	return list
}

// hostsOf makes hosts for calling Policy.Build directly; list must be
// sorted by ID, as Build requires.
func hostsOf(list []discovery.Instance) []*balancer.Host {
	hosts := make([]*balancer.Host, len(list))
	for i := range list {
		hosts[i] = &balancer.Host{Instance: list[i]}
	}
	return hosts
}
