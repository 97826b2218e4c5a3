package switchyard

import "github.com/switchyard/switchyard/internal/clock"

// SetClock replaces the clock of a's drain, confirm and shutdown timers.
// The tests serve over real listeners, which rules out a testing/synctest
// bubble. Call it before Run.
func SetClock(a *App, c clock.Clock) { a.cfg.clock = c }
