package gateway_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/switchyard/switchyard/balancer"
	"github.com/switchyard/switchyard/balancer/roundrobin"
	"github.com/switchyard/switchyard/client"
	"github.com/switchyard/switchyard/discovery/memory"
	"github.com/switchyard/switchyard/internal/brokenreq"
	"github.com/switchyard/switchyard/middleware/circuitbreaker"
	"github.com/switchyard/switchyard/middleware/deadline"
	"github.com/switchyard/switchyard/middleware/retry"
	"github.com/switchyard/switchyard/transport/gateway"
)

func hostByID(t *testing.T, g *gateway.Gateway, id string) balancer.HostState {
	t.Helper()
	for _, up := range g.Upstreams() {
		for _, h := range up.Hosts {
			if h.Instance.ID == id {
				return h
			}
		}
	}
	t.Fatalf("no host %s", id)
	return balancer.HostState{}
}

func startGateway(t *testing.T, reg *memory.Registry, routes []gateway.Route, wrap func(http.Handler) http.Handler, cfg gateway.Config) (*gateway.Gateway, string) {
	t.Helper()
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	g, err := gateway.New(context.Background(), reg, routes, cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := g.WaitReady(ctx); err != nil {
		t.Fatal(err)
	}
	var h http.Handler = g
	if wrap != nil {
		h = wrap(g)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(func() { srv.Close(); g.Close() })
	return g, srv.URL
}

func status(t *testing.T, req *http.Request) (int, http.Header, time.Duration) {
	t.Helper()
	start := time.Now()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode, resp.Header, time.Since(start)
}

func mustGet(t *testing.T, url string, hdr ...string) *http.Request {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		if hdr[i+1] == "" {
			continue
		}
		req.Header.Set(hdr[i], hdr[i+1])
	}
	return req
}

// TestServerErrorsAreRetriedForIdempotentRequests: an instance that
// answers 500 to everything sits beside a healthy one; no reader ever sees
// its 500, and outlier detection still learns from it.
func TestServerErrorsAreRetriedForIdempotentRequests(t *testing.T) {
	reg := memory.New()
	defer reg.Close()
	sick := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "broken", http.StatusInternalServerError)
	}))
	defer sick.Close()
	live := newBackend(t, "live")
	register(t, reg, "svc", "a-sick", addr(sick))
	register(t, reg, "svc", "b-live", addr(live.Server))
	budget, err := retry.NewBudget(retry.BudgetConfig{})
	if err != nil {
		t.Fatal(err)
	}
	g, url := startGateway(t, reg, []gateway.Route{{Pattern: "/", Service: "svc"}}, nil, gateway.Config{Policy: func(string) balancer.Policy { return roundrobin.New() }, Budget: func(string) gateway.Budget { return budget }, Outlier: &balancer.OutlierConfig{ConsecutiveFailures: 3, MaxEjectionPercent: 50}})
	for i := range 50 {
		if code, _, _ := status(t, mustGet(t, url+"/x")); code != http.StatusOK {
			t.Fatalf("GET %d: status %d; a 500 from one instance must be retried on another", i, code)
		}
	}
	if !hostByID(t, g, "a-sick").Ejected {
		t.Fatal("the instance answering 500 was not ejected")
	}
}

// TestServerErrorsReachNonIdempotentCallers: a POST without an
// Idempotency-Key may not be sent twice, so it gets the instance's 500.
func TestServerErrorsReachNonIdempotentCallers(t *testing.T) {
	reg := memory.New()
	defer reg.Close()
	sick := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "broken", http.StatusInternalServerError)
	}))
	defer sick.Close()
	register(t, reg, "svc", "a-sick", addr(sick))
	_, url := startGateway(t, reg, []gateway.Route{{Pattern: "/", Service: "svc"}}, nil, gateway.Config{})
	req, err := http.NewRequest(http.MethodPost, url+"/x", strings.NewReader("{}"))
	if err != nil {
		t.Fatal(err)
	}
	if code, _, _ := status(t, req); code != http.StatusInternalServerError {
		t.Fatalf("POST: status %d, want the instance's 500", code)
	}
}

// TestHungInstanceCostsOneAttemptTimeout: with an instance that accepts
// connections and never answers, every read is answered by the live one
// after at most an attempt timeout — far less than the route's budget —
// and the hung one is ejected.
func TestHungInstanceCostsOneAttemptTimeout(t *testing.T) {
	reg := memory.New()
	defer reg.Close()
	live := newBackend(t, "live")
	register(t, reg, "svc", "a-hung", brokenreq.Hung(t))
	register(t, reg, "svc", "b-live", addr(live.Server))
	g, url := startGateway(t, reg, []gateway.Route{{Pattern: "/", Service: "svc", Timeout: 30 * time.Second}}, nil, gateway.Config{Policy: func(string) balancer.Policy { return roundrobin.New() }, AttemptTimeout: client.AttemptTimeout{Floor: 100 * time.Millisecond, Initial: 200 * time.Millisecond}, Outlier: &balancer.OutlierConfig{ConsecutiveFailures: 3, MaxEjectionPercent: 50}})
	var slowest time.Duration
	for i := range 20 {
		code, _, took := status(t, mustGet(t, url+"/x"))
		if code != http.StatusOK {
			t.Fatalf("GET %d: status %d", i, code)
		}
		slowest = max(slowest, took)
	}
	// Generous bound: one attempt timeout (200ms) plus the retry, on a
	// loaded machine; the route's budget is 30s.
	if slowest > 5*time.Second {
		t.Fatalf("slowest read took %v: the hung instance held it for the route's budget", slowest)
	}
	if !hostByID(t, g, "a-hung").Ejected {
		t.Fatal("the hung instance was not ejected")
	}
}

