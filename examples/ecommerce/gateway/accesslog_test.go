package gateway_test

import (
	"bytes"
	"context"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/switchyard/switchyard/examples/ecommerce/gateway"
	"github.com/switchyard/switchyard/examples/ecommerce/internal/instance"
	"github.com/switchyard/switchyard/examples/ecommerce/internal/telemetry"
)

// syncBuffer is a bytes.Buffer safe for the server's goroutines.
type syncBuffer struct {
	mu sync.Mutex // guards b
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestAccessLogShowsTheClientBehindATrustedProxy serves the gateway as
// Run does, with the client-address layer at the edge: behind a trusted
// proxy the access log names the client from X-Forwarded-For, and a
// forged header from an untrusted peer is not believed.
func TestAccessLogShowsTheClientBehindATrustedProxy(t *testing.T) {
	for _, tc := range []struct {
		name    string
		trusted []netip.Prefix
		want    string
	}{
		{"trusted proxy", []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}, `remote_addr=203.0.113.7:0`},
		{"untrusted peer", nil, `remote_addr=127.0.0.1:`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			shop := newFakeShop(t)
			var logs syncBuffer
			logger := slog.New(slog.NewTextHandler(&logs, nil))
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			g, err := gateway.New(ctx, gateway.Options{Resolver: shop.reg, Logger: logger, TrustedProxies: tc.trusted})
			if err != nil {
				t.Fatal(err)
			}
			defer g.Close()
			tel, err := telemetry.New("gateway")
			if err != nil {
				t.Fatal(err)
			}
			defer tel.Prometheus.Shutdown(context.Background())
			ready := make(chan net.Addr, 1)
			served := make(chan error, 1)
			go func() {
				served <- instance.Run(ctx, instance.Config{
					Service: gateway.ServiceName, Handler: g, Registrar: shop.reg, Logger: logger,
					Telemetry: tel, DrainDelay: -1, Edge: g.Identify,
					OnReady: func(a net.Addr) { ready <- a },
				})
			}()
			var base string
			select {
			case a := <-ready:
				base = "http://" + a.String()
			case err := <-served:
				t.Fatal(err)
			case <-time.After(10 * time.Second):
				t.Fatal("gateway not ready")
			}
			st, _, b := call(t, "GET", base+"/api/v1/products", "", nil, "X-Forwarded-For", "203.0.113.7")
			if st != http.StatusOK {
				t.Fatalf("GET: %d %s", st, b)
			}
			cancel()
			if err := <-served; err != nil {
				t.Fatal(err)
			}
			var line string
			for l := range strings.SplitSeq(logs.String(), "\n") {
				if strings.Contains(l, "path=/api/v1/products") {
					line = l
				}
			}
			if !strings.Contains(line, tc.want) {
				t.Fatalf("access log line %q does not have %q\nall logs:\n%s", line, tc.want, logs.String())
			}
		})
	}
}
