package auth

import "time"

// The tests serve over real HTTP, fetch keys over it and shake hands over
// real TLS, which rules out a synctest bubble; these hooks give them a fake
// clock instead.

// SetNow makes v check exp, nbf and iat against now instead of time.Now.
func SetNow(v *Validator, now func() time.Time) { v.now = now }

// SetJWKSNow makes s take refresh decisions by now instead of time.Now.
func SetJWKSNow(s *JWKS, now func() time.Time) { s.now = now }

// SetReloaderNow makes r time its checks by now instead of time.Now, with
// the last check at now().
func SetReloaderNow(r *CertReloader, now func() time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.now = now
	r.lastCheck = now()
}
