package hedge_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"time"

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
