package retry_test

import (
	"context"
	"testing"
	"testing/synctest"
	"time"

	"github.com/switchyard/switchyard/middleware/retry"
	"github.com/switchyard/switchyard/outcome"
)

// TestRetryStorm drives a middleware against an upstream that always
// fails, at 100 requests per second for 60 s of fake time, with the
// default budget (20 % of requests plus 10 retries per second over 10 s)
// and 5 attempts per call, in a synctest bubble. Without the budget it would send 5 attempts
// per request; with it, attempts ≤ 1.2 × requests + 10/s × 60 s.
func TestRetryStorm(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b, err := retry.NewBudget(retry.BudgetConfig{})
		if err != nil {
			t.Fatal(err)
		}
		var exhausted int
		r, err := retry.New(b, retry.Config{MaxAttempts: 5, Backoff: retry.NoBackoff, Hooks: retry.Hooks{OnBudgetExhausted: func() { exhausted++ }}})
		if err != nil {
			t.Fatal(err)
		}
		attempts := 0
		ep := r.Endpoint(func(context.Context, any) (any, error) {
			attempts++
			return nil, &outcome.StatusError{Status: 503}
		})
		ctx := retry.MarkIdempotent(context.Background())

		const rate, seconds = 100, 60
		requests := 0
		perSecond := make([]int, seconds) // retries made in each second
		for s := range seconds {
			before := attempts - requests
			for range rate {
				if _, err := ep(ctx, nil); err == nil {
					t.Fatal("a call to an upstream that always fails succeeded")
				}
				requests++
				time.Sleep(time.Second / rate)
			}
			perSecond[s] = attempts - requests - before
		}
		retries := attempts - requests
		limit := 1.2*float64(requests) + float64(retry.DefaultMinPerSecond*seconds)
		t.Logf("requests=%d attempts=%d retries=%d limit=%.0f (unbudgeted: %d) exhausted=%d",
			requests, attempts, retries, limit, 5*requests, exhausted)
		t.Logf("retries per second: %v", perSecond)
		if float64(attempts) > limit {
			t.Fatalf("attempts = %d, want ≤ 1.2 × %d + %d = %.0f", attempts, requests, retry.DefaultMinPerSecond*seconds, limit)
		}
		// The budget is spent, not hoarded: retries reach the ratio share.
		if float64(retries) < 0.2*float64(requests) {
			t.Fatalf("retries = %d, want at least 0.2 × %d: the budget refused retries it had", retries, requests)
		}
		if exhausted == 0 {
			t.Fatal("OnBudgetExhausted never called")
		}
		// The bound holds at every horizon, not only at the end: after s
		// seconds, retries ≤ 0.2 × requests so far + 10 × s.
		cum := 0
		for s, n := range perSecond {
			cum += n
			if bound := 0.2*float64(rate*(s+1)) + float64(retry.DefaultMinPerSecond*(s+1)); float64(cum) > bound {
				t.Fatalf("after %d s: %d retries, want ≤ %.0f", s+1, cum, bound)
			}
		}
	})
}
