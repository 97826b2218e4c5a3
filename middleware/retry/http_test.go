package retry_test

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-kit/kit/endpoint"

	"github.com/switchyard/switchyard/middleware/retry"
	"github.com/switchyard/switchyard/outcome"
)

// upstream is a real HTTP server on 127.0.0.1 that answers with codes in
// turn (then the last one forever) and counts its requests.
type upstream struct {
	*httptest.Server
	hits  atomic.Int64
	keys  chan string
	codes []int
}

func newUpstream(t *testing.T, codes ...int) *upstream {
	u := &upstream{codes: codes, keys: make(chan string, 16)}
	u.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := int(u.hits.Add(1)) - 1
		_, _ = io.Copy(io.Discard, r.Body)
		select {
		case u.keys <- r.Header.Get(retry.IdempotencyKeyHeader):
		default:
		}
		code := u.codes[min(n, len(u.codes)-1)]
		w.WriteHeader(code)
		_, _ = io.WriteString(w, http.StatusText(code))
	}))
	t.Cleanup(u.Close)
	return u
}

// newClient builds a retrying client on its own transport, closed when the
// test ends so that no connection goroutine outlives it. A nil
// cfg.Backoff is NoBackoff.
func newClient(t *testing.T, b *retry.Budget, cfg retry.Config) *http.Client {
	t.Helper()
	tr := &http.Transport{}
	t.Cleanup(tr.CloseIdleConnections)
	return newClientOn(t, b, tr, cfg)
}

// newClientOn is newClient sending each attempt through base.
func newClientOn(t *testing.T, b *retry.Budget, base http.RoundTripper, cfg retry.Config) *http.Client {
	t.Helper()
	if cfg.Backoff == nil {
		cfg.Backoff = retry.NoBackoff
	}
	r, err := retry.New(b, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return &http.Client{Transport: r.Transport(base)}
}

func do(t *testing.T, c *http.Client, req *http.Request) (int, string) {
	t.Helper()
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

func TestHTTPClientRetriesIdempotentRequests(t *testing.T) {
	for _, tc := range []struct {
		name   string
		method string
		key    string
		ctxKey string
		hits   int64
		code   int
	}{
		{"GET", http.MethodGet, "", "", 3, 200},
		{"PUT", http.MethodPut, "", "", 3, 200},
		{"POST", http.MethodPost, "", "", 1, 503},
		{"PATCH", http.MethodPatch, "", "", 1, 503},
		{"POST with Idempotency-Key", http.MethodPost, "order-1", "", 3, 200},
		{"POST with key in ctx", http.MethodPost, "", "order-2", 3, 200},
	} {
		t.Run(tc.name, func(t *testing.T) {
			u := newUpstream(t, 503, 502, 200)
			c := newClient(t, nil, retry.Config{})
			ctx := context.Background()
			if tc.ctxKey != "" {
				ctx = retry.ContextWithIdempotencyKey(ctx, tc.ctxKey)
			}
			req, _ := http.NewRequestWithContext(ctx, tc.method, u.URL, strings.NewReader(`{"n":1}`))
			if tc.key != "" {
				req.Header.Set(retry.IdempotencyKeyHeader, tc.key)
			}
			code, body := do(t, c, req)
			if code != tc.code || body != http.StatusText(tc.code) || u.hits.Load() != tc.hits {
				t.Fatalf("got %d %q after %d hits, want %d after %d", code, body, u.hits.Load(), tc.code, tc.hits)
			}
			if want := tc.key + tc.ctxKey; want != "" {
				for range tc.hits {
					if k := <-u.keys; k != want {
						t.Fatalf("upstream saw Idempotency-Key %q, want %q", k, want)
					}
				}
			}
			if req.Header.Get(retry.IdempotencyKeyHeader) != tc.key {
				t.Fatal("the client modified the caller's request")
			}
		})
	}
}

func TestHTTPClientDoesNotRetryCallerFaults(t *testing.T) {
	u := newUpstream(t, 404, 200)
	c := newClient(t, nil, retry.Config{})
	req, _ := http.NewRequest(http.MethodGet, u.URL, nil)
	if code, _ := do(t, c, req); code != 404 || u.hits.Load() != 1 {
		t.Fatalf("got %d after %d hits, want 404 after 1", code, u.hits.Load())
	}
}

// TestHTTPClientBudget sends 200 GETs to an upstream that always fails,
// through a budget with no per-second grant: attempts ≤ 1.2 × requests.
func TestHTTPClientBudget(t *testing.T) {
	u := newUpstream(t, 503)
	b := newBudget(t, retry.BudgetConfig{MinPerSecond: -1})
	var exhausted atomic.Int64
	c := newClient(t, b, retry.Config{MaxAttempts: 5, Hooks: retry.Hooks{OnBudgetExhausted: func() { exhausted.Add(1) }}})
	const requests = 200
	for range requests {
		req, _ := http.NewRequest(http.MethodGet, u.URL, nil)
		if code, _ := do(t, c, req); code != 503 {
			t.Fatalf("status %d, want the upstream's 503", code)
		}
	}
	if hits := u.hits.Load(); hits > 1.2*requests || hits < requests+0.2*requests-1 {
		t.Fatalf("%d attempts for %d requests, want 1.2 × requests", hits, requests)
	}
	if exhausted.Load() == 0 {
		t.Fatal("OnBudgetExhausted never called")
	}
}

// TestHTTPClientInsideRetryMiddleware shares one budget between the
// endpoint middleware and the HTTP client it calls through: only the outer
// layer retries, so the upstream sees 3 attempts, not 3 × 3.
func TestHTTPClientInsideRetryMiddleware(t *testing.T) {
	u := newUpstream(t, 503)
	b := newBudget(t, retry.BudgetConfig{})
	c := newClient(t, b, retry.Config{MaxAttempts: 3})
	call := func(ctx context.Context, _ any) (any, error) {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, u.URL, nil)
		resp, err := c.Do(req)
		if err != nil {
			return nil, err
		}
		resp.Body.Close()
		if resp.StatusCode >= 500 {
			return nil, &outcome.StatusError{Status: resp.StatusCode}
		}
		return resp.StatusCode, nil
	}
	var ep endpoint.Endpoint = newMiddleware(t, b, retry.Config{MaxAttempts: 3, Backoff: retry.NoBackoff})(call)
	var se *outcome.StatusError
	if _, err := ep(retry.MarkIdempotent(context.Background()), nil); !errors.As(err, &se) || se.Status != 503 {
		t.Fatalf("error = %v, want 503", err)
	}
	if hits := u.hits.Load(); hits != 3 {
		t.Fatalf("upstream saw %d attempts, want 3", hits)
	}
}

func TestHTTPClientPerTryTimeout(t *testing.T) {
	var hits atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if hits.Add(1) == 1 {
			<-r.Context().Done() // hang until the client gives up on this attempt
			return
		}
		_, _ = io.WriteString(w, "ok")
	}))
	defer srv.Close()
	c := newClient(t, nil, retry.Config{PerTryTimeout: 50 * time.Millisecond})
	req, _ := http.NewRequest(http.MethodGet, srv.URL, nil)
	start := time.Now()
	if code, body := do(t, c, req); code != 200 || body != "ok" || hits.Load() != 2 {
		t.Fatalf("got %d %q after %d hits, want 200 ok after 2", code, body, hits.Load())
	}
	if el := time.Since(start); el < 50*time.Millisecond {
		t.Fatalf("answered after %v, before the per-try timeout", el)
	}
}

