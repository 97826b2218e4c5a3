package pki

import "time"

// The tests of certificate ages use real files and real TLS; this hook
// gives them a fake clock where a synctest bubble does not fit.

// WithNow returns cfg with its clock set to now instead of time.Now.
func WithNow(cfg Config, now func() time.Time) Config {
	cfg.now = now
	return cfg
}
