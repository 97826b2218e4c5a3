package gateway

import (
	"time"

	"github.com/switchyard/switchyard/client"
	"github.com/switchyard/switchyard/internal/latency"
)

// attemptTimer is an upstream's per-attempt timeout: the same rule as a
// client.Endpoint's (see client.AttemptTimeout), learnt from
// the answers of the upstream's instances. The gateway gives it to every
// attempt of a request it may retry but the last, which runs under what is
// left of the route's budget so that a request that is merely slow is
// still answered.
type attemptTimer struct {
	track  *latency.Tracker
	factor float64
	floor  time.Duration
}

// newAttemptTimer returns the timer of cfg, whose defaults are already
// applied.
func newAttemptTimer(cfg client.AttemptTimeout) *attemptTimer {
	return &attemptTimer{
		track:  latency.New(cfg.Percentile, time.Duration(float64(cfg.Initial)/cfg.Factor)),
		factor: cfg.Factor,
		floor:  cfg.Floor,
	}
}

// timeout returns the current attempt timeout. It neither locks nor
// allocates.
func (a *attemptTimer) timeout() time.Duration {
	return max(a.floor, time.Duration(a.factor*float64(a.track.Delay())))
}

// observe records the time an instance took to answer an attempt.
func (a *attemptTimer) observe(d time.Duration) { a.track.Record(d) }
