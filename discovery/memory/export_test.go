package memory

import (
	"sync/atomic"
	"time"

	"github.com/switchyard/switchyard/internal/clock"
)

// CountTimers makes r, and the registrars over it, count their timers, and
// returns how many are armed and have neither fired nor been stopped. The
// tests run in testing/synctest bubbles, whose timers cannot be listed.
// Call it before anything is registered.
func CountTimers(r *Registry) func() int {
	c := &countingClock{Clock: r.clock}
	r.clock = c
	return func() int { return int(c.n.Load()) }
}

type countingClock struct {
	clock.Clock
	n atomic.Int64
}

func (c *countingClock) AfterFunc(d time.Duration, f func()) func() bool {
	c.n.Add(1)
	stop := c.Clock.AfterFunc(d, func() {
		c.n.Add(-1)
		f()
	})
	return func() bool {
		stopped := stop()
		if stopped {
			c.n.Add(-1)
		}
		return stopped
	}
}
