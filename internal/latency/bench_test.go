package latency_test

import (
	"testing"
	"time"

	"github.com/switchyard/switchyard/internal/latency"
)

func BenchmarkTrackerRecord(b *testing.B) {
	tr := latency.New(0.95, time.Millisecond)
	b.Run("serial", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			tr.Record(3 * time.Millisecond)
		}
	})
	b.Run("parallel", func(b *testing.B) {
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				tr.Record(3 * time.Millisecond)
			}
		})
	})
}
