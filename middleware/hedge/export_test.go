package hedge

import "time"

// Tracker exposes the latency tracker to the external tests.
type Tracker = tracker

// NewTracker is newTracker.
func NewTracker(p float64, initial time.Duration) *Tracker { return newTracker(p, initial) }
