package concurrency_test

import (
	"context"
	"errors"
	"fmt"

	"github.com/go-kit/kit/endpoint"

	"github.com/switchyard/switchyard/middleware/concurrency"
)

// A bulkhead of two: while two calls are in flight a third is shed at
// once.
func ExampleNewFixed() {
	l := concurrency.NewFixed(2)
	ctx := context.Background()
	a, _ := l.Acquire(ctx)
	b, _ := l.Acquire(ctx)

	ep := concurrency.Middleware(l)(endpoint.Nop)
	_, err := ep(ctx, nil)
	fmt.Println(err, errors.Is(err, concurrency.ErrLimitExceeded))

	a.Release(ctx, nil)
	_, err = ep(ctx, nil)
	fmt.Println("after one finished:", err)
	b.Release(ctx, nil)
	// Output:
	// concurrency: limit of 2 calls in flight reached true
	// after one finished: <nil>
}
