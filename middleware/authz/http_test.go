package authz_test

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/switchyard/switchyard/identity"
	"github.com/switchyard/switchyard/middleware/authz"
)

// shopRules are the rules of a catalog-like service: probes open, the
// reservation routes for orders alone, the product routes for the
// gateway and orders, a debug tree closed.
func shopRules(t testing.TB) []authz.Rule {
	orders, gateway := id(t, "orders"), id(t, "gateway")
	return []authz.Rule{
		{Route: "GET /healthz", Anyone: true},
		{Route: "GET /readyz", Anyone: true},
		{Route: "DELETE /v1/reservations/{id}", Callers: []identity.ID{orders}},
		{Route: "GET /v1/products/{id}", Callers: []identity.ID{gateway, orders}},
		{Route: "/v1/catalog/", Callers: []identity.ID{gateway}},
		{Route: "/debug/", Nobody: true},
	}
}

// app is the service behind authz: a ServeMux with a handler per rule
// pattern (plus one pattern no rule names) that counts its calls and
// answers with the pattern and the caller on its context.
type app struct {
	mux   *http.ServeMux
	calls atomic.Int64
}

func newApp(patterns ...string) *app {
	a := &app{mux: http.NewServeMux()}
	for _, p := range patterns {
		a.mux.HandleFunc(p, func(w http.ResponseWriter, r *http.Request) {
			a.calls.Add(1)
			caller, _ := identity.FromContext(r.Context())
			fmt.Fprintf(w, "%s|%s", p, caller)
		})
	}
	return a
}

func patterns(rules []authz.Rule) []string {
	var ps []string
	for _, r := range rules {
		if r.Route != "" {
			ps = append(ps, r.Route)
		}
	}
	return ps
}

type errorBody struct {
	Error struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
}