// TestRouteTimeoutUnderAnEqualServerDeadline: the request already carries
// the server's own default deadline (deadline's Handler, as a service's edge
// sets it) equal to the route's timeout. When they fire, the hung
// instance is still blamed and ejected; and a client's deadline header
// asking for more than the route's budget changes nothing.
func TestRouteTimeoutUnderAnEqualServerDeadline(t *testing.T) {
	for _, header := range []string{"", "300000"} {
		t.Run("header="+header, func(t *testing.T) {
			reg := memory.New()
			defer reg.Close()
			live := newBackend(t, "live")
			register(t, reg, "svc", "a-hung", brokenreq.Hung(t))
			register(t, reg, "svc", "b-live", addr(live.Server))
			const budget = 100 * time.Millisecond
			dl, err := deadline.New(deadline.Config{Default: budget, Max: budget})
			if err != nil {
				t.Fatal(err)
			}
			edge := dl.Handler
			g, url := startGateway(t, reg, []gateway.Route{{Pattern: "/", Service: "svc", Timeout: budget, Retries: -1}}, edge, gateway.Config{Policy: func(string) balancer.Policy { return roundrobin.New() }, Outlier: &balancer.OutlierConfig{ConsecutiveFailures: 2, MaxEjectionPercent: 50}})
			timeouts := 0
			for range 20 {
				code, _, _ := status(t, mustGet(t, url+"/x", deadline.Header, header))
				if code == http.StatusGatewayTimeout {
					timeouts++
				}
			}
			if timeouts == 0 || timeouts > 2 {
				t.Fatalf("%d of 20 requests timed out; want the hung instance ejected after 2", timeouts)
			}
			if !hostByID(t, g, "a-hung").Ejected {
				t.Fatal("the hung instance was not ejected")
			}
		})
	}
}

// TestEveryBreakerOpenAnswers503: when every instance's breaker is open
// the service is overloaded, not broken: 503 with Retry-After.
func TestEveryBreakerOpenAnswers503(t *testing.T) {
	reg := memory.New()
	defer reg.Close()
	sick := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "broken", http.StatusServiceUnavailable)
	}))
	defer sick.Close()
	register(t, reg, "svc", "a", addr(sick))
	breakers, err := circuitbreaker.NewGroup(circuitbreaker.GroupConfig{
		Breaker: circuitbreaker.Config{ConsecutiveFailures: 1, Timeout: time.Minute},
	})
	if err != nil {
		t.Fatal(err)
	}
	tr := gateway.NewTransport(4)
	defer tr.CloseIdleConnections()
	_, url := startGateway(t, reg, []gateway.Route{{Pattern: "/", Service: "svc"}}, nil, gateway.Config{Transport: breakers.Transport(tr), Classifier: circuitbreaker.SkipRejections(nil), Outlier: &balancer.OutlierConfig{DisableConsecutive: true, DisableSuccessRate: true, DisableFailurePercentage: true}})
	if code, _, _ := status(t, mustGet(t, url+"/x")); code != http.StatusServiceUnavailable {
		t.Fatalf("first request: status %d, want the instance's own 503", code)
	}
	code, hdr, _ := status(t, mustGet(t, url+"/x"))
	if code != http.StatusServiceUnavailable || hdr.Get("Retry-After") == "" {
		t.Fatalf("with the breaker open: status %d, Retry-After %q; want 503 with Retry-After", code, hdr.Get("Retry-After"))
	}
	if hdr.Get("Retry-After") != "60" {
		t.Fatalf("Retry-After %q, want the breaker's 60 seconds", hdr.Get("Retry-After"))
	}
}

// TestAttemptTimeoutCoversOnlyTheWaitForAnAnswer: a healthy instance that
// answers at once and then streams its body for longer than the attempt
// timeout is not cut off, and nothing counts against it.
func TestAttemptTimeoutCoversOnlyTheWaitForAnAnswer(t *testing.T) {
	reg := memory.New()
	defer reg.Close()
	streaming := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		for range 6 {
			w.Write([]byte(strings.Repeat("x", 100)))
			w.(http.Flusher).Flush()
			time.Sleep(100 * time.Millisecond) // a real server streaming; not a timer under test
		}
	}))
	defer streaming.Close()
	register(t, reg, "svc", "a", addr(streaming))
	register(t, reg, "svc", "b", addr(streaming))
	g, url := startGateway(t, reg, []gateway.Route{{Pattern: "/", Service: "svc"}}, nil, gateway.Config{AttemptTimeout: client.AttemptTimeout{Floor: 50 * time.Millisecond, Initial: 100 * time.Millisecond}})
	for i := range 3 {
		resp, err := http.Get(url + "/stream")
		if err != nil {
			t.Fatal(err)
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil || resp.StatusCode != http.StatusOK || len(body) != 600 {
			t.Fatalf("stream %d: status %d, %d bytes, %v; want the whole 600", i, resp.StatusCode, len(body), err)
		}
	}
	for _, id := range []string{"a", "b"} {
		if h := hostByID(t, g, id); h.Failures != 0 || h.Ejected {
			t.Fatalf("streaming instance %s was blamed: %+v", id, h)
		}
	}
}

