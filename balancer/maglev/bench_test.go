package maglev_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/switchyard/switchyard/balancer"
	"github.com/switchyard/switchyard/balancer/balancertest"
	"github.com/switchyard/switchyard/balancer/maglev"
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
		bal, err := balancer.New(maglev.Policy{}, balancer.Config{})
		if err != nil {
			b.Fatal(err)
		}
		bal.Update(list)
		return bal, keyContexts()
	})
}

func BenchmarkPickMaglev(b *testing.B)         { benchmarkPick(b, false) }
func BenchmarkPickMaglevParallel(b *testing.B) { benchmarkPick(b, true) }

// BenchmarkBuildMaglev measures Policy.Build alone. The table has 65,537
// slots (256 KiB) at every n; B/op also counts the scratch bitmap (8 KiB)
// and the per-host walk state (32 bytes a host).
func BenchmarkBuildMaglev(b *testing.B) {
	for _, n := range benchSizes {
		b.Run(fmt.Sprintf("n=%d", n), func(b *testing.B) {
			hosts := hostsOf(instances(n))
			var p maglev.Policy
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

// BenchmarkBuildMaglevWeighted measures the fill with weights 1 to 4,
// which sorts the hosts by weight and schedules four groups of turns.
func BenchmarkBuildMaglevWeighted(b *testing.B) {
	for _, n := range benchSizes {
		b.Run(fmt.Sprintf("n=%d", n), func(b *testing.B) {
			list := instances(n)
			for i := range list {
				list[i].Weight = 1 + i%4
			}
			hosts := hostsOf(list)
			var p maglev.Policy
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				p.Build(hosts)
			}
		})
	}
}