// TestHandlerOverTLS drives a real HTTPS server that verifies client
// certificates when given (VerifyClientCertIfGiven, as mtls's
// OptionalClientCert) through every kind of caller: each request is
// either admitted, with the caller on the handler's context, or refused
// with a 403 JSON body without reaching the handler.
func TestHandlerOverTLS(t *testing.T) {
	ca := newCA(t, "shop CA")
	rules := shopRules(t)
	var denied []*authz.Error
	var mu sync.Mutex
	a, err := authz.New(authz.Config{Rules: rules, Hooks: authz.Hooks{OnDeny: func(_ context.Context, e *authz.Error) {
		mu.Lock()
		denied = append(denied, e)
		mu.Unlock()
	}}})
	if err != nil {
		t.Fatal(err)
	}
	// The app also serves a route no rule covers: authz must refuse it.
	be := newApp(append(patterns(rules), "GET /v1/secret")...)
	srv := tlsServer(t, ca, a.Handler(be.mux))

	orders := ca.leaf(t, id(t, "orders").String(), nil)
	gateway := ca.leaf(t, id(t, "gateway").String(), nil)
	noSAN := ca.leaf(t, "", nil)                                          // verified, but names no one
	notSPIFFE := ca.leaf(t, "https://orders.shop.test/", nil)             // verified, not a SPIFFE ID
	otherTD := ca.leaf(t, "spiffe://bank.test/orders", nil)               // same CA, other trust domain
	foreign := newCA(t, "evil CA").leaf(t, id(t, "orders").String(), nil) // orders' name, another CA
	expired := ca.leaf(t, id(t, "orders").String(), func(c *x509.Certificate) {
		c.NotBefore, c.NotAfter = time.Now().Add(-2*time.Hour), time.Now().Add(-time.Hour)
	})

	type want struct {
		status int
		code   string // of a 403
		body   string // of a 200
	}
	ok := func(pattern, caller string) want { return want{status: 200, body: pattern + "|" + caller} }
	forbidden := want{status: 403, code: "forbidden"}
	noIdentity := want{status: 403, code: "no_identity"}

	for _, tc := range []struct {
		name         string
		cert         *tls.Certificate
		method, path string
		want         want
		denyRoute    string // Error.Route reported to OnDeny on a refusal
	}{
		{"orders releases a reservation", &orders, "DELETE", "/v1/reservations/42", ok("DELETE /v1/reservations/{id}", id(t, "orders").String()), ""},
		{"gateway may not release", &gateway, "DELETE", "/v1/reservations/42", forbidden, "DELETE /v1/reservations/{id}"},
		{"no certificate may not release", nil, "DELETE", "/v1/reservations/42", noIdentity, "DELETE /v1/reservations/{id}"},
		{"a certificate without SAN names no one", &noSAN, "DELETE", "/v1/reservations/42", noIdentity, "DELETE /v1/reservations/{id}"},
		{"a URI SAN that is not SPIFFE names no one", &notSPIFFE, "DELETE", "/v1/reservations/42", noIdentity, "DELETE /v1/reservations/{id}"},
		{"orders of another trust domain is not orders", &otherTD, "DELETE", "/v1/reservations/42", forbidden, "DELETE /v1/reservations/{id}"},
		{"gateway reads a product", &gateway, "GET", "/v1/products/7", ok("GET /v1/products/{id}", id(t, "gateway").String()), ""},
		{"orders reads a product", &orders, "GET", "/v1/products/7", ok("GET /v1/products/{id}", id(t, "orders").String()), ""},
		{"the rule is per method", &orders, "POST", "/v1/products/7", forbidden, ""},
		{"probe without certificate", nil, "GET", "/healthz", ok("GET /healthz", ""), ""},
		{"probe with certificate sees the caller", &orders, "GET", "/readyz", ok("GET /readyz", id(t, "orders").String()), ""},
		{"HEAD is covered by GET", nil, "HEAD", "/healthz", want{status: 200}, ""},
		{"a probe route takes no POST", nil, "POST", "/healthz", noIdentity, ""},
		{"a prefix rule", &gateway, "PUT", "/v1/catalog/a/b", ok("/v1/catalog/", id(t, "gateway").String()), ""},
		{"a prefix rule refuses others", &orders, "PUT", "/v1/catalog/a/b", forbidden, "/v1/catalog/"},
		{"Nobody", &gateway, "GET", "/debug/pprof/", forbidden, "/debug/"},
		{"a route the app serves but no rule covers", &orders, "GET", "/v1/secret", forbidden, ""},
		{"no route at all", &orders, "GET", "/nope", forbidden, ""},
		{"no route at all, no certificate", nil, "GET", "/nope", noIdentity, ""},
		{"a missing trailing slash is not the prefix rule", &gateway, "GET", "/v1/catalog", forbidden, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			mu.Lock()
			denied = nil
			mu.Unlock()
			before := be.calls.Load()
			req, err := http.NewRequest(tc.method, srv.URL+tc.path, nil)
			if err != nil {
				t.Fatal(err)
			}
			resp, err := client(t, srv, tc.cert).Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			body, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != tc.want.status {
				t.Fatalf("status %d, want %d; body %s", resp.StatusCode, tc.want.status, body)
			}
			calls := be.calls.Load() - before
			if tc.want.status != 200 {
				if calls != 0 {
					t.Fatalf("the handler was reached %d times on a refusal", calls)
				}
				if ct := resp.Header.Get("Content-Type"); ct != "application/json; charset=utf-8" {
					t.Errorf("Content-Type %q", ct)
				}
				var eb errorBody
				if err := json.Unmarshal(body, &eb); err != nil {
					t.Fatalf("body %q: %v", body, err)
				}
				if eb.Error.Code != tc.want.code || eb.Error.Message == "" {
					t.Errorf("body %s, want code %q", body, tc.want.code)
				}
				mu.Lock()
				defer mu.Unlock()
				if len(denied) != 1 {
					t.Fatalf("OnDeny called %d times, want 1", len(denied))
				}
				if denied[0].Route != tc.denyRoute {
					t.Errorf("OnDeny route %q, want %q", denied[0].Route, tc.denyRoute)
				}
				if noID := errors.Is(denied[0], authz.ErrNoIdentity); noID != (tc.want.code == "no_identity") {
					t.Errorf("errors.Is(%v, ErrNoIdentity) = %v", denied[0], noID)
				}
				return
			}
			if calls != 1 {
				t.Fatalf("the handler was reached %d times, want 1", calls)
			}
			if tc.method != "HEAD" && string(body) != tc.want.body {
				t.Errorf("handler answered %q, want %q", body, tc.want.body)
			}
		})
	}

	// Certificates that do not verify fail the handshake before authz:
	// no request, so neither the handler nor OnDeny sees one.
	for name, cert := range map[string]*tls.Certificate{"another CA": &foreign, "expired": &expired} {
		t.Run(name, func(t *testing.T) {
			before := be.calls.Load()
			resp, err := client(t, srv, cert).Get(srv.URL + "/v1/products/7")
			if err == nil {
				resp.Body.Close()
				t.Fatalf("status %d, want a failed handshake", resp.StatusCode)
			}
			if n := be.calls.Load() - before; n != 0 {
				t.Fatalf("handler reached %d times", n)
			}
		})
	}
}

