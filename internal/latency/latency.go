// Package latency estimates a latency percentile from a stream of samples,
// lock-free: the hedging middleware's delay and the gateway's per-attempt
// timeouts are read from it.
package latency

import (
	"math"
	"math/bits"
	"sync/atomic"
	"time"
)

// The latency tracker is a log-linear histogram of microseconds: eight
// buckets per power of two (so a bucket's bounds are within 12.5 % of each
// other), exact below 8 µs, up to 2³² µs (71 minutes), 240 buckets of one
// atomic counter each. Recording is two atomic adds. Every refreshEvery
// recordings one caller recomputes the percentile (a scan of the 240
// counters) and publishes it through an atomic, so reading the delay is one
// atomic load. Once the histogram holds more than decayAbove samples the
// refresh halves every counter, so the estimate follows roughly the last
// 2,000 to 4,000 calls and adapts when the upstream speeds up or slows down.
// The counters are updated without a lock, so a refresh running alongside
// recordings sees a slightly blurred histogram; the estimate is approximate
// by design.
const (
	subBits        = 3
	subCount       = 1 << subBits
	trackerBuckets = (32 - subBits + 1) * subCount
	maxMicros      = 1<<32 - 1
	refreshEvery   = 32
	minSamples     = 100
	decayAbove     = 2000
)

// Tracker estimates one percentile of the latencies recorded into it. It
// is safe for concurrent use; create it with [New].
type Tracker struct {
	p       float64
	buckets [trackerBuckets]atomic.Uint64
	records atomic.Uint64 // recordings since creation, for the refresh cadence
	delay   atomic.Int64  // published estimate in nanoseconds
}

// New returns a tracker of the p-quantile (0 < p < 1) that reports initial
// until it has enough samples.
func New(p float64, initial time.Duration) *Tracker {
	t := &Tracker{p: p}
	t.delay.Store(int64(initial))
	return t
}

// Delay returns the current estimate of the p-quantile of the recorded
// latencies, or the initial delay until minSamples were recorded.
func (t *Tracker) Delay() time.Duration { return time.Duration(t.delay.Load()) }

// Record adds one latency.
func (t *Tracker) Record(d time.Duration) {
	us := uint64(max(d.Microseconds(), 0))
	t.buckets[bucketOf(min(us, maxMicros))].Add(1)
	if t.records.Add(1)%refreshEvery == 0 {
		t.refresh()
	}
}

// Samples returns how many latencies were recorded.
func (t *Tracker) Samples() uint64 { return t.records.Load() }

func (t *Tracker) refresh() {
	var counts [trackerBuckets]uint64
	var total uint64
	for i := range t.buckets {
		counts[i] = t.buckets[i].Load()
		total += counts[i]
	}
	if total < minSamples {
		return
	}
	target := uint64(math.Ceil(t.p * float64(total)))
	var cum uint64
	for i, c := range counts {
		cum += c
		if cum >= target {
			t.delay.Store(int64(bucketUpper(i)) * int64(time.Microsecond))
			break
		}
	}
	if total > decayAbove {
		for i := range t.buckets {
			if half := counts[i] / 2; half > 0 {
				t.buckets[i].Add(^(half - 1)) // subtract, keeping concurrent adds
			}
		}
	}
}

// bucketOf returns the bucket of us microseconds.
func bucketOf(us uint64) int {
	if us < subCount {
		return int(us)
	}
	e := bits.Len64(us) - 1 // position of the top bit, ≥ subBits
	sub := (us >> (e - subBits)) & (subCount - 1)
	return (e-subBits+1)*subCount + int(sub)
}

// bucketUpper returns the exclusive upper bound of bucket i in
// microseconds.
func bucketUpper(i int) uint64 {
	if i < subCount {
		return uint64(i) + 1
	}
	e := i/subCount + subBits - 1
	sub := uint64(i % subCount)
	width := uint64(1) << (e - subBits)
	return (subCount+sub)*width + width
}
