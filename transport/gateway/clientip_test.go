package gateway_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/textproto"
	"strings"
	"testing"
	"time"

	"golang.org/x/time/rate"

	"github.com/switchyard/switchyard/discovery"
	"github.com/switchyard/switchyard/discovery/memory"
	"github.com/switchyard/switchyard/middleware/ratelimit"
	"github.com/switchyard/switchyard/transport/gateway"
)

// identityHeaders are headers a client might forge to claim an address or
// an identity; none may reach an upstream.
var identityHeaders = []string{
	"X-Forwarded-For", "X-Forwarded-Host", "X-Forwarded-Proto", "X-Forwarded-Port",
	"X-Forwarded-Prefix", "X-Forwarded-Server", "Forwarded", "X-Real-Ip", "True-Client-Ip",
	"X-Client-Ip", "Client-Ip", "X-Cluster-Client-Ip", "Cf-Connecting-Ip", "Fastly-Client-Ip",
	"X-Original-Forwarded-For",
}

// seen is what the layers inside the gateway and the upstream saw.
type seen struct {
	Log      string // RemoteAddr in a WithMiddleware layer (an access log)
	Route    string // RemoteAddr in route middleware (a per-IP limit)
	Context  string // ClientAddrFromContext in route middleware
	Upstream echo
}

// serveGatewayOn runs a gateway on a real listener at addr
// ("127.0.0.1:0" or "[::1]:0") and returns its base URL. It skips the test
// when the address family is not available.
func serveGatewayOn(t *testing.T, addr string, reg *memory.Registry, routes []gateway.Route, cfg gateway.Config) string {
	t.Helper()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Skipf("cannot listen on %s: %v", addr, err)
	}
	g, err := gateway.New(context.Background(), reg, routes, cfg)
	if err != nil {
		ln.Close()
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := g.WaitReady(ctx); err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: g, ReadHeaderTimeout: 5 * time.Second}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close(); g.Close() })
	return "http://" + ln.Addr().String()
}

// recordingRoutes is one route to an echoing backend, with route
// middleware and a gateway-wide middleware that report, in response
// headers, the client address they were given.
func recordingRoutes(t *testing.T, reg *memory.Registry) ([]gateway.Route, func(http.Handler) http.Handler) {
	be := newBackend(t, "svc")
	register(t, reg, "svc", "s1", addr(be.Server))
	route := func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("X-Seen-Route", r.RemoteAddr)
			if a, ok := gateway.ClientAddrFromContext(r.Context()); ok {
				w.Header().Set("X-Seen-Context", a.String())
			}
			next.ServeHTTP(w, r)
		})
	}
	log := func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("X-Seen-Log", r.RemoteAddr)
			next.ServeHTTP(w, r)
		})
	}
	return []gateway.Route{{Pattern: "/", Service: "svc", Middleware: []func(http.Handler) http.Handler{route}}}, log
}

func send(t *testing.T, url string, hdr http.Header) seen {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, vs := range hdr {
		req.Header[k] = vs // as written: keeps "X_Real_Ip" spellings
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("%d %s", resp.StatusCode, body)
	}
	s := seen{Log: resp.Header.Get("X-Seen-Log"), Route: resp.Header.Get("X-Seen-Route"), Context: resp.Header.Get("X-Seen-Context")}
	if err := json.Unmarshal(body, &s.Upstream); err != nil {
		t.Fatalf("backend body %q: %v", body, err)
	}
	return s
}

func host(t *testing.T, remote string) string {
	t.Helper()
	h, _, err := net.SplitHostPort(remote)
	if err != nil {
		t.Fatalf("RemoteAddr %q: %v", remote, err)
	}
	return h
}

// forged claims another address in every identity header, some of them
// spelt with underscores, which CGI-style upstreams read as dashes.
func forged() http.Header {
	h := http.Header{
		"X_Real_Ip":         {"6.6.6.6"},
		"X_forwarded_for":   {"6.6.6.6"},
		"X-Request-Id":      {"r-1"}, // not an identity header: passes
		"Forwarded":         {`for=6.6.6.6;proto=https, for="[2001:db8::666]"`},
		"X-Forwarded-For":   {"6.6.6.6, 2001:db8::666"},
		"X-Forwarded-Proto": {"https"},
	}
	for _, name := range identityHeaders {
		if _, ok := h[name]; !ok {
			h[name] = []string{"6.6.6.6"}
		}
	}
	return h
}

