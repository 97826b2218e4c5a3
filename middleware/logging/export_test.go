package logging

import "time"

// SetNow makes l time requests and calls with now instead of time.Now.
// The tests serve over real HTTP, which rules out a synctest bubble.
func SetNow(l *Logger, now func() time.Time) { l.now = now }
