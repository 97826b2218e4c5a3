package mtls

import "time"

// The tests shake hands over real TLS, which rules out a synctest bubble;
// this hook gives them a fake clock for the check interval instead.

// SetNow makes s time its file checks by now instead of time.Now, with
// the next check due one interval after now(). Call it before s serves.
func SetNow(s *Source, now func() time.Time) {
	s.now = now
	s.epoch = now()
	s.nextCheck.Store(int64(s.interval))
}
