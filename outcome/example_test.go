package outcome_test

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/switchyard/switchyard/outcome"
)

// The same rule serves outlier detection, the circuit breaker and retries:
// only server-health failures count against an instance.
func ExampleDefault() {
	ctx := context.Background()
	fmt.Println(outcome.Default(ctx, nil))
	fmt.Println(outcome.Default(ctx, &outcome.StatusError{Status: 503}))
	fmt.Println(outcome.Default(ctx, &outcome.StatusError{Status: 404}))
	fmt.Println(outcome.Default(ctx, context.Canceled))
	fmt.Println(outcome.Default(ctx, errors.New("connection reset by peer")))
	// Output:
	// success
	// server_failure
	// caller_fault
	// canceled
	// server_failure
}

// A transport marks the errors of reading its client's request body with
// Abort: whatever the upstream call then fails with, the instance is not
// blamed, and the call is not retried.
func ExampleAbort() {
	ctx := context.Background()
	bodyErr := errors.New("invalid byte in chunk length")
	err := fmt.Errorf("proxy: %w", outcome.Abort(bodyErr))
	class := outcome.Default(ctx, err)
	fmt.Println(class, class.Neutral(), errors.Is(err, bodyErr))
	// Output:
	// aborted true true
}

// A budget given to a callee with WithTimeout blames the callee when it
// runs out; a deadline the caller set itself does not.
func ExampleWithTimeout() {
	budget, cancel := outcome.WithTimeout(context.Background(), time.Millisecond)
	defer cancel()
	<-budget.Done()
	fmt.Println(outcome.Default(budget, context.DeadlineExceeded))

	own, cancelOwn := context.WithTimeout(context.Background(), time.Millisecond)
	defer cancelOwn()
	<-own.Done()
	fmt.Println(outcome.Default(own, context.DeadlineExceeded))
	// Output:
	// server_failure
	// canceled
}
