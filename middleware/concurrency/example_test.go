package concurrency_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"

	"github.com/go-kit/kit/endpoint"

	"github.com/switchyard/switchyard/middleware/concurrency"
)

// A bulkhead of two: while two calls are in flight a third is shed at
// once.
func ExampleLimiter_Endpoint() {
	l, err := concurrency.New(concurrency.Config{Limit: 2})
	if err != nil {
		panic(err)
	}
	ctx := context.Background()
	a, _ := l.Acquire(ctx)
	b, _ := l.Acquire(ctx)

	ep := l.Endpoint(endpoint.Nop)
	_, err = ep(ctx, nil)
	fmt.Println(err, errors.Is(err, concurrency.ErrLimitExceeded))

	a.Release(ctx, nil)
	_, err = ep(ctx, nil)
	fmt.Println("after one finished:", err)
	b.Release(ctx, nil)
	// Output:
	// concurrency: limit of 2 calls in flight reached true
	// after one finished: <nil>
}

// An adaptive limit in front of a service's handlers: a request over the
// limit is answered 503 with Retry-After instead of queueing.
func ExampleLimiter_Handler() {
	l, err := concurrency.New(concurrency.Config{Adaptive: concurrency.Adaptive{Initial: 4, Min: 1}})
	if err != nil {
		panic(err)
	}
	h := l.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, "ok")
	}))
	for range 4 { // four requests already in flight
		tok, _ := l.Acquire(context.Background())
		defer tok.Release(context.Background(), nil)
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest("GET", "/orders", nil))
	fmt.Println(w.Code, w.Header().Get("Retry-After"), w.Body.String())
	// Output:
	// 503 1 {"error":{"code":"overloaded","message":"concurrency: limit of 4 calls in flight reached"}}
}
