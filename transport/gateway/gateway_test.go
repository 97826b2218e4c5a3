package gateway_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/switchyard/switchyard/balancer"
	"github.com/switchyard/switchyard/balancer/roundrobin"
	"github.com/switchyard/switchyard/discovery"
	"github.com/switchyard/switchyard/discovery/memory"
	"github.com/switchyard/switchyard/transport/gateway"
)

// backend is a real upstream on 127.0.0.1 that echoes what it received.
type backend struct {
	*httptest.Server
	hits atomic.Int64
}

type echo struct {
	Method, Path, RawPath, Host string
	Header                      http.Header
	Body                        string
}

func newBackend(t *testing.T, name string) *backend {
	t.Helper()
	b := &backend{}
	b.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b.hits.Add(1)
		body, _ := io.ReadAll(r.Body)
		w.Header().Set("X-Backend", name)
		json.NewEncoder(w).Encode(echo{r.Method, r.URL.Path, r.URL.RawPath, r.Host, r.Header, string(body)})
	}))
	t.Cleanup(b.Close)
	return b
}

func addr(s *httptest.Server) string { return strings.TrimPrefix(s.URL, "http://") }

func register(t *testing.T, reg *memory.Registry, service, id, address string) discovery.Instance {
	t.Helper()
	inst := discovery.Instance{ID: id, Service: service, Addr: address}
	if err := reg.Register(context.Background(), inst); err != nil {
		t.Fatal(err)
	}
	return inst
}

func newGateway(t *testing.T, reg *memory.Registry, routes []gateway.Route, cfg gateway.Config) *httptest.Server {
	t.Helper()
	g, err := gateway.New(context.Background(), reg, routes, cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := g.WaitReady(ctx); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(g)
	t.Cleanup(func() { srv.Close(); g.Close() })
	return srv
}

func get(t *testing.T, url string, hdr map[string]string) (*http.Response, echo) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var e echo
	body, _ := io.ReadAll(resp.Body)
	if resp.Header.Get("X-Backend") != "" {
		if err := json.Unmarshal(body, &e); err != nil {
			t.Fatalf("backend body %q: %v", body, err)
		}
	} else {
		resp.Body = io.NopCloser(strings.NewReader(string(body)))
	}
	return resp, e
}

func errorCode(t *testing.T, resp *http.Response) string {
	t.Helper()
	var body struct {
		Error struct{ Code, Message string }
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		t.Fatalf("error body is not JSON: %v", err)
	}
	if body.Error.Message == "" {
		t.Errorf("error %q has no message", body.Error.Code)
	}
	return body.Error.Code
}

func TestRoutingAndRewrite(t *testing.T) {
	reg := memory.New()
	defer reg.Close()
	cat := newBackend(t, "catalog")
	ord := newBackend(t, "orders")
	register(t, reg, "catalog", "c1", addr(cat.Server))
	register(t, reg, "orders", "o1", addr(ord.Server))
	gw := newGateway(t, reg, []gateway.Route{
		{Pattern: "GET /api/v1/products/{id}", Service: "catalog", Rewrite: "/products/{id}"},
		{Pattern: "/api/v1/products", Service: "catalog", Rewrite: "/products"},
		{Pattern: "/api/v1/orders/", Service: "orders"},
		{Pattern: "/files/{path...}", Service: "catalog", Rewrite: "/static/{path...}"},
	}, gateway.Config{})
	cases := []struct {
		path, backend, upstreamPath string
	}{
		{"/api/v1/products/p-1", "catalog", "/products/p-1"},
		{"/api/v1/products/a%20b", "catalog", "/products/a b"},
		{"/api/v1/products", "catalog", "/products"},
		{"/api/v1/orders/o-9/cancel?x=1", "orders", "/api/v1/orders/o-9/cancel"},
		{"/files/css/site.css", "catalog", "/static/css/site.css"},
	}
	for _, c := range cases {
		resp, e := get(t, gw.URL+c.path, nil)
		if resp.StatusCode != 200 || resp.Header.Get("X-Backend") != c.backend || e.Path != c.upstreamPath {
			t.Errorf("%s → %d %s %q, want 200 %s %q", c.path, resp.StatusCode, resp.Header.Get("X-Backend"), e.Path, c.backend, c.upstreamPath)
		}
	}
	resp, _ := get(t, gw.URL+"/api/v2/nothing", nil)
	if resp.StatusCode != http.StatusNotFound || errorCode(t, resp) != gateway.CodeNotFound {
		t.Errorf("unrouted path: %d, want 404 not_found", resp.StatusCode)
	}
}