// rawGet sends "METHOD target HTTP/1.1" exactly as written (no client
// cleans it) over a TLS connection to srv presenting cert, and returns
// the answer.
func rawGet(t *testing.T, srv *httptest.Server, cert *tls.Certificate, method, target string) (*http.Response, string) {
	t.Helper()
	conn, err := tls.Dial("tcp", srv.Listener.Addr().String(), clientTLS(srv, cert))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := fmt.Fprintf(conn, "%s %s HTTP/1.1\r\nHost: shop.test\r\nConnection: close\r\n\r\n", method, target); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp, string(body)
}

// TestHandlerPathsAsServeMuxSeesThem: a request is judged by the pattern
// net/http's ServeMux would route it to, not by how its path reads. A
// path ServeMux would only redirect ("/v1/../healthz") is refused, never
// admitted as the route it resolves to nor passed on; one ServeMux routes
// to a pattern after decoding ("/%68ealthz" is /healthz) is judged by that
// pattern's rule.
func TestHandlerPathsAsServeMuxSeesThem(t *testing.T) {
	ca := newCA(t, "shop CA")
	rules := shopRules(t)
	a, err := authz.New(authz.Config{Rules: rules})
	if err != nil {
		t.Fatal(err)
	}
	be := newApp(patterns(rules)...)
	guarded := tlsServer(t, ca, a.Handler(be.mux))
	bare := tlsServer(t, ca, be.mux) // what the service's ServeMux does alone
	orders := ca.leaf(t, id(t, "orders").String(), nil)
	gateway := ca.leaf(t, id(t, "gateway").String(), nil)

	for _, tc := range []struct {
		name, method, target string
		cert                 *tls.Certificate
		bare                 int // ServeMux alone
		guarded              int // behind authz
	}{
		{"dot-dot to a probe", "GET", "/v1/../healthz", nil, 307, 403},
		{"double slash to a probe", "GET", "//healthz", nil, 307, 403},
		{"dot segment in a guarded route", "DELETE", "/v1/./reservations/1", &orders, 307, 403},
		{"dot-dot out of a closed tree", "GET", "/debug/../healthz", nil, 307, 403},
		{"dot-dot into a guarded route", "DELETE", "/healthz/../v1/reservations/1", &gateway, 307, 403},
		{"trailing-slash redirect", "GET", "/v1/catalog", &gateway, 307, 403},
		{"percent-encoded letters are routed decoded", "GET", "/%68ealthz", nil, 200, 200},
		{"an encoded slash is not a separator", "DELETE", "/v1/reservations/a%2Fb", &orders, 200, 200},
		{"an encoded slash does not escape the rule", "DELETE", "/v1/reservations%2F1", &orders, 404, 403},
		{"absolute-form target", "GET", "https://shop.test/healthz", nil, 200, 200},
		{"asterisk", "OPTIONS", "*", &orders, 200, 200}, // net/http's server answers OPTIONS * itself
		{"asterisk with another method", "GET", "*", &orders, 400, 403},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, body := rawGet(t, bare, tc.cert, tc.method, tc.target)
			if resp.StatusCode != tc.bare {
				t.Fatalf("ServeMux alone answers %d (%s), the test expects %d", resp.StatusCode, body, tc.bare)
			}
			before := be.calls.Load()
			resp, body = rawGet(t, guarded, tc.cert, tc.method, tc.target)
			if resp.StatusCode != tc.guarded {
				t.Fatalf("behind authz: %d %s, want %d", resp.StatusCode, body, tc.guarded)
			}
			if resp.StatusCode == 403 && be.calls.Load() != before {
				t.Fatal("a refused request reached the handler")
			}
			if resp.StatusCode == 403 && !strings.Contains(body, `"code":"`) {
				t.Fatalf("refusal without a JSON body: %q", body)
			}
		})
	}
}

