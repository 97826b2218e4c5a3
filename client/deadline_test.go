package client_test

import (
	"context"
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/switchyard/switchyard/client"
	"github.com/switchyard/switchyard/discovery/memory"
	"github.com/switchyard/switchyard/middleware/deadline"
	shttp "github.com/switchyard/switchyard/transport/http"
)

// TestDeadlineCrossesTheHop checks the deadline plumbing between a client
// endpoint and a server built with NewServer: the server's context gets
// the time the caller has left (never more), work the caller gave up on is
// cancelled on the server, an expired call is not sent at all, and
// WithTimeout bounds calls that come without a deadline.
func TestDeadlineCrossesTheHop(t *testing.T) {
	type seen struct {
		has       bool
		remaining time.Duration
		canceled  bool
	}
	last := make(chan seen, 16)
	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx := r.Context()
		dl, has := ctx.Deadline()
		s := seen{has: has, remaining: time.Until(dl)}
		if r.URL.Query().Has("wait") {
			select {
			case <-ctx.Done():
				s.canceled = true
			case <-time.After(3 * time.Second):
			}
		}
		last <- s
		_ = shttp.EncodeJSONResponse(ctx, w, item{ID: "1"})
	})
	b := newBackend(t, handler)
	reg := memory.New()
	defer reg.Close()
	ctx := context.Background()
	_ = reg.Register(ctx, b.instance("items"))

	newEndpoint := func(path string, cfg client.Config) *client.Endpoint {
		cfg.Idempotent = true
		ce, err := client.New(ctx, reg, "items",
			shttp.NewFactory(http.MethodGet, path, shttp.EncodeJSONRequest, shttp.DecodeJSONResponse[item],
				shttp.WithHTTPClient(newTestClient(t))),
			cfg)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { ce.Close() })
		return ce
	}
	fast := newEndpoint("/", client.Config{})
	slow := newEndpoint("/?wait=1", client.Config{})

	t.Run("the server gets what is left", func(t *testing.T) {
		cctx, cancel := context.WithTimeout(ctx, 500*time.Millisecond)
		defer cancel()
		if _, err := fast.Call(cctx, nil); err != nil {
			t.Fatal(err)
		}
		s := <-last
		if !s.has || s.remaining <= 0 || s.remaining > 500*time.Millisecond {
			t.Fatalf("server saw deadline=%v with %v left, want (0, 500ms]", s.has, s.remaining)
		}
	})

	t.Run("no header, no deadline", func(t *testing.T) {
		plain := newEndpoint("/", client.Config{AttemptTimeout: client.AttemptTimeout{Off: true}})
		if _, err := plain.Call(ctx, nil); err != nil {
			t.Fatal(err)
		}
		if s := <-last; s.has {
			t.Fatalf("server invented a deadline: %v left", s.remaining)
		}
	})

	t.Run("an idempotent attempt's own timeout travels", func(t *testing.T) {
		if _, err := fast.Call(ctx, nil); err != nil {
			t.Fatal(err)
		}
		if s := <-last; !s.has || s.remaining <= 0 || s.remaining > client.DefaultAttemptInitial {
			t.Fatalf("server saw deadline=%v with %v left, want the attempt's (0, %v]", s.has, s.remaining, client.DefaultAttemptInitial)
		}
	})

	t.Run("abandoned work stops on the server", func(t *testing.T) {
		cctx, cancel := context.WithTimeout(ctx, 150*time.Millisecond)
		defer cancel()
		start := time.Now()
		_, err := slow.Call(cctx, nil)
		took := time.Since(start)
		if err == nil || shttp.StatusOf(err) != http.StatusGatewayTimeout {
			t.Fatalf("err %v (status %d), want a 504", err, shttp.StatusOf(err))
		}
		if took > 2*time.Second {
			t.Fatalf("the call took %v with a 150ms deadline", took)
		}
		select {
		case s := <-last:
			if !s.canceled {
				t.Fatal("the server's work was not cancelled")
			}
		case <-time.After(5 * time.Second):
			t.Fatal("the server's handler never finished")
		}
	})

	t.Run("an expired call is not sent", func(t *testing.T) {
		before := b.hits.Load()
		cctx, cancel := context.WithDeadline(ctx, time.Now().Add(-time.Second))
		defer cancel()
		_, err := fast.Call(cctx, nil)
		if !errors.Is(err, deadline.ErrExceeded) || shttp.StatusOf(err) != 504 {
			t.Fatalf("err %v", err)
		}
		if b.hits.Load() != before {
			t.Fatal("an expired call reached the server")
		}
	})

	t.Run("WithTimeout bounds calls without a deadline", func(t *testing.T) {
		bounded := newEndpoint("/", client.Config{Timeout: 200 * time.Millisecond})
		if _, err := bounded.Call(ctx, nil); err != nil {
			t.Fatal(err)
		}
		s := <-last
		if !s.has || s.remaining > 200*time.Millisecond {
			t.Fatalf("server saw deadline=%v with %v left, want ≤ 200ms", s.has, s.remaining)
		}
	})
}
