package concurrency_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/switchyard/switchyard/middleware/concurrency"
)

func TestHandlerSheds503WithRetryAfter(t *testing.T) {
	l := newLimiter(t, concurrency.Config{Limit: 1, RetryAfter: 1500 * time.Millisecond})
	entered := make(chan struct{})
	release := make(chan struct{})
	h := l.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/slow" {
			close(entered)
			<-release
		}
	}))
	srv := httptest.NewServer(h)
	defer srv.Close()
	defer srv.Client().CloseIdleConnections()

	slow := make(chan int, 1)
	go func() {
		resp, err := srv.Client().Get(srv.URL + "/slow")
		if err != nil {
			slow <- 0
			return
		}
		resp.Body.Close()
		slow <- resp.StatusCode
	}()
	<-entered
	resp, err := srv.Client().Get(srv.URL + "/fast")
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 503 || resp.Header.Get("Retry-After") != "2" {
		t.Fatalf("shed request: %d, Retry-After %q; want 503 and 2", resp.StatusCode, resp.Header.Get("Retry-After"))
	}
	var body struct {
		Error struct{ Code, Message string }
	}
	if err := json.Unmarshal(raw, &body); err != nil || body.Error.Code != "overloaded" {
		t.Fatalf("body %s (%v)", raw, err)
	}
	close(release)
	if code := <-slow; code != 200 {
		t.Fatalf("slow request answered %d", code)
	}
	resp, err = srv.Client().Get(srv.URL + "/fast")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 || l.InFlight() != 0 {
		t.Fatalf("after the slow call: %d, %d in flight", resp.StatusCode, l.InFlight())
	}
}

func TestMiddlewareReleasesOnPanic(t *testing.T) {
	l := newLimiter(t, concurrency.Config{Limit: 1})
	ep := l.Endpoint(func(context.Context, any) (any, error) { panic("boom") })
	func() {
		defer func() { recover() }()
		ep(context.Background(), nil)
	}()
	if l.InFlight() != 0 {
		t.Fatal("a panicking call kept its slot")
	}
	ok := l.Endpoint(func(context.Context, any) (any, error) { return "ok", nil })
	if resp, err := ok(context.Background(), nil); err != nil || resp != "ok" {
		t.Fatalf("got %v %v", resp, err)
	}
	busy, _ := l.Acquire(context.Background())
	if _, err := ok(context.Background(), nil); !errors.Is(err, concurrency.ErrLimitExceeded) {
		t.Fatalf("full limiter let a call through: %v", err)
	}
	busy.Release(context.Background(), nil)
}