// TestHandlerCallerSource: the verified certificate names the caller; the
// context is consulted only for a connection without one, and the
// handler always sees the identity that was judged.
func TestHandlerCallerSource(t *testing.T) {
	ca := newCA(t, "shop CA")
	orders, gateway := id(t, "orders"), id(t, "gateway")
	a, err := authz.New(authz.Config{Rules: []authz.Rule{
		{Route: "/gateway-only", Callers: []identity.ID{gateway}},
		{Route: "/orders-only", Callers: []identity.ID{orders}},
	}})
	if err != nil {
		t.Fatal(err)
	}
	var seen identity.ID
	h := a.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		seen, _ = identity.FromContext(r.Context())
	}))
	ordersLeaf := ca.leaf(t, orders.String(), nil).Leaf
	withCert := func(r *http.Request) *http.Request {
		r.TLS = &tls.ConnectionState{
			PeerCertificates: []*x509.Certificate{ordersLeaf},
			VerifiedChains:   [][]*x509.Certificate{{ordersLeaf, ca.cert}},
		}
		return r
	}
	unverified := func(r *http.Request) *http.Request {
		r.TLS = &tls.ConnectionState{PeerCertificates: []*x509.Certificate{ordersLeaf}}
		return r
	}
	onCtx := func(id identity.ID) func(*http.Request) *http.Request {
		return func(r *http.Request) *http.Request { return r.WithContext(identity.NewContext(r.Context(), id)) }
	}
	for _, tc := range []struct {
		name   string
		path   string
		setup  []func(*http.Request) *http.Request
		status int
		seen   identity.ID
	}{
		{"certificate", "/orders-only", []func(*http.Request) *http.Request{withCert}, 200, orders},
		{"context without TLS", "/gateway-only", []func(*http.Request) *http.Request{onCtx(gateway)}, 200, gateway},
		{"the certificate wins over the context", "/gateway-only", []func(*http.Request) *http.Request{withCert, onCtx(gateway)}, 403, identity.ID{}},
		{"the handler sees the certificate's caller", "/orders-only", []func(*http.Request) *http.Request{withCert, onCtx(gateway)}, 200, orders},
		{"an unverified certificate names no one", "/orders-only", []func(*http.Request) *http.Request{unverified}, 403, identity.ID{}},
		{"nothing", "/orders-only", nil, 403, identity.ID{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			seen = identity.ID{}
			r := httptest.NewRequest("GET", tc.path, nil)
			for _, f := range tc.setup {
				r = f(r)
			}
			w := httptest.NewRecorder()
			h.ServeHTTP(w, r)
			if w.Code != tc.status || seen != tc.seen {
				t.Fatalf("status %d, handler saw %q; want %d, %q", w.Code, seen, tc.status, tc.seen)
			}
		})
	}
}
