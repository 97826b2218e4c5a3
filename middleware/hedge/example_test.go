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
)

// The first request hangs; after 5 ms a backup is sent, answers, and the
// hanging request is cancelled.
func ExampleNew() {
	budget, _ := retry.NewBudget() // the same budget as the upstream's retries
	mw, _ := hedge.New(budget,
		hedge.WithDelay(5*time.Millisecond),
		hedge.WithHooks(hedge.Hooks{
			OnHedge:    func(n int) { fmt.Println("backup", n, "sent") },
			OnHedgeWon: func(n int) { fmt.Println("backup", n, "won") },
		}),
	)
	var calls atomic.Int64
	ep := mw(func(ctx context.Context, _ any) (any, error) {
		if calls.Add(1) == 1 {
			<-ctx.Done() // a slow instance
			fmt.Println("original cancelled")
			return nil, ctx.Err()
		}
		return "product 42", nil
	})
	resp, err := ep(retry.WithIdempotent(context.Background()), nil)
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
	budget, _ := retry.NewBudget() // one per upstream, shared by retry and hedge
	retryMW, _ := retry.New(budget,
		retry.WithBackoffFunc(retry.NoBackoff),
		retry.WithHooks(retry.Hooks{OnRetry: func(attempt int, err error) {
			fmt.Println("retry: attempt", attempt, "after", err)
		}}),
	)
	hedgeMW, _ := hedge.New(budget, hedge.WithDelay(time.Hour)) // never fires here
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
			return nil, &retry.StatusError{Code: 503}
		}
		return "ok", nil
	}
	ep := endpoint.Chain(
		tag("deadline"), deadline.Middleware(),
		tag("retry"), retryMW,
		tag("hedge"), hedgeMW,
	)(upstream)

	ctx, cancel := context.WithTimeout(retry.WithIdempotent(context.Background()), time.Second)
	defer cancel()
	fmt.Println(ep(ctx, nil))
	// Output:
	// enter deadline
	// enter retry
	// enter hedge
	// leave hedge
	// retry: attempt 2 after retry: upstream answered 503 Service Unavailable
	// enter hedge
	// leave hedge
	// leave retry
	// leave deadline
	// ok <nil>
}
