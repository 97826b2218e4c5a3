package ratelimit

import "github.com/switchyard/switchyard/internal/clock"

// SetClock replaces l's clock, for tests over real connections, where a
// testing/synctest bubble cannot run.
func SetClock(l *Limiter, c clock.Clock) { l.clock = c }
