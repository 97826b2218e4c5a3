package concurrency

import (
	"context"
	"fmt"
	"math"
	"sync"
	"sync/atomic"
	"time"

	"github.com/switchyard/switchyard/middleware/tracing"
)

// Adaptive tunes an adaptive limit ([Config.Adaptive]). The zero value is
// valid: every zero field takes the default written beside it; a value
// outside the range written beside it makes [New] return an error wrapping
// [ErrConfig].
type Adaptive struct {
	// Initial is the limit to start from, within [Min, Max]. Default 20,
	// or Min or Max if 20 is outside them.
	Initial int
	// Min and Max bound the limit, 1 ≤ Min ≤ Max. Defaults 4 (or Max if
	// lower) and 1000 (or Min if higher).
	Min, Max int
	// Tolerance is how far the short-term RTT may rise above the long-term
	// RTT before the limit shrinks: 1.5 means 50% slower is still normal.
	// Default 1.5; at least 1.
	Tolerance float64
	// Smoothing is the weight of each window's proposal in the new limit,
	// in (0, 1]. Default 0.2.
	Smoothing float64
	// Window is the shortest sampling window. Default 1s; not negative.
	Window time.Duration
	// MinSamples is how many calls a window needs before it closes.
	// Default 10; not negative.
	MinSamples int
	// LongWindows is the span, in windows, of the long-term RTT average:
	// how long latency must stay high before the limiter accepts it as the
	// new normal and lets the limit grow again. Default 100; not negative.
	LongWindows int
}

// withDefaults validates a and fills in its defaults.
func (a Adaptive) withDefaults() (Adaptive, error) {
	switch {
	case a.Initial < 0 || a.Min < 0 || a.Max < 0 || a.MinSamples < 0 || a.LongWindows < 0 || a.Window < 0:
		return a, fmt.Errorf("%w: negative Adaptive field", ErrConfig)
	case a.Tolerance != 0 && !(a.Tolerance >= 1): // NaN too
		return a, fmt.Errorf("%w: Adaptive.Tolerance %v is below 1", ErrConfig, a.Tolerance)
	case a.Smoothing != 0 && !(a.Smoothing > 0 && a.Smoothing <= 1):
		return a, fmt.Errorf("%w: Adaptive.Smoothing %v is not within (0, 1]", ErrConfig, a.Smoothing)
	}
	if a.Min == 0 {
		a.Min = 4
		if a.Max > 0 {
			a.Min = min(a.Min, a.Max)
		}
	}
	if a.Max == 0 {
		a.Max = max(1000, a.Min)
	}
	if a.Max < a.Min {
		return a, fmt.Errorf("%w: Adaptive.Max %d is below Min %d", ErrConfig, a.Max, a.Min)
	}
	if a.Initial == 0 {
		a.Initial = min(max(20, a.Min), a.Max)
	}
	if a.Initial < a.Min || a.Initial > a.Max {
		return a, fmt.Errorf("%w: Adaptive.Initial %d is not within [%d, %d]", ErrConfig, a.Initial, a.Min, a.Max)
	}
	if a.MinSamples == 0 {
		a.MinSamples = 10
	}
	if a.LongWindows == 0 {
		a.LongWindows = 100
	}
	if a.Tolerance == 0 {
		a.Tolerance = 1.5
	}
	if a.Smoothing == 0 {
		a.Smoothing = 0.2
	}
	if a.Window == 0 {
		a.Window = time.Second
	}
	return a, nil
}

// gradient holds the adaptive state. Samples are summed with atomics; the
// call that finds its window over takes mu (without waiting) and updates
// the limit.
type gradient struct {
	cfg Adaptive

	sumNs     atomic.Int64
	count     atomic.Int64
	peak      atomic.Int64 // most calls in flight seen this window
	windowEnd atomic.Int64 // unix ns

	mu       sync.Mutex // guards estimate and longRTT
	estimate float64
	longRTT  float64 // ns; 0 until the first window closes
}

func (g *gradient) sample(ctx context.Context, l *Limiter, at time.Time, rtt time.Duration, inflight int64) {
	g.sumNs.Add(int64(rtt))
	n := g.count.Add(1)
	for {
		p := g.peak.Load()
		if inflight <= p || g.peak.CompareAndSwap(p, inflight) {
			break
		}
	}
	now := at.UnixNano()
	if now < g.windowEnd.Load() || n < int64(g.cfg.MinSamples) || !g.mu.TryLock() {
		return
	}
	sum, cnt, peak := g.sumNs.Swap(0), g.count.Swap(0), g.peak.Swap(0)
	g.windowEnd.Store(now + int64(g.cfg.Window))
	from := int(l.limit.Load())
	to := g.updateLocked(float64(sum)/float64(max(cnt, 1)), peak, from)
	g.mu.Unlock()
	if to == from {
		return
	}
	l.setLimit(to)
	if to < from {
		tracing.Event(ctx, evLimit, "latency_rose")
	} else {
		tracing.Event(ctx, evLimit, "latency_steady")
	}
	if l.onChange != nil {
		l.onChange(from, to)
	}
}

// updateLocked folds one window's average RTT into the estimate and
// returns the new limit.
func (g *gradient) updateLocked(short float64, peak int64, current int) int {
	if short <= 0 {
		short = 1
	}
	if g.longRTT == 0 {
		g.longRTT = short
	} else {
		g.longRTT += (short - g.longRTT) * 2 / float64(g.cfg.LongWindows+1)
	}
	// After a long stretch of high latency the long-term average sits far
	// above the recovered short-term one; pull it down faster than the
	// average alone would, so the limit does not stay inflated.
	if g.longRTT > 2*short {
		g.longRTT *= 0.95
	}
	// A limiter far from full learns nothing about capacity.
	if float64(peak) < g.estimate/2 {
		return current
	}
	grad := math.Max(0.5, math.Min(1, g.cfg.Tolerance*g.longRTT/short))
	proposal := g.estimate*grad + math.Sqrt(g.estimate)
	next := g.estimate*(1-g.cfg.Smoothing) + proposal*g.cfg.Smoothing
	g.estimate = math.Max(float64(g.cfg.Min), math.Min(float64(g.cfg.Max), next))
	return int(g.estimate)
}
