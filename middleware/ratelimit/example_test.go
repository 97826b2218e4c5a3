package ratelimit_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"

	"github.com/go-kit/kit/endpoint"

	"github.com/switchyard/switchyard/middleware/ratelimit"
)

// Each user may make 2 requests per second with bursts of 3: the fourth
// request in a row is refused, another user is not affected.
func ExampleLimiter_Endpoint() {
	limiter, err := ratelimit.New(2, 3, ratelimit.Config{
		Key: func(_ context.Context, req any) string { return req.(string) },
	})
	if err != nil {
		panic(err)
	}
	ep := limiter.Endpoint(endpoint.Nop)

	for i := range 4 {
		_, err := ep(context.Background(), "alice")
		var le *ratelimit.Error
		if errors.As(err, &le) {
			fmt.Printf("alice #%d: limited, Retry-After: %ds\n", i+1, le.RetryAfterSeconds())
		} else {
			fmt.Printf("alice #%d: ok\n", i+1)
		}
	}
	_, err = ep(context.Background(), "bob")
	fmt.Println("bob:", err)
	// Output:
	// alice #1: ok
	// alice #2: ok
	// alice #3: ok
	// alice #4: limited, Retry-After: 1s
	// bob: <nil>
}

// A per-client limit on an HTTP route, keyed by the client's address: the
// second request within the second is answered 429.
func ExampleLimiter_Handler() {
	limiter, err := ratelimit.New(1, 1, ratelimit.Config{HTTPKey: ratelimit.RemoteIP})
	if err != nil {
		panic(err)
	}
	h := limiter.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, "signed up")
	}))
	for range 2 {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, httptest.NewRequest("POST", "/signup", nil))
		fmt.Println(w.Code, w.Header().Get("Retry-After"), w.Body.String())
	}
	// Output:
	// 200  signed up
	// 429 1 {"error":{"code":"rate_limited","message":"rate limit exceeded, retry after 1s"}}
}
