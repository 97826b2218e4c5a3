package outcome_test

import (
	"context"
	"errors"
	"fmt"

	"github.com/switchyard/switchyard/outcome"
)

// The same rule serves outlier detection, the circuit breaker and retries:
// only server-health failures count against an instance.
func ExampleDefault() {
	ctx := context.Background()
	fmt.Println(outcome.Default(ctx, nil))
	fmt.Println(outcome.Default(ctx, status(503)))
	fmt.Println(outcome.Default(ctx, status(404)))
	fmt.Println(outcome.Default(ctx, context.Canceled))
	fmt.Println(outcome.Default(ctx, errors.New("connection reset by peer")))
	// Output:
	// success
	// server_failure
	// caller_fault
	// canceled
	// server_failure
}
