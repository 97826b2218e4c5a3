package authz_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/go-kit/kit/endpoint"

	"github.com/switchyard/switchyard/identity"
	"github.com/switchyard/switchyard/middleware/authz"
)

// nopWriter is a ResponseWriter that costs nothing, so that the
// benchmarks measure the authorizer.
type nopWriter struct{ h http.Header }

func (w nopWriter) Header() http.Header       { return w.h }
func (nopWriter) Write(p []byte) (int, error) { return len(p), nil }
func (nopWriter) WriteHeader(int)             {}

// BenchmarkHandler: one request through Handler with the shop's rule
// set. "certificate" is the common case, an admitted caller named by its
// verified client certificate (the connection state of a real handshake,
// without the network); "context" a caller an outer layer put on the
// context; "probe" a request without identity on an Anyone route;
// "refused" a caller the rule does not admit.
func BenchmarkHandler(b *testing.B) {
	ca := newCA(b, "shop CA")
	a, err := authz.New(authz.Config{Rules: shopRules(b)})
	if err != nil {
		b.Fatal(err)
	}
	var reached int
	h := a.Handler(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { reached++ }))
	verified := func(service string) *tls.ConnectionState {
		leaf := ca.leaf(b, id(b, service).String(), nil).Leaf
		return &tls.ConnectionState{
			HandshakeComplete: true,
			PeerCertificates:  []*x509.Certificate{leaf},
			VerifiedChains:    [][]*x509.Certificate{{leaf, ca.cert}},
		}
	}
	release := httptest.NewRequest("DELETE", "https://shop.test/v1/reservations/42", nil)
	release.TLS = verified("orders")
	fromCtx := httptest.NewRequest("DELETE", "/v1/reservations/42", nil)
	fromCtx = fromCtx.WithContext(identity.NewContext(context.Background(), id(b, "orders")))
	probe := httptest.NewRequest("GET", "/healthz", nil)
	refused := httptest.NewRequest("DELETE", "https://shop.test/v1/reservations/42", nil)
	refused.TLS = verified("gateway")

	for _, bc := range []struct {
		name  string
		req   *http.Request
		admit bool
	}{
		{"certificate", release, true},
		{"context", fromCtx, true},
		{"probe", probe, true},
		{"refused", refused, false},
	} {
		b.Run(bc.name, func(b *testing.B) {
			w := nopWriter{h: http.Header{}}
			reached = 0
			b.ReportAllocs()
			for b.Loop() {
				h.ServeHTTP(w, bc.req)
			}
			if bc.admit != (reached > 0) {
				b.Fatalf("reached %d times, admit %v", reached, bc.admit)
			}
		})
	}
	b.Run("certificate/parallel", func(b *testing.B) {
		h := a.Handler(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			w := nopWriter{h: http.Header{}}
			for pb.Next() {
				h.ServeHTTP(w, release)
			}
		})
	})
}

// BenchmarkEndpoint: one admitted call through Endpoint.
func BenchmarkEndpoint(b *testing.B) {
	a, err := authz.New(authz.Config{Rules: []authz.Rule{{Operation: "op", Callers: []identity.ID{id(b, "gateway"), id(b, "orders")}}}})
	if err != nil {
		b.Fatal(err)
	}
	ep := a.Operation("op").Endpoint(endpoint.Nop)
	ctx := identity.NewContext(context.Background(), id(b, "orders"))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ep(ctx, nil); err != nil {
			b.Fatal(err)
		}
	}
}

// TestEndpointAllocs holds the promise of the doc: an admitted call
// through Endpoint allocates nothing.
func TestEndpointAllocs(t *testing.T) {
	a, err := authz.New(authz.Config{Rules: []authz.Rule{{Operation: "op", Callers: []identity.ID{id(t, "orders")}}}})
	if err != nil {
		t.Fatal(err)
	}
	ep := a.Operation("op").Endpoint(endpoint.Nop)
	ctx := identity.NewContext(context.Background(), id(t, "orders"))
	if n := testing.AllocsPerRun(100, func() { _, _ = ep(ctx, nil) }); n != 0 {
		t.Fatalf("%v allocations per admitted call, want 0", n)
	}
}