func TestForwardingHeadersCannotBeForgedOrStripped(t *testing.T) {
	reg := memory.New()
	defer reg.Close()
	be := newBackend(t, "svc")
	register(t, reg, "svc", "s1", addr(be.Server))
	gw := newGateway(t, reg, []gateway.Route{{Pattern: "/", Service: "svc"}}, gateway.Config{})

	// A client naming X-Forwarded-For in Connection asks every proxy on the
	// way to drop it as hop-by-hop; the gateway must still send its own.
	_, e := get(t, gw.URL+"/x", map[string]string{
		"Connection":        "X-Forwarded-For, X-Forwarded-Host, X-Forwarded-Proto, Keep-Alive",
		"X-Forwarded-For":   "6.6.6.6",
		"X-Forwarded-Host":  "evil.example",
		"X-Forwarded-Proto": "https",
		"Forwarded":         "for=6.6.6.6",
		"X-Real-Ip":         "6.6.6.6",
		"Keep-Alive":        "timeout=5",
		"Proxy-Connection":  "keep-alive",
		"Te":                "trailers",
	})
	if got := e.Header.Get("X-Forwarded-For"); got != "127.0.0.1" {
		t.Errorf("X-Forwarded-For at upstream = %q, want the client address 127.0.0.1 only", got)
	}
	if got := e.Header.Get("X-Forwarded-Proto"); got != "http" {
		t.Errorf("X-Forwarded-Proto = %q, want http", got)
	}
	if got := e.Header.Get("X-Forwarded-Host"); got != addr(gw) {
		t.Errorf("X-Forwarded-Host = %q, want %q", got, addr(gw))
	}
	for _, h := range []string{"Keep-Alive", "Proxy-Connection", "Forwarded"} {
		if v := e.Header.Get(h); v != "" {
			t.Errorf("%s reached the upstream: %q", h, v)
		}
	}
}

func TestRequestsCannotReachUnregisteredAddresses(t *testing.T) {
	reg := memory.New()
	defer reg.Close()
	be := newBackend(t, "svc")
	canary := newBackend(t, "canary") // running, but not registered
	register(t, reg, "svc", "s1", addr(be.Server))
	gw := newGateway(t, reg, []gateway.Route{
		{Pattern: "/api/", Service: "svc"},
		{Pattern: "/img/{name}", Service: "svc", Rewrite: "/images/{name}"},
	}, gateway.Config{})
	raw := []string{
		"GET http://" + addr(canary.Server) + "/api/x HTTP/1.1\r\nHost: " + addr(canary.Server) + "\r\n\r\n",
		"GET /api/x HTTP/1.1\r\nHost: " + addr(canary.Server) + "\r\n\r\n",
		"GET /api/../../x HTTP/1.1\r\nHost: gw\r\n\r\n",
		"GET /api/%2e%2e/%2e%2e/x HTTP/1.1\r\nHost: gw\r\n\r\n",
		"GET /api/a%2F..%2F..%2Fx HTTP/1.1\r\nHost: gw\r\n\r\n",
		"GET /img/..%2F..%2Fadmin HTTP/1.1\r\nHost: gw\r\n\r\n",
		"GET /img/%2e%2e HTTP/1.1\r\nHost: gw\r\n\r\n",
		"GET //" + addr(canary.Server) + "/api/x HTTP/1.1\r\nHost: gw\r\n\r\n",
		"GET @" + addr(canary.Server) + "/api/x HTTP/1.1\r\nHost: gw\r\n\r\n",
	}
	for _, req := range raw {
		status, upstreamPath, location := rawRequest(t, addr(gw), req)
		line := strings.SplitN(req, "\r\n", 2)[0]
		switch {
		case status >= 300 && status < 400 && (!strings.HasPrefix(location, "/") || strings.HasPrefix(location, "//")):
			t.Errorf("%s: redirected off-site to %q", line, location)
		case status == 200 && !strings.HasPrefix(upstreamPath, "/api/") && !strings.HasPrefix(upstreamPath, "/images/"):
			t.Errorf("%s: upstream saw %q outside the route", line, upstreamPath)
		case status == 200 && strings.Contains(upstreamPath, ".."):
			t.Errorf("%s: upstream saw a dot segment in %q", line, upstreamPath)
		}
		t.Logf("%s → %d %s", line, status, upstreamPath)
	}
	if n := canary.hits.Load(); n != 0 {
		t.Fatalf("the unregistered server received %d requests", n)
	}
}

