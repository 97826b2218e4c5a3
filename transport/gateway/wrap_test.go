package gateway_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/switchyard/switchyard/balancer"
	"github.com/switchyard/switchyard/balancer/roundrobin"
	"github.com/switchyard/switchyard/discovery/memory"
	"github.com/switchyard/switchyard/mtls/mtlstest"
	"github.com/switchyard/switchyard/transport/gateway"
)

// wrapLog is a WrapTransport that marks each request with the service its
// wrapper was made for (X-Wrapped-For) and records, per service, the
// transport it was given and every attempt's host and error.
type wrapLog struct {
	mu       sync.Mutex // guards the fields below
	next     map[string][]http.RoundTripper
	attempts map[string][]attempt
}

type attempt struct {
	host string
	err  error
}

func newWrapLog() *wrapLog {
	return &wrapLog{next: map[string][]http.RoundTripper{}, attempts: map[string][]attempt{}}
}

func (l *wrapLog) wrap(service string, next http.RoundTripper) http.RoundTripper {
	l.mu.Lock()
	l.next[service] = append(l.next[service], next)
	l.mu.Unlock()
	return roundTripperFunc(func(r *http.Request) (*http.Response, error) {
		r = r.Clone(r.Context())
		r.Header.Set("X-Wrapped-For", service)
		resp, err := next.RoundTrip(r)
		l.mu.Lock()
		l.attempts[service] = append(l.attempts[service], attempt{r.URL.Host, err})
		l.mu.Unlock()
		return resp, err
	})
}

// countingTransport counts the requests it carries to next.
type countingTransport struct {
	n    atomic.Int64
	next http.RoundTripper
}

func (c *countingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	c.n.Add(1)
	return c.next.RoundTrip(r)
}

// markedServer is a plain HTTP upstream that records the X-Wrapped-For
// header of each request.
func markedServer(t *testing.T) (*httptest.Server, func() []string) {
	t.Helper()
	var (
		mu   sync.Mutex // guards seen
		seen []string
	)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		seen = append(seen, r.Header.Get("X-Wrapped-For"))
		mu.Unlock()
		io.WriteString(w, "ok")
	}))
	t.Cleanup(srv.Close)
	return srv, func() []string {
		mu.Lock()
		defer mu.Unlock()
		return append([]string(nil), seen...)
	}
}

func allEqual(got []string, want string, n int) bool {
	if len(got) != n {
		return false
	}
	for _, g := range got {
		if g != want {
			return false
		}
	}
	return true
}

// TestWrapTransport: without UpstreamTLS, each service's wrapper is made
// once, over the gateway's Transport, and carries that service's requests
// only — two routes to users share users' wrapper.
func TestWrapTransport(t *testing.T) {
	users, usersSeen := markedServer(t)
	catalog, catalogSeen := markedServer(t)
	reg := memory.New()
	defer reg.Close()
	register(t, reg, "users", "users-1", addr(users))
	register(t, reg, "catalog", "catalog-1", addr(catalog))
	base := &countingTransport{next: gateway.NewTransport(8)}
	log := newWrapLog()
	_, url := startGateway(t, reg, []gateway.Route{
		{Pattern: "/users/", Service: "users"},
		{Pattern: "/me", Service: "users"},
		{Pattern: "/catalog/", Service: "catalog"},
	}, nil, gateway.Config{Transport: base, WrapTransport: log.wrap})
	for _, path := range []string{"/users/1", "/me", "/users/2", "/catalog/p", "/catalog/q"} {
		if code, _, _ := status(t, mustGet(t, url+path)); code != http.StatusOK {
			t.Fatalf("GET %s: %d", path, code)
		}
	}
	if got := usersSeen(); !allEqual(got, "users", 3) {
		t.Errorf("users saw X-Wrapped-For %q, want users ×3", got)
	}
	if got := catalogSeen(); !allEqual(got, "catalog", 2) {
		t.Errorf("catalog saw X-Wrapped-For %q, want catalog ×2", got)
	}
	if n := base.n.Load(); n != 5 {
		t.Errorf("Transport carried %d requests, want 5: the wrappers must sit over it", n)
	}
	log.mu.Lock()
	defer log.mu.Unlock()
	for _, s := range []string{"users", "catalog"} {
		if got := log.next[s]; len(got) != 1 || got[0] != http.RoundTripper(base) {
			t.Errorf("WrapTransport(%q, …) calls: %d, next %v; want one, over Transport", s, len(got), got)
		}
	}
}

