package ratelimit_test

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/go-kit/kit/endpoint"

	"github.com/switchyard/switchyard/internal/clock"
	"github.com/switchyard/switchyard/middleware/ratelimit"
)

// Each user may make 2 requests per second with bursts of 3. (The fake
// clock makes the output deterministic; leave WithClock out in real use.)
func ExampleNewPerKey() {
	fake := clock.NewFake(time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC))
	limiter := ratelimit.NewPerKey(2, 3, ratelimit.WithClock(fake))
	user := func(_ context.Context, req any) string { return req.(string) }
	ep := ratelimit.Middleware(limiter, user)(endpoint.Nop)

	for i := range 4 {
		_, err := ep(context.Background(), "alice")
		var le *ratelimit.Error
		if errors.As(err, &le) {
			fmt.Printf("alice #%d: limited, retry after %v\n", i+1, le.RetryAfter)
		} else {
			fmt.Printf("alice #%d: ok\n", i+1)
		}
	}
	_, err := ep(context.Background(), "bob")
	fmt.Println("bob:", err)
	fake.Advance(500 * time.Millisecond)
	_, err = ep(context.Background(), "alice")
	fmt.Println("alice after 500ms:", err)
	// Output:
	// alice #1: ok
	// alice #2: ok
	// alice #3: ok
	// alice #4: limited, retry after 500ms
	// bob: <nil>
	// alice after 500ms: <nil>
}