func TestHTTPClientStopsAtDeadline(t *testing.T) {
	u := newUpstream(t, 503)
	// A 1 s backoff cannot fit in a 200 ms deadline: one attempt, and the
	// 503 comes back at once rather than a context error later.
	c := newClient(t, nil, retry.Config{Backoff: retry.Exponential, BackoffBase: time.Second, BackoffCap: time.Second})
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, u.URL, nil)
	if code, _ := do(t, c, req); code != 503 || u.hits.Load() != 1 {
		t.Fatalf("got %d after %d hits, want 503 after 1", code, u.hits.Load())
	}
	if ctx.Err() != nil {
		t.Fatal("the client waited for the deadline")
	}
}

func TestHTTPClientRetryAfterBeyondCap(t *testing.T) {
	var hits atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		w.Header().Set("Retry-After", "5")
		w.WriteHeader(http.StatusServiceUnavailable)
	}))
	defer srv.Close()
	c := newClient(t, nil, retry.Config{}) // cap 1 s < 5 s
	req, _ := http.NewRequest(http.MethodGet, srv.URL, nil)
	if code, _ := do(t, c, req); code != 503 || hits.Load() != 1 {
		t.Fatalf("got %d after %d hits, want 503 after 1", code, hits.Load())
	}
}

// TestHTTPClientConnectionErrors points the client at a listener that
// closes every connection at once: each attempt fails with a transport
// error, which is retried, and the error reaches the caller wrapped once.
func TestHTTPClientConnectionErrors(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var accepts atomic.Int64
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			accepts.Add(1)
			conn.Close()
		}
	}()
	defer func() { ln.Close(); <-done }()
	c := newClient(t, nil, retry.Config{})
	_, err = c.Get("http://" + ln.Addr().String() + "/")
	var ue *url.Error
	if !errors.As(err, &ue) || errors.As(ue.Err, new(*url.Error)) {
		t.Fatalf("error = %#v, want one *url.Error around the transport error", err)
	}
	if n := accepts.Load(); n != 3 {
		t.Fatalf("%d connections, want 3 attempts", n)
	}
}