func checkNoIdentityHeaders(t *testing.T, up http.Header, extra ...string) {
	t.Helper()
	bad := map[string]bool{}
	for _, n := range append(identityHeaders, extra...) {
		bad[n] = true
	}
	for k, v := range up {
		name := textproto.CanonicalMIMEHeaderKey(strings.ReplaceAll(k, "_", "-"))
		if name == "X-Forwarded-For" || name == "X-Forwarded-Host" || name == "X-Forwarded-Proto" {
			if k != name {
				t.Errorf("upstream got %s: %q", k, v) // a forged spelling
			}
			continue // set by the gateway, checked by the caller
		}
		if bad[name] {
			t.Errorf("upstream got %s: %q", k, v)
		}
	}
	if up.Get("X-Forwarded-Proto") != "http" {
		t.Errorf("X-Forwarded-Proto %q, want the gateway's own http", up.Get("X-Forwarded-Proto"))
	}
}

func TestClientAddress(t *testing.T) {
	prefixes := func(s ...string) []netip.Prefix {
		var out []netip.Prefix
		for _, p := range s {
			out = append(out, netip.MustParsePrefix(p))
		}
		return out
	}
	cases := []struct {
		name    string
		listen  string
		trusted []netip.Prefix
		header  string // WithClientIPHeader; "" for the default
		hdr     http.Header
		want    string // the client everyone inside must see
	}{
		{name: "untrusted IPv4 peer forging everything", listen: "127.0.0.1:0",
			hdr: forged(), want: "127.0.0.1"},
		{name: "IPv4 peer outside the trusted ranges", listen: "127.0.0.1:0", trusted: prefixes("10.0.0.0/8", "::1/128"),
			hdr: forged(), want: "127.0.0.1"},
		{name: "IPv6 peer outside the trusted ranges", listen: "[::1]:0", trusted: prefixes("127.0.0.0/8", "fd00::/8"),
			hdr: forged(), want: "::1"},
		{name: "trusted IPv4 proxy: rightmost untrusted entry", listen: "127.0.0.1:0", trusted: prefixes("127.0.0.0/8"),
			hdr: http.Header{"X-Forwarded-For": {"6.6.6.6, 203.0.113.7"}, "X-Real-Ip": {"6.6.6.6"}}, want: "203.0.113.7"},
		{name: "trusted chain of proxies, two header lines", listen: "127.0.0.1:0", trusted: prefixes("127.0.0.0/8", "10.0.0.0/8"),
			hdr: http.Header{"X-Forwarded-For": {"6.6.6.6, 203.0.113.7", "10.0.0.3,10.0.0.2"}}, want: "203.0.113.7"},
		{name: "malformed entry stops the walk at the last trusted hop", listen: "127.0.0.1:0", trusted: prefixes("127.0.0.0/8", "10.0.0.0/8"),
			hdr: http.Header{"X-Forwarded-For": {"203.0.113.7, unknown, 10.0.0.2"}}, want: "10.0.0.2"},
		{name: "trusted proxy without a header is the client", listen: "127.0.0.1:0", trusted: prefixes("127.0.0.0/8"),
			want: "127.0.0.1"},
		{name: "trusted IPv6 proxy, IPv6 client", listen: "[::1]:0", trusted: prefixes("::1/128"),
			hdr: http.Header{"X-Forwarded-For": {"2001:db8::666, [2001:db8::7]:4711"}, "Forwarded": {"for=6.6.6.6"}}, want: "2001:db8::7"},
		{name: "trusted IPv6 proxy, IPv4 client", listen: "[::1]:0", trusted: prefixes("::1/128"),
			hdr: http.Header{"X-Forwarded-For": {"::ffff:203.0.113.7"}}, want: "203.0.113.7"},
		{name: "Forwarded from a trusted proxy", listen: "[::1]:0", trusted: prefixes("::1/128"), header: "forwarded",
			hdr: http.Header{
				"Forwarded":       {`for=6.6.6.6, for="[2001:db8::7]:4711";proto=https;by="[::1]"`},
				"X-Forwarded-For": {"9.9.9.9"}, // not the configured header: ignored and stripped
			}, want: "2001:db8::7"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			reg := memory.New()
			defer reg.Close()
			routes, logMW := recordingRoutes(t, reg)
			base := serveGatewayOn(t, c.listen, reg, routes, gateway.Config{
				Middleware:     []func(http.Handler) http.Handler{logMW},
				TrustedProxies: c.trusted,
				ClientIPHeader: c.header,
			})
			s := send(t, base+"/x", c.hdr)
			if got := host(t, s.Log); got != c.want {
				t.Errorf("gateway middleware saw %q, want %s", s.Log, c.want)
			}
			if got := host(t, s.Route); got != c.want {
				t.Errorf("route middleware saw %q, want %s", s.Route, c.want)
			}
			if s.Context != c.want {
				t.Errorf("ClientAddrFromContext = %q, want %s", s.Context, c.want)
			}
			up := s.Upstream.Header
			if got := up.Values("X-Forwarded-For"); len(got) != 1 || got[0] != c.want {
				t.Errorf("upstream X-Forwarded-For %q, want %q only", got, c.want)
			}
			checkNoIdentityHeaders(t, up)
			if c.hdr.Get("X-Request-Id") != "" && up.Get("X-Request-Id") != c.hdr.Get("X-Request-Id") {
				t.Errorf("X-Request-Id %q did not pass", up.Get("X-Request-Id"))
			}
		})
	}
}

