package retry_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"

	"github.com/switchyard/switchyard/middleware/retry"
	"github.com/switchyard/switchyard/outcome"
)

// A retry layer around an endpoint that fails twice with a 503. The call
// is marked idempotent, so the failures are retried.
func ExampleRetry_Endpoint() {
	budget, _ := retry.NewBudget(retry.BudgetConfig{}) // share one per upstream
	r, _ := retry.New(budget, retry.Config{
		MaxAttempts: 3,
		Backoff:     retry.NoBackoff, // keep the example instant
		Hooks: retry.Hooks{OnRetry: func(attempt int, err error) {
			fmt.Printf("attempt %d after: %v\n", attempt, err)
		}},
	})
	failures := 2
	ep := r.Endpoint(func(context.Context, any) (any, error) {
		if failures > 0 {
			failures--
			return nil, &outcome.StatusError{Status: http.StatusServiceUnavailable}
		}
		return "product 42", nil
	})
	resp, err := ep(retry.MarkIdempotent(context.Background()), nil)
	fmt.Println(resp, err)
	// Output:
	// attempt 2 after: status 503 Service Unavailable
	// attempt 3 after: status 503 Service Unavailable
	// product 42 <nil>
}

// A POST is retried only when it carries an idempotency key.
func ExampleIsIdempotent() {
	post, _ := http.NewRequest(http.MethodPost, "http://orders/api/v1/orders", nil)
	fmt.Println(retry.IsIdempotent(context.Background(), post))
	post.Header.Set(retry.IdempotencyKeyHeader, "9f1c")
	fmt.Println(retry.IsIdempotent(context.Background(), post))
	fmt.Println(retry.IsIdempotent(retry.ContextWithIdempotencyKey(context.Background(), "9f1c"), "any request"))
	// Output:
	// false
	// true
	// true
}

// A budget grants 20% of the requests as retries, plus a per-second floor
// (none here: a negative MinPerSecond).
func ExampleBudget() {
	budget, _ := retry.NewBudget(retry.BudgetConfig{MinPerSecond: -1})
	for range 100 {
		budget.Deposit()
	}
	granted := 0
	for budget.TryWithdraw() {
		granted++
	}
	fmt.Println("retries granted for 100 requests:", granted)
	// Output:
	// retries granted for 100 requests: 20
}

// The retrying transport retries a GET on a 503 and returns the final
// response.
func ExampleRetry_Transport() {
	calls := 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls++
		if calls == 1 {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		_, _ = io.WriteString(w, "hello")
	}))
	defer srv.Close()

	budget, _ := retry.NewBudget(retry.BudgetConfig{})
	r, _ := retry.New(budget, retry.Config{Backoff: retry.NoBackoff})
	client := &http.Client{Transport: r.Transport(nil)} // nil: http.DefaultTransport
	resp, err := client.Get(srv.URL)
	if err != nil {
		fmt.Println(err)
		return
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	client.CloseIdleConnections()
	fmt.Println(resp.StatusCode, string(body), "after", calls, "attempts")
	// Output:
	// 200 hello after 2 attempts
}

// The Classifier says what a server failure is; CheckRetry decides on top
// of it. Here a 409 counts as a server failure, and any server failure is
// retried whether or not the call is idempotent.
func ExampleConfig() {
	conflict := func(ctx context.Context, err error) outcome.Class {
		var se *outcome.StatusError
		if errors.As(err, &se) && se.Status == http.StatusConflict {
			return outcome.ServerFailure
		}
		return outcome.Default(ctx, err)
	}
	r, _ := retry.New(nil, retry.Config{
		Backoff:    retry.NoBackoff,
		Classifier: conflict,
		CheckRetry: func(_ context.Context, _ any, _ int, class outcome.Class, _ error) bool {
			return class == outcome.ServerFailure
		},
	})
	calls := 0
	_, err := r.Endpoint(func(context.Context, any) (any, error) {
		calls++
		return nil, &outcome.StatusError{Status: http.StatusConflict}
	})(context.Background(), nil)
	fmt.Println(calls, "attempts:", err)
	// Output:
	// 3 attempts: status 409 Conflict
}
