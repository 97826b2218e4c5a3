package retry

import (
	"math/rand/v2"
	"time"

	"github.com/switchyard/switchyard/internal/backoff"
)

// Backoff defaults.
const (
	// DefaultBase is the backoff before the first retry at most: 25 ms.
	DefaultBase = 25 * time.Millisecond
	// DefaultCap bounds every backoff: 1 s.
	DefaultCap = time.Second
)

// Backoff returns how long to wait before retry number n (0 before the
// first retry, 1 before the second, …), given [Config.BackoffBase] and
// [Config.BackoffCap]. It must be safe for concurrent use; a negative
// result counts as 0.
type Backoff func(base, cap time.Duration, n int) time.Duration

// DefaultBackoff is [FullJitter].
var DefaultBackoff Backoff = FullJitter

// FullJitter waits a uniformly random time in [0, min(cap, base·2ⁿ)], the
// "full jitter" of the AWS architecture blog's backoff study: it spreads
// the retries of clients that failed together, so they do not come back
// together.
func FullJitter(base, cap time.Duration, n int) time.Duration {
	return backoff.Full(base, cap, n, rand.Uint64())
}

// Exponential waits exactly min(cap, base·2ⁿ), without jitter. It is the
// upper bound of [FullJitter] and suits tests that want fixed waits.
func Exponential(base, cap time.Duration, n int) time.Duration {
	return backoff.Exponential(base, cap, n)
}

// NoBackoff retries at once. With it a Retry sets no timer at all.
func NoBackoff(time.Duration, time.Duration, int) time.Duration { return 0 }
