package balancer_test

import (
	"context"
	"errors"
	"testing"
	"testing/synctest"
	"time"

	"github.com/switchyard/switchyard/balancer"
	"github.com/switchyard/switchyard/balancer/roundrobin"
	"github.com/switchyard/switchyard/discovery"
)

func TestWaitHosts(t *testing.T) {
	inst := discovery.Instance{ID: "a", Service: "svc", Addr: "10.0.0.1:80"}
	newBalancer := func(t *testing.T) *balancer.Balancer {
		b, err := balancer.New(roundrobin.New(), balancer.Config{})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { b.Close() })
		return b
	}
	// wait runs WaitHosts in the bubble and returns its result channel.
	wait := func(ctx context.Context, b *balancer.Balancer) <-chan error {
		done := make(chan error, 1)
		go func() { done <- b.WaitHosts(ctx) }()
		return done
	}
	pending := func(t *testing.T, done <-chan error, when string) {
		t.Helper()
		synctest.Wait()
		select {
		case err := <-done:
			t.Fatalf("%s: WaitHosts returned %v, want it still waiting", when, err)
		default:
		}
	}

	t.Run("waits for a non-empty update", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			b := newBalancer(t)
			done := wait(t.Context(), b)
			pending(t, done, "no update")
			b.Update(nil) // the first update is empty: WaitReady is done, WaitHosts is not
			if err := b.WaitReady(t.Context()); err != nil {
				t.Fatal(err)
			}
			pending(t, done, "empty update")
			b.Update([]discovery.Instance{inst})
			if err := <-done; err != nil {
				t.Fatalf("WaitHosts = %v after a host joined", err)
			}
			// With a host it returns at once.
			if err := b.WaitHosts(t.Context()); err != nil {
				t.Fatal(err)
			}
		})
	})
	t.Run("ctx ends", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			b := newBalancer(t)
			ctx, cancel := context.WithTimeout(t.Context(), time.Second)
			defer cancel()
			start := time.Now()
			err := b.WaitHosts(ctx)
			if !errors.Is(err, context.DeadlineExceeded) || time.Since(start) != time.Second {
				t.Fatalf("WaitHosts = %v after %v, want the deadline after 1s", err, time.Since(start))
			}
		})
	})
	t.Run("closed", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			b := newBalancer(t)
			done := wait(t.Context(), b)
			pending(t, done, "open")
			b.Close()
			if err := <-done; !errors.Is(err, balancer.ErrNoHosts) {
				t.Fatalf("WaitHosts = %v on Close, want ErrNoHosts", err)
			}
			if err := b.WaitHosts(t.Context()); !errors.Is(err, balancer.ErrNoHosts) {
				t.Fatalf("WaitHosts after Close = %v, want ErrNoHosts", err)
			}
		})
	})
}
