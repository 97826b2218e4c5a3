package balancer_test

import (
	"context"
	"fmt"
	"runtime"
	"testing"

	"github.com/switchyard/switchyard/balancer"
	"github.com/switchyard/switchyard/balancer/roundrobin"
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
