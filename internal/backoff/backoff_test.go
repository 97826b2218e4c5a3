package backoff_test

import (
	"math"
	"testing"
	"time"

	"github.com/switchyard/switchyard/internal/backoff"
)

func TestExponential(t *testing.T) {
	const ms = time.Millisecond
	for _, tc := range []struct {
		base, cap time.Duration
		n         int
		want      time.Duration
	}{
		{25 * ms, time.Second, 0, 25 * ms},
		{25 * ms, time.Second, 1, 50 * ms},
		{25 * ms, time.Second, 4, 400 * ms},
		{25 * ms, time.Second, 6, time.Second},
		{25 * ms, time.Second, 63, time.Second},
		{25 * ms, time.Second, 1000, time.Second},
		{time.Duration(1) << 61, math.MaxInt64, 3, math.MaxInt64},
		{0, time.Second, 3, 0},
		{25 * ms, 0, 3, 0},
		{25 * ms, time.Second, -1, 0},
	} {
		if got := backoff.Exponential(tc.base, tc.cap, tc.n); got != tc.want {
			t.Errorf("Exponential(%v, %v, %d) = %v, want %v", tc.base, tc.cap, tc.n, got, tc.want)
		}
	}
}

// TestJitterBounds checks the ends of the ranges with the smallest and
// largest random values, and a value in the middle.
func TestJitterBounds(t *testing.T) {
	const base, cap = 100 * time.Millisecond, time.Second
	for n := range 6 {
		step := backoff.Exponential(base, cap, n)
		for _, tc := range []struct {
			name        string
			f           func(time.Duration, time.Duration, int, uint64) time.Duration
			lo, mid, hi time.Duration
		}{
			{"Full", backoff.Full, 0, step / 2, step},
			{"Equal", backoff.Equal, step - step/2, step - step/4, step},
		} {
			if got := tc.f(base, cap, n, 0); got != tc.lo {
				t.Errorf("%s(n=%d, r=0) = %v, want %v", tc.name, n, got, tc.lo)
			}
			if got := tc.f(base, cap, n, math.MaxUint64); got != tc.hi {
				t.Errorf("%s(n=%d, r=max) = %v, want %v", tc.name, n, got, tc.hi)
			}
			if got := tc.f(base, cap, n, 1<<63); got < tc.mid-1 || got > tc.mid+1 {
				t.Errorf("%s(n=%d, r=half) = %v, want about %v", tc.name, n, got, tc.mid)
			}
		}
	}
}

func TestBetween(t *testing.T) {
	for _, tc := range []struct {
		lo, hi time.Duration
		r      uint64
		want   time.Duration
	}{
		{5, 5, math.MaxUint64, 5},
		{7, 3, 123, 7},
		{0, math.MaxInt64, math.MaxUint64, math.MaxInt64},
		{0, 9, 1 << 63, 5},
		{0, 1, math.MaxUint64 / 2, 0},
		{0, 1, math.MaxUint64/2 + 1, 1},
	} {
		if got := backoff.Between(tc.lo, tc.hi, tc.r); got != tc.want {
			t.Errorf("Between(%d, %d, %#x) = %d, want %d", tc.lo, tc.hi, tc.r, got, tc.want)
		}
	}
}