func TestStrippedHeaders(t *testing.T) {
	reg := memory.New()
	defer reg.Close()
	routes, _ := recordingRoutes(t, reg)
	var outerSaw string
	g, err := gateway.New(context.Background(), reg, routes, gateway.Config{StrippedHeaders: []string{"X-User-Id", "x-tenant"}, ClientIPHeader: "X-Envoy-External-Address"})
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := g.WaitReady(ctx); err != nil {
		t.Fatal(err)
	}
	// A layer outside the gateway (the shop's access log) keeps the
	// request as the client sent it.
	outer := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		g.ServeHTTP(w, r)
		outerSaw = r.Header.Get("X-User-Id")
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: outer, ReadHeaderTimeout: 5 * time.Second}
	go srv.Serve(ln)
	defer srv.Close()

	s := send(t, "http://"+ln.Addr().String()+"/x", http.Header{
		"X-User-Id":    {"admin"},
		"X_tenant":     {"other"},
		"X-Tenant":     {"other"},
		"X-Real-Ip":    {"6.6.6.6"},
		"X-Request-Id": {"r-1"},
		// The header the trusted proxies write is an identity header too.
		"X-Envoy-External-Address": {"6.6.6.7"},
	})
	checkNoIdentityHeaders(t, s.Upstream.Header, "X-User-Id", "X-Tenant", "X-Envoy-External-Address")
	if got := s.Upstream.Header.Get("X-Request-Id"); got != "r-1" {
		t.Errorf("X-Request-Id at upstream %q, want r-1", got)
	}
	if outerSaw != "admin" {
		t.Errorf("the caller's request was modified: X-User-Id %q after ServeHTTP", outerSaw)
	}
}