// TestWrapTransportNil: a wrapper that returns nil fails New.
func TestWrapTransportNil(t *testing.T) {
	reg := memory.New()
	defer reg.Close()
	g, err := gateway.New(context.Background(), reg, []gateway.Route{{Pattern: "/", Service: "users"}}, gateway.Config{
		WrapTransport: func(string, http.RoundTripper) http.RoundTripper { return nil },
	})
	if !errors.Is(err, gateway.ErrConfig) {
		if g != nil {
			g.Close()
		}
		t.Fatalf("New = %v, want ErrConfig", err)
	}
}

// TestWrapTransportWithUpstreamTLS: with UpstreamTLS each wrapper is given
// its service's own TLS transport — a distinct *http.Transport with the
// TLS configuration, never Transport itself — and runs once per attempt,
// below the balancer: it sees the refused handshakes with an impostor
// registered as users (catalog's certificate) at the impostor's address,
// and every request still arrives marked, over TLS, at the genuine
// instance of its own service.
func TestWrapTransportWithUpstreamTLS(t *testing.T) {
	ca := mtlstest.NewCA("shop CA")
	users := serveTLS(t, workload(t, ca, "users"))
	catalog := serveTLS(t, workload(t, ca, "catalog"))
	impostor := serveTLS(t, workload(t, ca, "catalog"))
	reg := memory.New()
	defer reg.Close()
	register(t, reg, "users", "a-impostor", impostor.addr)
	register(t, reg, "users", "b-users", users.addr)
	register(t, reg, "catalog", "catalog-1", catalog.addr)
	base := gateway.NewTransport(8)
	log := newWrapLog()
	g, url := startGateway(t, reg, []gateway.Route{
		{Pattern: "/users/", Service: "users"},
		{Pattern: "/catalog/", Service: "catalog"},
	}, nil, gateway.Config{
		Transport:     base,
		UpstreamTLS:   upstreamTLS(workload(t, ca, "gateway")),
		WrapTransport: log.wrap,
		Policy:        func(string) balancer.Policy { return roundrobin.New() },
		Outlier:       &balancer.OutlierConfig{ConsecutiveFailures: 3, MaxEjectionPercent: 50, BaseEjectionTime: time.Hour},
	})
	for i := range 20 {
		if code, _, _ := status(t, mustGet(t, url+"/users/42")); code != http.StatusOK {
			t.Fatalf("GET users %d: %d", i, code)
		}
	}
	for i := range 5 {
		if code, _, _ := status(t, mustGet(t, url+"/catalog/p")); code != http.StatusOK {
			t.Fatalf("GET catalog %d: %d", i, code)
		}
	}
	if n := impostor.calls.Load(); n != 0 {
		t.Errorf("the impostor served %d requests", n)
	}
	if !hostByID(t, g, "a-impostor").Ejected {
		t.Error("the impostor was not ejected")
	}
	users.mu.Lock()
	if !allEqual(users.wrapped, "users", 20) {
		t.Errorf("users saw X-Wrapped-For %q, want users ×20", users.wrapped)
	}
	users.mu.Unlock()
	catalog.mu.Lock()
	if !allEqual(catalog.wrapped, "catalog", 5) {
		t.Errorf("catalog saw X-Wrapped-For %q, want catalog ×5", catalog.wrapped)
	}
	catalog.mu.Unlock()

	log.mu.Lock()
	defer log.mu.Unlock()
	own := map[string]*http.Transport{}
	for _, s := range []string{"users", "catalog"} {
		if len(log.next[s]) != 1 {
			t.Fatalf("WrapTransport(%q, …) called %d times, want once", s, len(log.next[s]))
		}
		tr, ok := log.next[s][0].(*http.Transport)
		if !ok || tr == base || tr.TLSClientConfig == nil {
			t.Fatalf("%s's wrapper was given %T (%p; Transport is %p), want the service's own TLS transport", s, log.next[s][0], tr, base)
		}
		own[s] = tr
	}
	if own["users"] == own["catalog"] {
		t.Error("users and catalog share a transport")
	}
	var refused, served int
	for _, a := range log.attempts["users"] {
		switch {
		case a.host == impostor.addr && a.err != nil:
			refused++
		case a.host == users.addr && a.err == nil:
			served++
		default:
			t.Errorf("users attempt at %s: %v", a.host, a.err)
		}
	}
	if refused == 0 || served != 20 {
		t.Errorf("users' wrapper saw %d refused handshakes with the impostor and %d answers from users; want some and 20", refused, served)
	}
	for _, a := range log.attempts["catalog"] {
		if a.host != catalog.addr || a.err != nil {
			t.Errorf("catalog attempt at %s: %v", a.host, a.err)
		}
	}
}