// rawRequest writes req verbatim and returns the status, the path the
// upstream saw for a proxied answer, and any redirect location.
func rawRequest(t *testing.T, address, req string) (int, string, string) {
	t.Helper()
	conn, err := net.Dial("tcp", address)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.WriteString(conn, req); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("%q: %v", req, err)
	}
	defer resp.Body.Close()
	var e echo
	if resp.Header.Get("X-Backend") != "" {
		json.NewDecoder(resp.Body).Decode(&e)
	}
	return resp.StatusCode, e.Path, resp.Header.Get("Location")
}

// countingBody is an endless request body that counts what was read.
type countingBody struct{ n atomic.Int64 }

func (c *countingBody) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = 'x'
	}
	c.n.Add(int64(len(p)))
	return len(p), nil
}
func (c *countingBody) Close() error { return nil }

func TestBodyLimit(t *testing.T) {
	reg := memory.New()
	defer reg.Close()
	be := newBackend(t, "svc")
	register(t, reg, "svc", "s1", addr(be.Server))
	const limit = 64 << 10
	g, err := gateway.New(context.Background(), reg, []gateway.Route{{Pattern: "/", Service: "svc"}}, gateway.Config{MaxBodyBytes: limit})
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	g.WaitReady(context.Background())

	// Declared too large: refused before reading anything.
	body := &countingBody{}
	req := httptest.NewRequest(http.MethodPost, "/upload", body)
	req.ContentLength = limit + 1
	rec := httptest.NewRecorder()
	g.ServeHTTP(rec, req)
	if rec.Code != http.StatusRequestEntityTooLarge || body.n.Load() != 0 {
		t.Fatalf("declared oversize: %d after reading %d bytes, want 413 after 0", rec.Code, body.n.Load())
	}
	// Chunked and endless: cut off just past the limit.
	body = &countingBody{}
	req = httptest.NewRequest(http.MethodPost, "/upload", body)
	req.ContentLength = -1
	rec = httptest.NewRecorder()
	g.ServeHTTP(rec, req)
	if rec.Code != http.StatusRequestEntityTooLarge {
		t.Fatalf("chunked oversize: status %d, want 413", rec.Code)
	}
	if n := body.n.Load(); n > limit+4096 {
		t.Fatalf("read %d bytes of an oversize body, limit %d + 4 KiB", n, limit)
	}
	// Within the limit: delivered whole.
	rec = httptest.NewRecorder()
	g.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/upload", strings.NewReader(strings.Repeat("y", limit))))
	var e echo
	json.NewDecoder(rec.Body).Decode(&e)
	if rec.Code != 200 || len(e.Body) != limit {
		t.Fatalf("body at the limit: %d with %d bytes upstream", rec.Code, len(e.Body))
	}
}

func TestRetriesIdempotentRequestsOnAnotherInstance(t *testing.T) {
	reg := memory.New()
	defer reg.Close()
	live := newBackend(t, "live")
	dead := newBackend(t, "dead")
	dead.Close() // registered but refusing connections
	register(t, reg, "svc", "a-dead", addr(dead.Server))
	register(t, reg, "svc", "b-live", addr(live.Server))
	gw := newGateway(t, reg, []gateway.Route{{Pattern: "/", Service: "svc"}}, gateway.Config{Outlier: ptr(balancerConfigNoEjection()), Policy: func(string) balancer.Policy { return roundrobin.New() }})
	for i := range 50 {
		resp, _ := get(t, gw.URL+fmt.Sprintf("/item/%d", i), nil)
		if resp.StatusCode != 200 {
			t.Fatalf("GET %d: status %d; idempotent requests must be retried on the live instance", i, resp.StatusCode)
		}
	}
	// A POST without an idempotency key is never sent twice.
	failed := 0
	for range 50 {
		resp, err := http.Post(gw.URL+"/orders", "application/json", strings.NewReader("{}"))
		if err != nil {
			t.Fatal(err)
		}
		if resp.StatusCode == http.StatusBadGateway {
			if errorCode(t, resp) != gateway.CodeUpstreamFailed {
				t.Error("502 without upstream_failed code")
			}
			failed++
		}
		resp.Body.Close()
	}
	if failed == 0 {
		t.Fatal("no POST reached the dead instance: the test proves nothing")
	}
}

