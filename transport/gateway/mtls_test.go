package gateway_test

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"log"
	"net"
	"net/http"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/switchyard/switchyard/balancer"
	"github.com/switchyard/switchyard/balancer/roundrobin"
	"github.com/switchyard/switchyard/discovery"
	"github.com/switchyard/switchyard/discovery/memory"
	"github.com/switchyard/switchyard/identity"
	"github.com/switchyard/switchyard/mtls"
	"github.com/switchyard/switchyard/mtls/mtlstest"
	"github.com/switchyard/switchyard/transport/gateway"
)

// workload returns an mtls.Source holding a certificate of ca for the
// service named service of shop.internal.
func workload(t *testing.T, ca *mtlstest.CA, service string) *mtls.Source {
	t.Helper()
	id, err := identity.ForService("shop.internal", service)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	file, bundle := filepath.Join(dir, "tls.pem"), filepath.Join(dir, "ca.pem")
	ca.Issue(id).Write(file, file)
	mtlstest.WriteFile(bundle, ca.PEM)
	src, err := mtls.New(mtls.Config{CertFile: file, KeyFile: file, CAFile: bundle})
	if err != nil {
		t.Fatal(err)
	}
	return src
}

// tlsUpstream is an HTTPS server on 127.0.0.1 on src's server config,
// whose handler counts its calls and answers with its own name and its
// caller's ID.
type tlsUpstream struct {
	addr  string
	calls atomic.Int64

	mu      sync.Mutex // guards wrapped
	wrapped []string   // the X-Wrapped-For header of each call
}

func serveTLS(t *testing.T, src *mtls.Source) *tlsUpstream {
	t.Helper()
	u := &tlsUpstream{}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	u.addr = ln.Addr().String()
	srv := &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			u.calls.Add(1)
			u.mu.Lock()
			u.wrapped = append(u.wrapped, r.Header.Get("X-Wrapped-For"))
			u.mu.Unlock()
			caller, _ := identity.FromRequest(r)
			io.WriteString(w, src.ID().Service()+" answered "+caller.String())
		}),
		TLSConfig:         src.ServerConfig(),
		ReadHeaderTimeout: 5 * time.Second,
		ErrorLog:          log.New(io.Discard, "", 0), // refused handshakes are expected
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		srv.ServeTLS(ln, "", "")
	}()
	t.Cleanup(func() {
		srv.Close()
		<-done
	})
	return u
}

func upstreamTLS(src *mtls.Source) func(string) *tls.Config {
	return func(service string) *tls.Config {
		id, err := src.ServiceID(service)
		if err != nil {
			return nil // New fails with ErrConfig
		}
		return src.ClientConfig(id)
	}
}

// TestUpstreamTLSImpostor: the registry lists two instances of users; one
// holds catalog's certificate. The gateway refuses it at every handshake,
// before a byte of a request reaches it, retries each request on the real
// instance, and ejects it. The real instance was registered with "scheme":
// "http", which must not downgrade the connection: its answers prove the
// requests came over TLS, from the gateway's identity.
func TestUpstreamTLSImpostor(t *testing.T) {
	ca := mtlstest.NewCA("shop CA")
	real := serveTLS(t, workload(t, ca, "users"))
	impostor := serveTLS(t, workload(t, ca, "catalog"))
	reg := memory.New()
	defer reg.Close()
	for _, inst := range []discovery.Instance{
		{ID: "a-impostor", Service: "users", Addr: impostor.addr},
		{ID: "b-users", Service: "users", Addr: real.addr, Meta: map[string]string{"scheme": "http"}},
	} {
		if err := reg.Register(context.Background(), inst); err != nil {
			t.Fatal(err)
		}
	}
	var (
		mu      sync.Mutex // guards ejected
		ejected []string
	)
	g, url := startGateway(t, reg, []gateway.Route{{Pattern: "/", Service: "users"}}, nil, gateway.Config{
		UpstreamTLS: upstreamTLS(workload(t, ca, "gateway")),
		Policy:      func(string) balancer.Policy { return roundrobin.New() },
		Outlier: &balancer.OutlierConfig{ConsecutiveFailures: 3, MaxEjectionPercent: 50,
			OnEject: func(inst discovery.Instance, _ string, _ time.Duration) {
				mu.Lock()
				ejected = append(ejected, inst.ID)
				mu.Unlock()
			}},
	})
	for i := range 30 {
		resp, err := http.Get(url + "/v1/users/42")
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || string(body) != "users answered spiffe://shop.internal/gateway" {
			t.Fatalf("GET %d: %d %q", i, resp.StatusCode, body)
		}
	}
	if n := impostor.calls.Load(); n != 0 {
		t.Fatalf("the impostor served %d requests", n)
	}
	if n := real.calls.Load(); n != 30 {
		t.Fatalf("the real users served %d requests, want 30", n)
	}
	if !hostByID(t, g, "a-impostor").Ejected {
		t.Fatal("the impostor was not ejected")
	}
	mu.Lock()
	defer mu.Unlock()
	if len(ejected) != 1 || ejected[0] != "a-impostor" {
		t.Fatalf("OnEject calls: %v", ejected)
	}
}

