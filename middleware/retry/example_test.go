package retry_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"

	"github.com/switchyard/switchyard/middleware/retry"
)

// A retry middleware around an endpoint that fails twice with a 503. The
// call is marked idempotent, so the failures are retried.
func ExampleNew() {
	budget, _ := retry.NewBudget() // share one per upstream
	mw, _ := retry.New(budget,
		retry.WithMaxAttempts(3),
		retry.WithBackoffFunc(retry.NoBackoff), // keep the example instant
		retry.WithHooks(retry.Hooks{OnRetry: func(attempt int, err error) {
			fmt.Printf("attempt %d after: %v\n", attempt, err)
		}}),
	)
	failures := 2
	ep := mw(func(context.Context, any) (any, error) {
		if failures > 0 {
			failures--
			return nil, &retry.StatusError{Code: http.StatusServiceUnavailable}
		}
		return "product 42", nil
	})
	resp, err := ep(retry.WithIdempotent(context.Background()), nil)
	fmt.Println(resp, err)
	// Output:
	// attempt 2 after: retry: upstream answered 503 Service Unavailable
	// attempt 3 after: retry: upstream answered 503 Service Unavailable
	// product 42 <nil>
}

// A POST is retried only when it carries an idempotency key.
func ExampleIsIdempotent() {
	post, _ := http.NewRequest(http.MethodPost, "http://orders/api/v1/orders", nil)
	fmt.Println(retry.IsIdempotent(context.Background(), post))
	post.Header.Set(retry.IdempotencyKeyHeader, "9f1c")
	fmt.Println(retry.IsIdempotent(context.Background(), post))
	fmt.Println(retry.IsIdempotent(retry.WithIdempotencyKey(context.Background(), "9f1c"), "any request"))
	// Output:
	// false
	// true
	// true
}

// A budget grants 20% of the requests as retries, plus a per-second floor.
func ExampleBudget() {
	budget, _ := retry.NewBudget(retry.WithMinPerSecond(0))
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

// The HTTP client retries a GET on a 503 and returns the final response.
func ExampleNewHTTPClient() {
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

	budget, _ := retry.NewBudget()
	client, _ := retry.NewHTTPClient(budget, retry.WithBackoffFunc(retry.NoBackoff))
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