// The per-IP limit of a route (ratelimit.RemoteIP) keys by the resolved
// client: clients behind a trusted proxy get buckets of their own, an
// untrusted peer cannot buy a fresh one with a forged header, and IPv6
// clients share one bucket per /64.
func TestPerIPLimitUsesTheClientAddress(t *testing.T) {
	type step struct {
		hdr  http.Header
		want int
	}
	xff := func(v string) http.Header { return http.Header{"X-Forwarded-For": {v}} }
	cases := []struct {
		name    string
		listen  string
		trusted string
		steps   []step
	}{
		{"clients behind a trusted IPv4 proxy", "127.0.0.1:0", "127.0.0.0/8", []step{
			{xff("203.0.113.1"), 200},
			{xff("203.0.113.1"), 429},
			{xff("1.1.1.1, 203.0.113.1"), 429}, // prepending changes nothing
			{xff("203.0.113.2"), 200},
			{nil, 200}, // the proxy itself
		}},
		{"untrusted IPv4 peer forging headers", "127.0.0.1:0", "10.0.0.0/8", []step{
			{nil, 200},
			{xff("203.0.113.9"), 429},
			{http.Header{"X-Real-Ip": {"203.0.113.10"}}, 429},
			{http.Header{"Forwarded": {"for=203.0.113.11"}}, 429},
			{http.Header{"True-Client-Ip": {"203.0.113.12"}}, 429},
		}},
		{"IPv6 clients behind a trusted proxy share a bucket per /64", "[::1]:0", "::1/128", []step{
			{xff("2001:db8:1:2::a"), 200},
			{xff("2001:db8:1:2::b"), 429},
			{xff("2001:db8:1:2:ffff:ffff:ffff:ffff"), 429},
			{xff("2001:db8:1:3::a"), 200},
			{xff("2001:db8:1:3::a"), 429},
		}},
		{"untrusted IPv6 peer forging headers", "[::1]:0", "fd00::/8", []step{
			{nil, 200},
			{xff("2001:db8:9::1"), 429},
			{http.Header{"Forwarded": {`for="[2001:db8:9::2]"`}}, 429},
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			reg := memory.New()
			defer reg.Close()
			be := newBackend(t, "svc")
			register(t, reg, "svc", "s1", addr(be.Server))
			// One request an hour, burst 1: a second request from the same
			// key is refused for the rest of the test.
			limiter, err := ratelimit.New(rate.Limit(1.0/3600), 1, ratelimit.Config{HTTPKey: ratelimit.RemoteIP})
			if err != nil {
				t.Fatal(err)
			}
			limit := limiter.Handler
			base := serveGatewayOn(t, c.listen, reg, []gateway.Route{{Pattern: "/", Service: "svc", Middleware: []func(http.Handler) http.Handler{limit}}}, gateway.Config{TrustedProxies: []netip.Prefix{netip.MustParsePrefix(c.trusted)}})
			for i, s := range c.steps {
				req, _ := http.NewRequest(http.MethodGet, base+"/login", nil)
				for k, v := range s.hdr {
					req.Header[k] = v
				}
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != s.want {
					t.Errorf("step %d %v: %d, want %d", i+1, s.hdr, resp.StatusCode, s.want)
				}
			}
			wantHits := 0
			for _, s := range c.steps {
				if s.want == 200 {
					wantHits++
				}
			}
			if got := be.hits.Load(); got != int64(wantHits) {
				t.Errorf("upstream saw %d requests, want %d", got, wantHits)
			}
		})
	}
}

// Behind a load balancer at 10.0.0.2, the client is the rightmost address
// of X-Forwarded-For that is not a trusted proxy; what the client wrote to
// the left of it, and its X-Real-Ip, are not believed and not passed on.
func ExampleConfig_trustedProxies() {
	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "X-Forwarded-For %q, X-Real-Ip %q\n", r.Header.Get("X-Forwarded-For"), r.Header.Get("X-Real-Ip"))
	}))
	defer upstream.Close()
	reg := memory.New()
	defer reg.Close()
	reg.Register(context.Background(), discovery.Instance{ID: "a1", Service: "api", Addr: strings.TrimPrefix(upstream.URL, "http://")})

	limiter, err := ratelimit.New(10, 20, ratelimit.Config{HTTPKey: ratelimit.RemoteIP}) // keyed by the client
	if err != nil {
		panic(err)
	}
	limit := limiter.Handler
	g, err := gateway.New(context.Background(), reg, []gateway.Route{{Pattern: "/", Service: "api", Middleware: []func(http.Handler) http.Handler{limit}}}, gateway.Config{TrustedProxies: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}})
	if err != nil {
		panic(err)
	}
	defer g.Close()
	g.WaitReady(context.Background())

	r := httptest.NewRequest(http.MethodGet, "/", nil)
	r.RemoteAddr = "10.0.0.2:41000" // the load balancer
	r.Header.Set("X-Forwarded-For", "6.6.6.6, 203.0.113.7")
	r.Header.Set("X-Real-Ip", "6.6.6.6")
	w := httptest.NewRecorder()
	g.ServeHTTP(w, r)
	fmt.Print(w.Body.String())
	// Output: X-Forwarded-For "203.0.113.7", X-Real-Ip ""
}