func TestNoUpstreamAndDeadline(t *testing.T) {
	reg := memory.New()
	defer reg.Close()
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-time.After(5 * time.Second):
		}
	}))
	defer slow.Close()
	register(t, reg, "slow", "s1", addr(slow))
	gw := newGateway(t, reg, []gateway.Route{
		{Pattern: "/empty/", Service: "nobody"},
		{Pattern: "/slow/", Service: "slow", Timeout: 100 * time.Millisecond},
	}, gateway.Config{})
	resp, _ := get(t, gw.URL+"/empty/x", nil)
	if resp.StatusCode != http.StatusServiceUnavailable || errorCode(t, resp) != gateway.CodeNoUpstream {
		t.Errorf("no instances: %d, want 503 no_healthy_upstream", resp.StatusCode)
	}
	start := time.Now()
	resp, _ = get(t, gw.URL+"/slow/x", nil)
	if resp.StatusCode != http.StatusGatewayTimeout || errorCode(t, resp) != gateway.CodeDeadline {
		t.Errorf("slow upstream: %d, want 504 deadline_exceeded", resp.StatusCode)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("504 took %v", d)
	}
}

func TestInvalidRoutes(t *testing.T) {
	reg := memory.New()
	defer reg.Close()
	bad := [][]gateway.Route{
		{{Pattern: "/a", Service: ""}},
		{{Pattern: "/a/{id}", Service: "s", Rewrite: "/b/{other}"}},
		{{Pattern: "/a/{id}", Service: "s", Rewrite: "b/{id}"}},
		{{Pattern: "/a/{id}", Service: "s", Rewrite: "/b/../{id}"}},
		{{Pattern: "/a/{rest...}", Service: "s", Rewrite: "/b/{rest...}/c"}},
		{{Pattern: "/a", Service: "s"}, {Pattern: "/a", Service: "t"}},
		{{Pattern: "GET /a/{x", Service: "s"}},
	}
	for _, routes := range bad {
		if g, err := gateway.New(context.Background(), reg, routes, gateway.Config{}); err == nil {
			g.Close()
			t.Errorf("routes %+v accepted", routes)
		}
	}
}

func TestCloseLeavesNoGoroutines(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	reg := memory.New()
	defer reg.Close()
	g, err := gateway.New(context.Background(), reg, []gateway.Route{{Pattern: "/", Service: "svc"}, {Pattern: "/b/", Service: "other"}}, gateway.Config{})
	if err != nil {
		t.Fatal(err)
	}
	g.Close()
}

func TestTLSTermination(t *testing.T) {
	reg := memory.New()
	defer reg.Close()
	be := newBackend(t, "svc")
	register(t, reg, "svc", "s1", addr(be.Server))
	g, err := gateway.New(context.Background(), reg, []gateway.Route{{Pattern: "/", Service: "svc"}}, gateway.Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	g.WaitReady(context.Background())
	srv := httptest.NewTLSServer(g)
	defer srv.Close()
	resp, err := srv.Client().Get(srv.URL + "/secure")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var e echo
	json.NewDecoder(resp.Body).Decode(&e)
	if resp.StatusCode != 200 || resp.TLS == nil {
		t.Fatalf("status %d, TLS %v", resp.StatusCode, resp.TLS != nil)
	}
	if got := e.Header.Get("X-Forwarded-Proto"); got != "https" {
		t.Fatalf("X-Forwarded-Proto at the upstream = %q, want https", got)
	}
}

// A hung instance must count as failing: the route timeout is the
// upstream's fault, so outlier detection ejects it.
func TestRouteTimeoutCountsAgainstTheInstance(t *testing.T) {
	reg := memory.New()
	defer reg.Close()
	hung := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		<-r.Context().Done()
	}))
	defer hung.Close()
	live := newBackend(t, "live")
	register(t, reg, "svc", "a-hung", addr(hung))
	register(t, reg, "svc", "b-live", addr(live.Server))
	g, err := gateway.New(context.Background(), reg, []gateway.Route{{Pattern: "/", Service: "svc", Timeout: 50 * time.Millisecond, Retries: -1}}, gateway.Config{Policy: func(string) balancer.Policy { return roundrobin.New() }, Outlier: &balancer.OutlierConfig{ConsecutiveFailures: 2, MaxEjectionPercent: 50}})
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	g.WaitReady(context.Background())
	srv := httptest.NewServer(g)
	defer srv.Close()
	timeouts := 0
	for range 20 {
		resp, _ := get(t, srv.URL+"/x", nil)
		if resp.StatusCode == http.StatusGatewayTimeout {
			timeouts++
		}
	}
	if timeouts == 0 || timeouts > 2 {
		t.Fatalf("%d of 20 requests timed out; want the hung instance ejected after 2", timeouts)
	}
	for _, up := range g.Upstreams() {
		for _, h := range up.Hosts {
			if h.Instance.ID == "a-hung" && !h.Ejected {
				t.Fatal("the hung instance was not ejected")
			}
		}
	}
}
