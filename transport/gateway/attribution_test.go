package gateway_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/switchyard/switchyard/balancer"
	"github.com/switchyard/switchyard/discovery"
	"github.com/switchyard/switchyard/discovery/memory"
	"github.com/switchyard/switchyard/middleware/circuitbreaker"
	"github.com/switchyard/switchyard/transport/gateway"
)

// attributionRig is a real gateway on a real listener in front of two
// real instances that read whole bodies, with the most sensitive settings
// there are: one counted failure ejects an instance and opens its breaker.
type attributionRig struct {
	gw       *gateway.Gateway
	url      string
	addr     string
	breakers *circuitbreaker.Group
	hosts    []string
	inflight atomic.Int64
}

const rigMaxBody = 4 << 10

func newAttributionRig(tb testing.TB) *attributionRig {
	tb.Helper()
	rig := &attributionRig{}
	reg := memory.New()
	tb.Cleanup(func() { reg.Close() })
	for i := range 2 {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if _, err := io.Copy(io.Discard, r.Body); err != nil {
				// What a careless upstream does with a body that broke in
				// transit; it must not be held against it.
				http.Error(w, "bad body", http.StatusInternalServerError)
				return
			}
			w.Write([]byte(`{"ok":true}`))
		}))
		tb.Cleanup(srv.Close)
		host := strings.TrimPrefix(srv.URL, "http://")
		rig.hosts = append(rig.hosts, host)
		if err := reg.Register(context.Background(), discoveryInstance("svc", fmt.Sprintf("i%d", i), host)); err != nil {
			tb.Fatal(err)
		}
	}
	breakers, err := circuitbreaker.NewGroup(circuitbreaker.GroupConfig{
		Breaker: circuitbreaker.Config{ConsecutiveFailures: 1, Timeout: time.Hour},
	})
	if err != nil {
		tb.Fatal(err)
	}
	rig.breakers = breakers
	tr := gateway.NewTransport(16)
	tb.Cleanup(tr.CloseIdleConnections)
	counting := func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			rig.inflight.Add(1)
			defer rig.inflight.Add(-1)
			next.ServeHTTP(w, r)
		})
	}
	g, err := gateway.New(context.Background(), reg, []gateway.Route{
		{Pattern: "POST /login", Service: "svc"},
		{Pattern: "POST /orders", Service: "svc"},
		{Pattern: "GET /products", Service: "svc"},
	}, gateway.Config{Transport: rig.breakers.Transport(tr), MaxBodyBytes: rigMaxBody, Classifier: circuitbreaker.SkipRejections(nil), Outlier: &balancer.OutlierConfig{ConsecutiveFailures: 1, MaxEjectionPercent: 100}, Middleware: []func(http.Handler) http.Handler{counting}, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		tb.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := g.WaitReady(ctx); err != nil {
		tb.Fatal(err)
	}
	srv := httptest.NewServer(g)
	tb.Cleanup(func() { srv.Close(); g.Close() })
	rig.gw, rig.url, rig.addr = g, srv.URL, strings.TrimPrefix(srv.URL, "http://")
	return rig
}

// send writes raw bytes to the gateway, half-closes the connection (or,
// with abandon, closes it at once) and returns the status of the first
// response, or 0 when there was none.
func (rig *attributionRig) send(tb testing.TB, raw string, abandon bool) int {
	tb.Helper()
	conn, err := net.Dial("tcp", rig.addr)
	if err != nil {
		tb.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.WriteString(conn, raw); err != nil {
		return 0
	}
	if abandon {
		return 0
	}
	conn.(*net.TCPConn).CloseWrite()
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		return 0
	}
	resp.Body.Close()
	return resp.StatusCode
}

// settle waits until the gateway has finished every request, abandoned
// ones included, so that their outcomes have been recorded.
func (rig *attributionRig) settle(tb testing.TB) {
	tb.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for rig.inflight.Load() != 0 {
		if time.Now().After(deadline) {
			tb.Fatalf("%d requests still in the gateway", rig.inflight.Load())
		}
		time.Sleep(time.Millisecond)
	}
}

// assertNothingCounted fails if any instance was blamed for anything:
// a server failure in the balancer, an ejection, or a breaker failure.
func (rig *attributionRig) assertNothingCounted(tb testing.TB, after string) {
	tb.Helper()
	rig.settle(tb)
	for _, up := range rig.gw.Upstreams() {
		for _, h := range up.Hosts {
			if h.Failures != 0 || h.ConsecutiveFailures != 0 || h.Ejected || h.Ejections != 0 {
				tb.Fatalf("after %s: instance %s was blamed: %+v", after, h.Instance.ID, h)
			}
		}
	}
	for _, host := range rig.hosts {
		b := rig.breakers.Get(host)
		if c := b.Counts(); c.Failures != 0 || b.State() != circuitbreaker.Closed {
			tb.Fatalf("after %s: breaker of %s is %v with counts %+v", after, host, b.State(), c)
		}
	}
}

func chunked(path string, chunks ...string) string {
	return "POST " + path + " HTTP/1.1\r\nHost: shop\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n" + strings.Join(chunks, "")
}

func withLength(path string, length int, body string) string {
	return fmt.Sprintf("POST %s HTTP/1.1\r\nHost: shop\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s", path, length, body)
}

// TestClientFaultsNeverCountAgainstInstances sends many requests whose
// bodies are broken, truncated, oversized or abandoned, through raw
// sockets, and checks that each is answered as the client's fault (or not
// at all, when the client left), that no instance's failure counters,
// breaker or ejection state moved, and that well-formed requests are still
// answered normally.
func TestClientFaultsNeverCountAgainstInstances(t *testing.T) {
	rig := newAttributionRig(t)
	big := strings.Repeat("x", 1000)
	cases := []struct {
		name    string
		raw     string
		abandon bool
		want    int // 0: no answer expected
	}{
		{"broken chunked framing", chunked("/login", "5\r\n{\"ema\r\n", "zz\r\n"), false, http.StatusBadRequest},
		{"chunk size beyond its data", chunked("/orders", "ff\r\n{\"items\":[]}\r\n0\r\n\r\n"), false, http.StatusBadRequest},
		{"chunked body over the limit", chunked("/orders", strings.Repeat(fmt.Sprintf("%x\r\n%s\r\n", len(big), big), 6), "0\r\n\r\n"), false, http.StatusRequestEntityTooLarge},
		{"declared length over the limit", withLength("/orders", rigMaxBody+1, "{}"), false, http.StatusRequestEntityTooLarge},
		{"truncated body", withLength("/login", 100, `{"email":"a@b.c"`), false, http.StatusBadRequest},
		{"abandoned upload", withLength("/login", 5000, `{"email":"a@b.c"`), true, 0},
		{"abandoned chunked upload", chunked("/orders", "10\r\n{\"items\":[1,2,3]"), true, 0},
		{"abandoned right after the headers", withLength("/orders", 10, ""), true, 0},
	}
	for round := range 5 {
		for _, c := range cases {
			for range 4 {
				// A half-closed connection may be taken for a hang-up
				// (net/http cancels the request when it reads EOF): then
				// the answer is 499, still the client's side.
				if got := rig.send(t, c.raw, c.abandon); c.want != 0 && got != c.want && got != gateway.StatusClientClosed {
					t.Fatalf("round %d, %s: status %d, want %d", round, c.name, got, c.want)
				}
			}
		}
		rig.assertNothingCounted(t, fmt.Sprintf("round %d", round))
	}
	// Well-formed requests on the same routes are served by both
	// instances, neither of which was ejected.
	for i := range 20 {
		resp, err := http.Post(rig.url+"/login", "application/json", strings.NewReader(`{"email":"a@b.c","password":"pw"}`))
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("well-formed request %d: status %d", i, resp.StatusCode)
		}
	}
	resp, err := http.Get(rig.url + "/products")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET after the attack: status %d", resp.StatusCode)
	}
	rig.assertNothingCounted(t, "well-formed requests")
}

