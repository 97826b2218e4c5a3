package etcd

import (
	"context"
	"math/rand/v2"
	"time"

	jitter "github.com/switchyard/switchyard/internal/backoff"
	"github.com/switchyard/switchyard/internal/clock"
)

// backoff returns the pause before retry number attempt (0 for the first
// retry): it doubles from lo up to hi and is drawn uniformly from its upper
// half, so retries spread out yet never wait less than half the step (the
// module's one backoff, with equal jitter).
func backoff(attempt int, lo, hi time.Duration) time.Duration {
	return jitter.Equal(lo, hi, attempt, rand.Uint64())
}

// sleep waits d on c, or until ctx ends. It reports whether the full pause
// elapsed.
func sleep(ctx context.Context, c clock.Clock, d time.Duration) bool {
	done := make(chan struct{})
	stop := c.AfterFunc(d, func() { close(done) })
	select {
	case <-done:
		return true
	case <-ctx.Done():
		stop()
		return false
	}
}
