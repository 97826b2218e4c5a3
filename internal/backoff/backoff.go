// Package backoff computes the pause before a retry: a step that doubles
// from a base up to a cap with each attempt, and a pause drawn from that
// step with jitter, so that clients that failed together do not come back
// together.
//
// It is the one backoff of the module: middleware/retry's waits between
// attempts, discovery/etcd's registrar re-grants and the example
// launcher's respawns all draw from it. The functions are pure — the
// attempt number and the random value are arguments — so callers test
// them without time or luck; they are safe for concurrent use.
package backoff

import (
	"math/bits"
	"time"
)

// Exponential returns min(cap, base·2ⁿ): the step before retry n (0 for
// the first retry). It is 0 when base or cap is not positive or n is
// negative, and never overflows.
func Exponential(base, cap time.Duration, n int) time.Duration {
	if base <= 0 || cap <= 0 || n < 0 {
		return 0
	}
	if n >= 62 || base > cap>>n {
		return cap
	}
	return min(base<<n, cap)
}

// Full returns a pause drawn uniformly from [0, Exponential(base, cap, n)]
// by r, a uniformly random 64-bit value (math/rand/v2's Uint64): the
// "full jitter" of the AWS architecture blog's backoff study, which
// spreads retries the most.
func Full(base, cap time.Duration, n int, r uint64) time.Duration {
	return Between(0, Exponential(base, cap, n), r)
}

// Equal returns a pause drawn uniformly from the upper half of
// Exponential(base, cap, n) by r, a uniformly random 64-bit value: the
// "equal jitter" of the same study, for loops that must not come back
// sooner than half their step (a respawn, a lease re-grant).
func Equal(base, cap time.Duration, n int, r uint64) time.Duration {
	step := Exponential(base, cap, n)
	return Between(step-step/2, step, r)
}

// Between maps r, a uniformly random 64-bit value, onto [lo, hi]
// uniformly (without the bias of a modulo). It returns lo when hi ≤ lo.
func Between(lo, hi time.Duration, r uint64) time.Duration {
	if hi <= lo {
		return lo
	}
	span := uint64(hi-lo) + 1 // ≤ 2⁶³, so no overflow
	off, _ := bits.Mul64(r, span)
	return lo + time.Duration(off)
}