// FuzzRequestBytes sends arbitrary bytes to a real gateway in front of two
// healthy instances: whatever the client sends, no instance is ever
// blamed for it.
func FuzzRequestBytes(f *testing.F) {
	for _, seed := range []string{
		"GET /products HTTP/1.1\r\nHost: shop\r\n\r\n",
		chunked("/login", "5\r\n{\"ema\r\n", "zz\r\n"),
		chunked("/orders", "3\r\n{}\n\r\n0\r\n\r\n"),
		withLength("/login", 100, `{"email"`),
		withLength("/orders", 2, "{}") + "GET /products HTTP/1.1\r\nHost: shop\r\n\r\n",
		"POST /login HTTP/1.1\r\nHost: shop\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n0\r\n\r\n",
		"POST /orders HTTP/1.1\r\nHost: shop\r\nExpect: 100-continue\r\nContent-Length: 10\r\n\r\n",
	} {
		f.Add(seed)
	}
	rig := newAttributionRig(f)
	f.Fuzz(func(t *testing.T, raw string) {
		rig.send(t, raw, false)
		rig.assertNothingCounted(t, fmt.Sprintf("%q", raw))
	})
}

func discoveryInstance(service, id, address string) discovery.Instance {
	return discovery.Instance{ID: id, Service: service, Addr: address}
}
