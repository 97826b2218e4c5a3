package ratelimit_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/go-kit/kit/endpoint"

	"github.com/switchyard/switchyard/internal/clock"
	"github.com/switchyard/switchyard/middleware/ratelimit"
)

func TestHandlerAnswers429WithRetryAfter(t *testing.T) {
	// A real server: no synctest bubble, so the limiter runs on a fake
	// clock set through the package's test hook.
	fake := clock.NewFake(t0)
	calls := 0
	l := newLimiter(t, 0.5, 2, ratelimit.Config{HTTPKey: ratelimit.RemoteIP})
	ratelimit.SetClock(l, fake)
	h := l.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { calls++ }))
	srv := httptest.NewServer(h)
	defer srv.Close()
	defer srv.Client().CloseIdleConnections()

	codes := []int{}
	var last *http.Response
	for range 3 {
		resp, err := srv.Client().Get(srv.URL)
		if err != nil {
			t.Fatal(err)
		}
		codes = append(codes, resp.StatusCode)
		if last != nil {
			last.Body.Close()
		}
		last = resp
	}
	defer last.Body.Close()
	if codes[0] != 200 || codes[1] != 200 || codes[2] != 429 || calls != 2 {
		t.Fatalf("codes %v with %d handler calls; want 200 200 429 and 2 calls", codes, calls)
	}
	// Rate 0.5/s: the next token is 2 s away.
	if ra := last.Header.Get("Retry-After"); ra != "2" {
		t.Fatalf("Retry-After %q, want 2", ra)
	}
	if ct := last.Header.Get("Content-Type"); ct != "application/json; charset=utf-8" {
		t.Fatalf("Content-Type %q", ct)
	}
	raw, _ := io.ReadAll(last.Body)
	var body struct {
		Error struct{ Code, Message string }
	}
	if err := json.Unmarshal(raw, &body); err != nil || body.Error.Code != "rate_limited" || body.Error.Message == "" {
		t.Fatalf("body %s (%v)", raw, err)
	}
	fake.Advance(2 * time.Second)
	resp, err := srv.Client().Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("after Retry-After: %d", resp.StatusCode)
	}
}

func TestHandlerKeys(t *testing.T) {
	l := newLimiter(t, 1, 1, ratelimit.Config{HTTPKey: func(r *http.Request) string {
		return r.Header.Get("X-Tenant")
	}})
	h := l.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	do := func(tenant string) int {
		req := httptest.NewRequest("GET", "/", nil)
		req.Header.Set("X-Tenant", tenant)
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		return w.Code
	}
	if a, a2, b := do("a"), do("a"), do("b"); a != 200 || a2 != 429 || b != 200 {
		t.Fatalf("a %d, a again %d, b %d; want 200 429 200", a, a2, b)
	}
}

func TestRemoteIP(t *testing.T) {
	for addr, want := range map[string]string{
		"192.0.2.1:5555":               "192.0.2.1",
		"192.0.2.1":                    "192.0.2.1",
		"[::ffff:192.0.2.1]:80":        "192.0.2.1",
		"[::1]:80":                     "::/64",
		"[2001:db8:1:2::a]:443":        "2001:db8:1:2::/64",
		"[2001:db8:1:2:ffff:1:2:3]:80": "2001:db8:1:2::/64",
		"2001:db8:1:3::a":              "2001:db8:1:3::/64",
		"[fe80::1%eth0]:80":            "fe80::/64",
		"no-port":                      "no-port",
	} {
		if got := ratelimit.RemoteIP(&http.Request{RemoteAddr: addr}); got != want {
			t.Errorf("RemoteIP(%q) = %q, want %q", addr, got, want)
		}
	}
}

// An IPv6 subscriber can take any address of its /64 for each request;
// all of them share one bucket, and a neighbouring /64 has its own.
func TestRemoteIPSharesABucketPerIPv6Slash64(t *testing.T) {
	l := newLimiter(t, 1, 1, ratelimit.Config{HTTPKey: ratelimit.RemoteIP})
	h := l.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	do := func(remote string) int {
		req := httptest.NewRequest("GET", "/", nil)
		req.RemoteAddr = remote
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		return w.Code
	}
	for _, c := range []struct {
		remote string
		want   int
	}{
		{"[2001:db8:1:2::a]:1000", 200},
		{"[2001:db8:1:2::b]:1001", 429}, // same /64
		{"[2001:db8:1:2:8000::1]:1002", 429},
		{"[2001:db8:1:3::a]:1003", 200}, // next /64
		{"192.0.2.1:1004", 200},
		{"192.0.2.2:1005", 200}, // IPv4 stays per address
		{"[::ffff:192.0.2.1]:1006", 429},
	} {
		if got := do(c.remote); got != c.want {
			t.Errorf("%s: %d, want %d", c.remote, got, c.want)
		}
	}
}

func TestEndpoint(t *testing.T) {
	type req struct{ user string }
	ep := newLimiter(t, 1, 1, ratelimit.Config{
		Key: func(_ context.Context, r any) string { return r.(req).user },
	}).Endpoint(endpoint.Nop)
	ctx := context.Background()
	if _, err := ep(ctx, req{"u1"}); err != nil {
		t.Fatal(err)
	}
	if _, err := ep(ctx, req{"u1"}); !errors.Is(err, ratelimit.ErrLimited) {
		t.Fatalf("second call of u1: %v", err)
	}
	if _, err := ep(ctx, req{"u2"}); err != nil {
		t.Fatalf("u2 limited by u1: %v", err)
	}
	global := newLimiter(t, 1, 1, ratelimit.Config{}).Endpoint(endpoint.Nop)
	global(ctx, nil)
	if _, err := global(ctx, nil); !errors.Is(err, ratelimit.ErrLimited) {
		t.Fatalf("global limiter admitted a second call: %v", err)
	}
}
