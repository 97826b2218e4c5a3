package deadline_test

import (
	"context"
	"errors"
	"testing"
	"testing/synctest"
	"time"

	"github.com/switchyard/switchyard/middleware/deadline"
	"github.com/switchyard/switchyard/outcome"
)

func TestMiddlewareFailsFast(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var reasons []string
		mw := mustDeadline(deadline.Config{MinBudget: 10 * time.Millisecond, Hooks: deadline.Hooks{OnExceeded: func(r string) { reasons = append(reasons, r) }}}).Endpoint
		calls := 0
		ep := mw(func(context.Context, any) (any, error) { calls++; return "ok", nil })

		if resp, err := ep(context.Background(), nil); resp != "ok" || err != nil {
			t.Fatalf("without a deadline: %v, %v", resp, err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
		defer cancel()
		if resp, err := ep(ctx, nil); resp != "ok" || err != nil {
			t.Fatalf("with 50 ms left: %v, %v", resp, err)
		}
		time.Sleep(40 * time.Millisecond)
		_, err := ep(ctx, nil)
		var de *deadline.Error
		if !errors.As(err, &de) || de.StatusCode() != 504 || !errors.Is(err, deadline.ErrExceeded) {
			t.Fatalf("with 10 ms left and a 10 ms minimum: %v, want a 504 Error", err)
		}
		if calls != 2 {
			t.Fatalf("endpoint called %d times, want 2", calls)
		}
		if len(reasons) != 1 || reasons[0] != deadline.ReasonOnArrival {
			t.Fatalf("OnExceeded reasons %v", reasons)
		}
	})
}

func TestMiddlewareRefusesAnExpiredContext(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), time.Millisecond)
		defer cancel()
		<-ctx.Done() // the bubble's clock moves on to the deadline
		called := false
		_, err := mustDeadline(deadline.Config{}).Endpoint(func(context.Context, any) (any, error) {
			called = true
			return nil, nil
		})(ctx, nil)
		if called || !errors.Is(err, deadline.ErrExceeded) || !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("called %v, error %v; want ErrExceeded wrapping DeadlineExceeded without a call", called, err)
		}
	})
}

func TestMiddlewareReportsTimeouts(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
		defer cancel()
		downstream := errors.New("connection reset")
		ep := mustDeadline(deadline.Config{}).Endpoint(func(ctx context.Context, _ any) (any, error) {
			<-ctx.Done() // the call outlives the deadline
			return nil, downstream
		})
		_, err := ep(ctx, nil)
		if !errors.Is(err, deadline.ErrExceeded) || !errors.Is(err, downstream) {
			t.Fatalf("error %v, want ErrExceeded wrapping the endpoint's error", err)
		}
		// The caller's context is done, so the shared rule calls it a
		// cancellation: it counts against no instance.
		if c := outcome.Default(ctx, err); c != outcome.Canceled {
			t.Fatalf("outcome.Default = %v, want canceled", c)
		}
	})
}

func TestErrorJSON(t *testing.T) {
	_, err := deadline.ParseHeader("x")
	var de *deadline.Error
	if !errors.As(err, &de) {
		t.Fatalf("%T is not *deadline.Error", err)
	}
	b, _ := de.MarshalJSON()
	if want := `{"error":{"code":"bad_deadline","message":"X-Switchyard-Deadline-Ms must be a whole number of milliseconds"}}`; string(b) != want {
		t.Fatalf("JSON %s, want %s", b, want)
	}
	if de.StatusCode() != 400 {
		t.Fatalf("status %d", de.StatusCode())
	}
}