// TestUpstreamTLSPoolPerService: a forged registration puts users at
// catalog's address. A connection the gateway made to catalog, verified
// as catalog, sits in its pool; a request for users must not ride on it,
// since connections are pooled by address. Each service has its own pool,
// so the users request makes its own handshake, which refuses catalog.
func TestUpstreamTLSPoolPerService(t *testing.T) {
	ca := mtlstest.NewCA("shop CA")
	catalog := serveTLS(t, workload(t, ca, "catalog"))
	reg := memory.New()
	defer reg.Close()
	register(t, reg, "catalog", "catalog-1", catalog.addr)
	register(t, reg, "users", "forged", catalog.addr)
	_, url := startGateway(t, reg, []gateway.Route{
		{Pattern: "/catalog/", Service: "catalog"},
		{Pattern: "/users/", Service: "users"},
	}, nil, gateway.Config{UpstreamTLS: upstreamTLS(workload(t, ca, "gateway"))})
	if code, _, _ := status(t, mustGet(t, url+"/catalog/products")); code != http.StatusOK {
		t.Fatalf("catalog: %d", code)
	}
	if code, _, _ := status(t, mustGet(t, url+"/users/42")); code == http.StatusOK {
		t.Fatal("a users request was answered by catalog")
	}
	if n := catalog.calls.Load(); n != 1 {
		t.Fatalf("catalog served %d requests, want 1 (its own)", n)
	}
}

func TestUpstreamTLSConfig(t *testing.T) {
	ca := mtlstest.NewCA("shop CA")
	src := workload(t, ca, "gateway")
	reg := memory.New()
	defer reg.Close()
	routes := []gateway.Route{{Pattern: "/", Service: "users"}}
	withDialTLS := gateway.NewTransport(8)
	withDialTLS.DialTLSContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
		return nil, errors.New("unused")
	}
	for name, cfg := range map[string]gateway.Config{
		"a RoundTripper that is not an *http.Transport": {UpstreamTLS: upstreamTLS(src), Transport: roundTripperFunc(http.DefaultTransport.RoundTrip)},
		"DialTLSContext":                   {UpstreamTLS: upstreamTLS(src), Transport: withDialTLS},
		"no configuration for the service": {UpstreamTLS: func(string) *tls.Config { return nil }},
		"a service that is not an ID":      {UpstreamTLS: upstreamTLS(src)},
	} {
		rs := routes
		if name == "a service that is not an ID" {
			rs = []gateway.Route{{Pattern: "/", Service: "users/admin"}}
		}
		g, err := gateway.New(context.Background(), reg, rs, cfg)
		if !errors.Is(err, gateway.ErrConfig) {
			if g != nil {
				g.Close()
			}
			t.Errorf("%s: New = %v, want ErrConfig", name, err)
		}
	}
	// A Transport of the caller's is cloned per service, its settings kept.
	base := gateway.NewTransport(8)
	g, err := gateway.New(context.Background(), reg, routes, gateway.Config{UpstreamTLS: upstreamTLS(src), Transport: base})
	if err != nil {
		t.Fatal(err)
	}
	g.Close()
	if base.TLSClientConfig != nil {
		t.Error("the caller's Transport was modified")
	}
}

type roundTripperFunc func(*http.Request) (*http.Response, error)

func (f roundTripperFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }
