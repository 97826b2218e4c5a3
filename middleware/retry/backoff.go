package retry

import (
	"math/rand/v2"
	"time"
)

// Backoff defaults.
const (
	// DefaultBase is the backoff before the first retry at most: 25 ms.
	DefaultBase = 25 * time.Millisecond
	// DefaultCap bounds every backoff: 1 s.
	DefaultCap = time.Second
)

// Backoff returns how long to wait before retry number n (0 before the
// first retry, 1 before the second, …), given the base and cap configured
// with [WithBackoff]. It must be safe for concurrent use; a negative result
// counts as 0.
type Backoff func(base, cap time.Duration, n int) time.Duration

// DefaultBackoff is [FullJitter].
var DefaultBackoff Backoff = FullJitter

// FullJitter waits a uniformly random time in [0, min(cap, base·2ⁿ)], the
// "full jitter" of the AWS architecture blog's backoff study: it spreads
// the retries of clients that failed together, so they do not come back
// together.
func FullJitter(base, cap time.Duration, n int) time.Duration {
	hi := Exponential(base, cap, n)
	if hi <= 0 {
		return 0
	}
	return time.Duration(rand.Int64N(int64(hi) + 1))
}

// Exponential waits exactly min(cap, base·2ⁿ), without jitter. It is the
// upper bound of [FullJitter] and suits tests that want fixed waits.
func Exponential(base, cap time.Duration, n int) time.Duration {
	if base <= 0 || cap <= 0 || n < 0 {
		return 0
	}
	if n >= 62 || base > cap>>n {
		return cap
	}
	return min(base<<n, cap)
}

// NoBackoff retries at once. With it the middleware sets no timer at all.
func NoBackoff(time.Duration, time.Duration, int) time.Duration { return 0 }
