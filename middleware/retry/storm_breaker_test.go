package retry_test

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/switchyard/switchyard/middleware/circuitbreaker"
	"github.com/switchyard/switchyard/middleware/retry"
)

// unavailable is an upstream's 503.
type unavailable struct{}

func (unavailable) Error() string   { return "503 service unavailable" }
func (unavailable) StatusCode() int { return 503 }

// TestRetryStormBreakerAndBudget drives the client path a service would
// use — retry (5 attempts) over a circuit breaker over the upstream — at
// 100 requests per second against an upstream that fails every call for a
// minute, then recovers. The budget must hold attempts to 1.2 × requests +
// 10/s, the breaker must shield the upstream from most of them, and once
// the upstream is healthy the breaker must close within one open period.
//
// gobreaker reads time.Now itself, so the test runs in a synctest bubble,
// where the real clock is virtual and a minute passes instantly.
func TestRetryStormBreakerAndBudget(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var healthy atomic.Bool
		var upstreamCalls, attempts atomic.Int64
		upstream := func(ctx context.Context, req any) (any, error) {
			upstreamCalls.Add(1)
			if healthy.Load() {
				return "ok", nil
			}
			return nil, unavailable{}
		}
		settings := circuitbreaker.Config{Timeout: 10 * time.Second}
		br, err := circuitbreaker.New("upstream", settings)
		if err != nil {
			t.Fatal(err)
		}
		budget, err := retry.NewBudget(retry.BudgetConfig{})
		if err != nil {
			t.Fatal(err)
		}
		r, err := retry.New(budget, retry.Config{MaxAttempts: 5})
		if err != nil {
			t.Fatal(err)
		}
		inner := br.Endpoint(upstream)
		ep := r.Endpoint(func(ctx context.Context, req any) (any, error) {
			attempts.Add(1)
			return inner(ctx, req)
		})
		ctx := retry.MarkIdempotent(context.Background())

		const rate, seconds = 100, 60
		start := time.Now()
		var wg sync.WaitGroup
		for range rate * seconds {
			wg.Add(1)
			go func() { defer wg.Done(); ep(ctx, nil) }()
			time.Sleep(time.Second / rate)
		}
		wg.Wait()
		requests := int64(rate * seconds)
		// The last requests' retries back off past the final second, so
		// the per-second minimum applies to the whole span of the storm.
		span := int64(time.Since(start).Seconds() + 0.999)
		limit := requests*12/10 + 10*span
		t.Logf("storm: %d requests over %ds, %d attempts (limit %d), %d reached the upstream", requests, span, attempts.Load(), limit, upstreamCalls.Load())
		if attempts.Load() > limit {
			t.Fatalf("%d attempts for %d requests: the budget allows at most %d", attempts.Load(), requests, limit)
		}
		if attempts.Load() <= requests {
			t.Fatal("no retries at all: the test proves nothing about the budget")
		}
		if upstreamCalls.Load() > requests/10 {
			t.Fatalf("the open breaker let %d of %d requests reach the failing upstream", upstreamCalls.Load(), requests)
		}
		if br.State() != circuitbreaker.Open {
			t.Fatalf("breaker is %v after a minute of failures, want open", br.State())
		}

		// The upstream recovers. Traffic continues at the same rate; the
		// breaker must close within one open period (plus one request gap).
		healthy.Store(true)
		recovered := time.Now()
		for br.State() != circuitbreaker.Closed {
			if time.Since(recovered) > settings.Timeout+time.Second/rate {
				t.Fatalf("breaker still %v %v after the upstream recovered", br.State(), time.Since(recovered))
			}
			ep(ctx, nil)
			time.Sleep(time.Second / rate)
		}
		t.Logf("breaker closed %v after recovery", time.Since(recovered))
		if _, err := ep(ctx, nil); err != nil {
			t.Fatalf("call after recovery failed: %v", err)
		}
	})
}
