package metrics

import "time"

// SetNow makes m, and every Metrics sharing its instruments, time calls
// with now instead of time.Now. The tests scrape over real HTTP, which
// rules out a synctest bubble.
func SetNow(m *Metrics, now func() time.Time) { m.now = now }
