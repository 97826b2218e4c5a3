package clock_test

import (
	"context"
	"errors"
	"runtime"
	"testing"
	"time"

	"github.com/switchyard/switchyard/internal/clock"
)

func TestWithDeadlineOnFakeClock(t *testing.T) {
	start := time.Unix(1000, 0)
	c := clock.NewFake(start)
	ctx, cancel := clock.WithTimeout(context.Background(), c, time.Second)
	defer cancel()
	if d, ok := ctx.Deadline(); !ok || !d.Equal(start.Add(time.Second)) {
		t.Fatalf("Deadline() = %v, %v; want %v, true", d, ok, start.Add(time.Second))
	}
	// A child with a later deadline keeps the parent's.
	child, cancelChild := clock.WithTimeout(ctx, c, time.Hour)
	defer cancelChild()
	if d, _ := child.Deadline(); !d.Equal(start.Add(time.Second)) {
		t.Fatalf("child Deadline() = %v, want the parent's %v", d, start.Add(time.Second))
	}
	c.Advance(999 * time.Millisecond)
	if ctx.Err() != nil || child.Err() != nil {
		t.Fatalf("done early: %v, %v", ctx.Err(), child.Err())
	}
	c.Advance(time.Millisecond)
	select {
	case <-child.Done():
	default:
		t.Fatal("child not done at the parent's deadline")
	}
	if !errors.Is(ctx.Err(), context.DeadlineExceeded) || !errors.Is(child.Err(), context.DeadlineExceeded) {
		t.Fatalf("Err() = %v, %v; want DeadlineExceeded", ctx.Err(), child.Err())
	}
}

func TestWithDeadlineCancelAndPast(t *testing.T) {
	c := clock.NewFake(time.Unix(1000, 0))
	ctx, cancel := clock.WithTimeout(context.Background(), c, time.Second)
	cancel()
	if !errors.Is(ctx.Err(), context.Canceled) {
		t.Fatalf("Err() after cancel = %v, want Canceled", ctx.Err())
	}
	if c.Pending() != 0 {
		t.Fatalf("cancel left %d timers", c.Pending())
	}
	past, cancelPast := clock.WithTimeout(context.Background(), c, -time.Second)
	defer cancelPast()
	if !errors.Is(past.Err(), context.DeadlineExceeded) {
		t.Fatalf("Err() of a past deadline = %v, want DeadlineExceeded", past.Err())
	}
}

func TestWithDeadlineRealIsStdlib(t *testing.T) {
	ctx, cancel := clock.WithTimeout(context.Background(), clock.Real{}, -time.Second)
	defer cancel()
	if !errors.Is(ctx.Err(), context.DeadlineExceeded) {
		t.Fatalf("Err() = %v, want DeadlineExceeded", ctx.Err())
	}
}

func TestSleep(t *testing.T) {
	c := clock.NewFake(time.Unix(1000, 0))
	done := make(chan error, 1)
	go func() { done <- clock.Sleep(context.Background(), c, time.Second) }()
	for c.Pending() == 0 {
		runtime.Gosched() // wait for the sleeper to register its timer
	}
	select {
	case err := <-done:
		t.Fatalf("Sleep returned %v before the clock moved", err)
	default:
	}
	c.Advance(time.Second)
	if err := <-done; err != nil {
		t.Fatalf("Sleep = %v, want nil", err)
	}

	ctx, cancel := context.WithCancel(context.Background())
	go func() { done <- clock.Sleep(ctx, c, time.Second) }()
	for c.Pending() == 0 {
		runtime.Gosched()
	}
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("Sleep after cancel = %v, want Canceled", err)
	}
	if c.Pending() != 0 {
		t.Fatalf("Sleep left %d timers", c.Pending())
	}
}
