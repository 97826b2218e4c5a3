package deadline

import "github.com/switchyard/switchyard/internal/clock"

// SetClock replaces d's clock, for the tests behind a real server (which
// a synctest bubble cannot hold); every other timing test runs in a
// bubble on the real clock.
func SetClock(d *Deadline, c clock.Clock) { d.clk = c }
