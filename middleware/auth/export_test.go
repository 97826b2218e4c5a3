package auth

import "time"

// The tests serve over real HTTP and fetch keys over it, which rules out a
// synctest bubble; these hooks give them a fake clock instead.

// SetNow makes v check exp, nbf and iat against now instead of time.Now.
func SetNow(v *Validator, now func() time.Time) { v.now = now }

// SetJWKSNow makes s take refresh decisions by now instead of time.Now.
func SetJWKSNow(s *JWKS, now func() time.Time) { s.now = now }