// TestSlowReaderIsNotTheInstancesFault: a client that asks for a large
// answer and does not read it until the route's budget has run out has
// its response cut off, and the instance, which answered at once, is not
// blamed.
func TestSlowReaderIsNotTheInstancesFault(t *testing.T) {
	reg := memory.New()
	defer reg.Close()
	big := strings.Repeat("y", 8<<20)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, big)
	}))
	defer srv.Close()
	register(t, reg, "svc", "a", addr(srv))
	g, url := startGateway(t, reg, []gateway.Route{{Pattern: "/", Service: "svc", Timeout: 200 * time.Millisecond}}, nil, gateway.Config{Outlier: &balancer.OutlierConfig{ConsecutiveFailures: 1, MaxEjectionPercent: 100}})
	host := strings.TrimPrefix(url, "http://")
	for range 3 {
		conn, err := net.Dial("tcp", host)
		if err != nil {
			t.Fatal(err)
		}
		io.WriteString(conn, "GET /big HTTP/1.1\r\nHost: x\r\n\r\n")
		time.Sleep(500 * time.Millisecond) // the client does not read: real I/O, not a timer under test
		io.Copy(io.Discard, conn)
		conn.Close()
	}
	waitIdle(t, g, "a")
	if h := hostByID(t, g, "a"); h.Failures != 0 || h.Ejected {
		t.Fatalf("the instance was blamed for a slow reader: %+v", h)
	}
}

// waitIdle waits until the gateway has finished every call to instance id.
func waitIdle(t *testing.T, g *gateway.Gateway, id string) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); hostByID(t, g, id).InFlight != 0; {
		if time.Now().After(deadline) {
			t.Fatalf("calls to %s still in flight", id)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestIdempotentRequestWithABodyIsRetried: a PUT (idempotent) with a small
// body that one instance answers 500 is sent again, body and all, to the
// other, and the client sees its answer.
func TestIdempotentRequestWithABodyIsRetried(t *testing.T) {
	reg := memory.New()
	defer reg.Close()
	sick := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		http.Error(w, "broken", http.StatusInternalServerError)
	}))
	defer sick.Close()
	live := newBackend(t, "live")
	register(t, reg, "svc", "a-sick", addr(sick))
	register(t, reg, "svc", "b-live", addr(live.Server))
	_, url := startGateway(t, reg, []gateway.Route{{Pattern: "/", Service: "svc"}}, nil, gateway.Config{Policy: func(string) balancer.Policy { return roundrobin.New() }})
	for i := range 6 {
		for _, chunked := range []bool{false, true} {
			var body io.Reader = strings.NewReader(`{"n":1}`)
			if chunked {
				body = io.MultiReader(body) // unknown length: sent chunked
			}
			req, err := http.NewRequest(http.MethodPut, url+"/things/1", body)
			if err != nil {
				t.Fatal(err)
			}
			resp, e := get2(t, req)
			if resp.StatusCode != http.StatusOK || e.Body != `{"n":1}` {
				t.Fatalf("PUT %d (chunked %v): status %d, upstream saw body %q", i, chunked, resp.StatusCode, e.Body)
			}
		}
	}
}

func get2(t *testing.T, req *http.Request) (*http.Response, echo) {
	t.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var e echo
	if resp.Header.Get("X-Backend") != "" {
		if err := json.NewDecoder(resp.Body).Decode(&e); err != nil {
			t.Fatal(err)
		}
	}
	return resp, e
}

// TestOuterDeadlineIsATimeoutNotAHangUp: when a deadline set in front of
// the gateway runs out, the client is answered 504, not the 499 of a
// client that hung up.
func TestOuterDeadlineIsATimeoutNotAHangUp(t *testing.T) {
	reg := memory.New()
	defer reg.Close()
	register(t, reg, "svc", "hung", brokenreq.Hung(t))
	outer := func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			ctx, cancel := context.WithTimeout(r.Context(), 100*time.Millisecond)
			defer cancel()
			next.ServeHTTP(w, r.WithContext(ctx))
		})
	}
	_, url := startGateway(t, reg, []gateway.Route{{Pattern: "/", Service: "svc", Retries: -1}}, outer, gateway.Config{})
	if code, _, _ := status(t, mustGet(t, url+"/x")); code != http.StatusGatewayTimeout {
		t.Fatalf("status %d, want 504", code)
	}
}
