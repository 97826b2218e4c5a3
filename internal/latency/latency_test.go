package latency_test

import (
	"math/rand/v2"
	"testing"
	"time"

	"github.com/switchyard/switchyard/internal/latency"
)

func TestTrackerPercentile(t *testing.T) {
	tr := latency.New(0.95, 7*time.Millisecond)
	for i := range 99 {
		tr.Record(time.Duration(i+1) * time.Millisecond)
	}
	if d := tr.Delay(); d != 7*time.Millisecond {
		t.Fatalf("Delay with 99 samples = %v, want the initial 7ms", d)
	}
	// 1,000 samples spread evenly over 1..1000 ms: p95 is 950 ms, within
	// the histogram's 12.5 % bucket width (and never below it).
	for i := range 1000 {
		tr.Record(time.Duration(i%1000+1) * time.Millisecond)
	}
	if d := tr.Delay(); d < 950*time.Millisecond || d > 950*time.Millisecond*1125/1000 {
		t.Fatalf("p95 of 1..1000 ms = %v, want 950ms to +12.5%%", d)
	}
	// The histogram decays: after many fast calls, the estimate follows.
	for range 20000 {
		tr.Record(time.Duration(1+rand.IntN(10)) * time.Millisecond)
	}
	if d := tr.Delay(); d < 10*time.Millisecond || d > 12*time.Millisecond {
		t.Fatalf("p95 after the upstream sped up = %v, want about 10ms", d)
	}
}

func TestTrackerExtremes(t *testing.T) {
	tr := latency.New(0.5, time.Millisecond)
	for range 200 {
		tr.Record(-time.Second)
	}
	if d := tr.Delay(); d != time.Microsecond {
		t.Fatalf("p50 of negative latencies = %v, want 1µs", d)
	}
	for range 2000 {
		tr.Record(100 * time.Hour)
	}
	if d := tr.Delay(); d < 70*time.Minute || d > 72*time.Minute {
		t.Fatalf("p50 of huge latencies = %v, want the 71 min ceiling", d)
	}
}

func TestTrackerRecordDoesNotAllocate(t *testing.T) {
	tr := latency.New(0.95, time.Millisecond)
	if n := testing.AllocsPerRun(1000, func() { tr.Record(3 * time.Millisecond) }); n != 0 {
		t.Fatalf("Record allocates %v times", n)
	}
}
