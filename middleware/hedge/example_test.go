package hedge_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/go-kit/kit/endpoint"

	"github.com/switchyard/switchyard/middleware/deadline"
	"github.com/switchyard/switchyard/middleware/hedge"
	"github.com/switchyard/switchyard/middleware/retry"
	"github.com/switchyard/switchyard/outcome"
)

// The first request hangs; after 5 ms a backup is sent, answers, and the
// hanging request is cancelled.
func ExampleHedge_Endpoint() {
	budget, _ := retry.NewBudget(retry.BudgetConfig{}) // the same budget as the upstream's retries
	h, _ := hedge.New(budget, hedge.Config{
		Delay: 5 * time.Millisecond,
		Hooks: hedge.Hooks{
			OnHedge:    func(n int) { fmt.Println("backup", n, "sent") },
			OnHedgeWon: func(n int) { fmt.Println("backup", n, "won") },
		},
	})
	var calls atomic.Int64
	ep := h.Endpoint(func(ctx context.Context, _ any) (any, error) {
		if calls.Add(1) == 1 {
			<-ctx.Done() // a slow instance
			fmt.Println("original cancelled")
			return nil, ctx.Err()
		}
		return "product 42", nil
	})
	resp, err := ep(retry.MarkIdempotent(context.Background()), nil)
	fmt.Println(resp, err)
	// Output:
	// backup 1 sent
	// backup 1 won
	// original cancelled
	// product 42 <nil>
}

// The client middleware of one upstream, outermost first, as
// endpoint.Chain composes them (its first argument is the outermost):
// deadline fails fast when no time is left, retry retries the whole call,
// hedge sends backups for each attempt. A "tag" middleware between them
// prints the order in which a call passes through.
func Example_chain() {
	budget, _ := retry.NewBudget(retry.BudgetConfig{}) // one per upstream, shared by retry and hedge
	r, _ := retry.New(budget, retry.Config{
		Backoff: retry.NoBackoff,
		Hooks: retry.Hooks{OnRetry: func(attempt int, err error) {
			fmt.Println("retry: attempt", attempt, "after", err)
		}},
	})
	h, _ := hedge.New(budget, hedge.Config{Delay: time.Hour}) // never fires here
	d, _ := deadline.New(deadline.Config{})
	tag := func(name string) endpoint.Middleware {
		return func(next endpoint.Endpoint) endpoint.Endpoint {
			return func(ctx context.Context, req any) (any, error) {
				fmt.Println("enter", name)
				defer fmt.Println("leave", name)
				return next(ctx, req)
			}
		}
	}
	failures := 1
	upstream := func(context.Context, any) (any, error) {
		if failures > 0 {
			failures--
			return nil, &outcome.StatusError{Status: 503}
		}
		return "ok", nil
	}
	ep := endpoint.Chain(
		tag("deadline"), d.Endpoint,
		tag("retry"), r.Endpoint,
		tag("hedge"), h.Endpoint,
	)(upstream)

	ctx, cancel := context.WithTimeout(retry.MarkIdempotent(context.Background()), time.Second)
	defer cancel()
	fmt.Println(ep(ctx, nil))
	// Output:
	// enter deadline
	// enter retry
	// enter hedge
	// leave hedge
	// retry: attempt 2 after status 503 Service Unavailable
	// enter hedge
	// leave hedge
	// leave retry
	// leave deadline
	// ok <nil>
}
