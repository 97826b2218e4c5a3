package gateway

import (
	"time"

	"github.com/switchyard/switchyard/internal/latency"
)

// AttemptTimeout derives the timeout of each attempt of a request that
// may be retried (every attempt but the last) from the latency its
// upstream service has shown: the Percentile of the recent answers times
// Multiplier, kept between Min and Max. An instance that accepts
// connections and never answers then costs such a request one attempt
// timeout before it is retried on another instance, and counts a failure
// towards its ejection, instead of holding the request for the route's
// whole budget. The last attempt runs under what is left of the route's
// budget, so that a request that is merely slow is still answered.
//
// The zero value means the defaults written beside each field.
type AttemptTimeout struct {
	// Percentile of the upstream's answers (after its first 100; before
	// that the timeout is Max). Default 0.99.
	Percentile float64
	// Multiplier of that percentile. Default 4.
	Multiplier float64
	// Min is the shortest attempt timeout, so that a fast upstream's
	// ordinary jitter is not mistaken for a hang. Default 250ms.
	Min time.Duration
	// Max is the longest. Default 2s.
	Max time.Duration
	// Disabled turns per-attempt timeouts off: every attempt may use the
	// rest of the route's budget.
	Disabled bool
}

// attemptTimer is an upstream's [AttemptTimeout] with its latency tracker.
type attemptTimer struct {
	track    *latency.Tracker
	mult     float64
	min, max time.Duration
}

func newAttemptTimer(cfg AttemptTimeout) *attemptTimer {
	if cfg.Disabled {
		return nil
	}
	if cfg.Percentile <= 0 || cfg.Percentile >= 1 {
		cfg.Percentile = 0.99
	}
	if cfg.Multiplier <= 0 {
		cfg.Multiplier = 4
	}
	if cfg.Min <= 0 {
		cfg.Min = 250 * time.Millisecond
	}
	if cfg.Max <= 0 {
		cfg.Max = 2 * time.Second
	}
	cfg.Max = max(cfg.Max, cfg.Min)
	return &attemptTimer{track: latency.New(cfg.Percentile, cfg.Max), mult: cfg.Multiplier, min: cfg.Min, max: cfg.Max}
}

// timeout returns the current attempt timeout. It neither locks nor
// allocates.
func (a *attemptTimer) timeout() time.Duration {
	d := time.Duration(float64(a.track.Delay()) * a.mult)
	return min(max(d, a.min), a.max)
}

// observe records the time an instance took to answer an attempt.
func (a *attemptTimer) observe(d time.Duration) { a.track.Record(d) }
