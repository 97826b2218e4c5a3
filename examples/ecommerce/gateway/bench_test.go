package gateway_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/switchyard/switchyard/discovery"
	"github.com/switchyard/switchyard/discovery/memory"
	"github.com/switchyard/switchyard/examples/ecommerce/gateway"
	"github.com/switchyard/switchyard/middleware/auth"
)

// stubTransport answers every upstream request at once, so that the
// benchmarks measure the gateway: routing, balancing, the breaker and
// counters per instance, deadline and trace headers.
type stubTransport struct{}

func (stubTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.Body != nil {
		r.Body.Close()
	}
	return &http.Response{
		StatusCode: http.StatusOK, Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		Header:  http.Header{"Content-Type": {"application/json"}},
		Body:    io.NopCloser(strings.NewReader(`{"products":[]}`)),
		Request: r,
	}, nil
}

func benchGateway(b *testing.B) *gateway.Gateway {
	reg := memory.New()
	b.Cleanup(func() { reg.Close() })
	ctx := context.Background()
	for i, s := range []string{"users", "catalog", "catalog", "orders"} {
		inst := discovery.Instance{ID: fmt.Sprintf("%s-%d", s, i), Service: s, Addr: fmt.Sprintf("127.0.0.1:%d", 9000+i)}
		if err := reg.Register(ctx, inst); err != nil {
			b.Fatal(err)
		}
	}
	g, err := gateway.New(ctx, gateway.Options{
		Resolver:      reg,
		Authenticator: mustValidator(b),
		Transport:     stubTransport{},
		Logger:        slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { g.Close() })
	for g.Ready(ctx) != nil {
		time.Sleep(time.Millisecond) // the memory registry delivers at once
	}
	return g
}

func mustValidator(b *testing.B) *auth.Validator {
	v, err := auth.New(auth.Config{
		Keys:       auth.HMACKey([]byte("bench-only-secret-bench-only-secret")),
		Issuer:     "iss",
		Audience:   "aud",
		Algorithms: []string{"HS256"},
	})
	if err != nil {
		b.Fatal(err)
	}
	return v
}

// BenchmarkGatewayGetProducts proxies GET /api/v1/products in process.
func BenchmarkGatewayGetProducts(b *testing.B) {
	g := benchGateway(b)
	b.Run("serial", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			w := httptest.NewRecorder()
			g.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/api/v1/products", nil))
			if w.Code != http.StatusOK {
				b.Fatalf("status %d: %s", w.Code, w.Body)
			}
		}
	})
	b.Run("parallel", func(b *testing.B) {
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				w := httptest.NewRecorder()
				g.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/api/v1/products", nil))
				if w.Code != http.StatusOK {
					b.Errorf("status %d", w.Code)
					return
				}
			}
		})
	})
}
