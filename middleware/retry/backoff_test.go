package retry_test

import (
	"testing"
	"time"

	"github.com/switchyard/switchyard/middleware/retry"
)

func TestExponential(t *testing.T) {
	for _, tc := range []struct {
		base, cap time.Duration
		n         int
		want      time.Duration
	}{
		{25 * time.Millisecond, time.Second, 0, 25 * time.Millisecond},
		{25 * time.Millisecond, time.Second, 1, 50 * time.Millisecond},
		{25 * time.Millisecond, time.Second, 4, 400 * time.Millisecond},
		{25 * time.Millisecond, time.Second, 6, time.Second},
		{25 * time.Millisecond, time.Second, 63, time.Second},
		{25 * time.Millisecond, time.Second, 1000, time.Second},
		{time.Duration(1) << 61, time.Duration(1<<63 - 1), 3, time.Duration(1<<63 - 1)},
		{0, time.Second, 3, 0},
		{25 * time.Millisecond, time.Second, -1, 0},
	} {
		if got := retry.Exponential(tc.base, tc.cap, tc.n); got != tc.want {
			t.Errorf("Exponential(%v, %v, %d) = %v, want %v", tc.base, tc.cap, tc.n, got, tc.want)
		}
	}
}

// TestFullJitterBounds draws many backoffs for each retry number and checks
// that all lie in [0, min(cap, base·2ⁿ)] and that they spread over it: some
// fall in the lowest tenth and some in the highest. The chance that 5,000
// uniform draws miss a tenth of the range is 0.9^5000 ≈ 10^-229.
func TestFullJitterBounds(t *testing.T) {
	base, cap := retry.DefaultBase, retry.DefaultCap
	for n := range 8 {
		hi := min(cap, base<<n)
		low, high := false, false
		for range 5000 {
			d := retry.FullJitter(base, cap, n)
			if d < 0 || d > hi {
				t.Fatalf("FullJitter(n=%d) = %v, want within [0, %v]", n, d, hi)
			}
			low = low || d < hi/10
			high = high || d > hi-hi/10
		}
		if !low || !high {
			t.Fatalf("FullJitter(n=%d) did not spread over [0, %v]: low tenth %v, high tenth %v", n, hi, low, high)
		}
	}
	if got := retry.FullJitter(0, cap, 3); got != 0 {
		t.Fatalf("FullJitter with base 0 = %v, want 0", got)
	}
}

func TestNoBackoff(t *testing.T) {
	if got := retry.NoBackoff(time.Second, time.Minute, 3); got != 0 {
		t.Fatalf("NoBackoff = %v", got)
	}
}
