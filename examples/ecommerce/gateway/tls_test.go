package gateway_test

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/switchyard/switchyard/discovery"
	"github.com/switchyard/switchyard/examples/ecommerce/gateway"
	"github.com/switchyard/switchyard/examples/ecommerce/internal/secure"
	"github.com/switchyard/switchyard/examples/ecommerce/internal/secure/securetest"
	"github.com/switchyard/switchyard/examples/ecommerce/internal/settings"
	tgw "github.com/switchyard/switchyard/transport/gateway"
)

// loadID is the identity a shop process started as service would have
// with files.
func loadID(t *testing.T, files settings.TLSFiles, service string) *secure.Identity {
	t.Helper()
	id, err := secure.Load(files, service, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// startTLS starts the instance instID of service on 127.0.0.1, serving
// over the shop's mutual TLS with the certificate id holds — which may be
// another service's, for an impostor — and registers it with reg. It
// returns the instance's address.
func (s *fakeShop) startTLS(service, instID string, h http.Handler, id *secure.Identity, reg discovery.Registrar) string {
	s.t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		s.t.Fatal(err)
	}
	srv := &http.Server{
		Handler:           s.instance(service, instID, h),
		ReadHeaderTimeout: 5 * time.Second,
		ErrorLog:          log.New(io.Discard, "", 0), // refused handshakes are expected
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		srv.Serve(tls.NewListener(ln, id.Server()))
	}()
	s.t.Cleanup(func() {
		srv.Close()
		<-done
	})
	inst := discovery.Instance{ID: instID, Service: service, Addr: ln.Addr().String()}
	if err := reg.Register(context.Background(), inst); err != nil {
		s.t.Fatal(err)
	}
	return inst.Addr
}

// newTLSShop starts the fake users, catalog and orders over mutual TLS,
// one instance each ("<service>-1"), each holding a certificate of pki for
// its own service, registered with the shop's memory registry.
func newTLSShop(t *testing.T, pki *securetest.PKI) *fakeShop {
	s := newFakeShopState(t)
	s.startTLSServices(pki, s.reg)
	return s
}

func (s *fakeShop) startTLSServices(pki *securetest.PKI, reg discovery.Registrar) {
	t := s.t.(*testing.T)
	for _, svc := range []struct {
		name string
		h    http.Handler
	}{{"users", s.usersHandler()}, {"catalog", s.catalogHandler()}, {"orders", s.ordersHandler()}} {
		s.startTLS(svc.name, svc.name+"-1", svc.h, loadID(t, pki.Issue(t, svc.name), svc.name), reg)
	}
}

// tlsOptions are the Options Run gives New for the identity id.
func tlsOptions(id *secure.Identity) gateway.Options {
	return gateway.Options{
		Login: noLimit, Signup: noLimit,
		Peers: id.Peers(),
		UpstreamTLS: func(service string) *tls.Config {
			cfg, _ := id.Upstream(service)
			return cfg
		},
		ProbeTLS: id.Source().ClientConfig(),
	}
}

func (s *fakeShop) proberIDs() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.probers...)
}

// TestUpstreamMutualTLS runs the shop's gateway as the gateway's identity
// over services that require the shop's client certificates: sign-up,
// login, a token checked with keys fetched over TLS, an order and the
// catalogue all work. Beside the genuine catalog, an instance registered
// as catalog holds orders' certificate: it is refused at every handshake
// and serves nothing, its refusals are counted against it on the
// dashboard, and every request still succeeds through the genuine one.
// With the genuine instance gone, the impostor is tried alone, still
// serves nothing, and is ejected; when the genuine instance is back the
// catalogue is served again. The dashboard probed every instance over
// TLS, presenting the gateway's certificate.
func TestUpstreamMutualTLS(t *testing.T) {
	pki := securetest.New(t, "shop")
	shop := newTLSShop(t, pki)
	shop.startTLS("catalog", "catalog-impostor", shop.catalogHandler(), loadID(t, pki.Issue(t, "orders"), "orders"), shop.reg)
	gid := loadID(t, pki.Issue(t, secure.Gateway), secure.Gateway)
	base, g := startGatewayWith(t, shop, tlsOptions(gid), 0)

	token := signupLogin(t, base, "buyer@example.com")
	if st, _, b := call(t, "GET", base+"/api/v1/me", token, nil); st != http.StatusOK {
		t.Fatalf("GET /api/v1/me: %d %s", st, b)
	}
	if st, _, b := call(t, "POST", base+"/api/v1/orders", token,
		map[string]any{"items": []map[string]any{{"product_id": "prd_01", "quantity": 1}}}, "Idempotency-Key", "k1"); st != http.StatusCreated {
		t.Fatalf("POST /api/v1/orders: %d %s", st, b)
	}
	for i := range 20 {
		if st, _, b := call(t, "GET", base+"/api/v1/products", "", nil); st != http.StatusOK {
			t.Fatalf("GET /api/v1/products %d: %d %s", i, st, b)
		}
	}
	if n := shop.callCount("instance catalog-impostor"); n != 0 {
		t.Fatalf("the impostor served %d requests", n)
	}
	if n := shop.callCount("instance catalog-1"); n != 20 {
		t.Errorf("the genuine catalog served %d requests, want 20", n)
	}
	imp, genuine := instanceState(t, g, "catalog-impostor"), instanceState(t, g, "catalog-1")
	if imp.Failures == 0 || imp.Requests != imp.Failures {
		t.Errorf("the impostor on the dashboard: %+v; want its refused handshakes counted as failures, and nothing else", imp)
	}
	if genuine.Requests != 20 || genuine.Failures != 0 || genuine.Health != "ready" {
		t.Errorf("the genuine catalog on the dashboard: %+v; want 20 requests, no failure, ready", genuine)
	}
	for _, s := range []string{"users-1", "orders-1"} {
		if st := instanceState(t, g, s); st.Health != "ready" || st.Requests == 0 {
			t.Errorf("%s on the dashboard: %+v", s, st)
		}
	}
	probers := shop.proberIDs()
	if len(probers) < 4 {
		t.Errorf("%d probes over TLS, want one per instance (4)", len(probers))
	}
	for _, p := range probers {
		if p != "spiffe://shop.internal/gateway" {
			t.Errorf("a probe came from %q, want the gateway's identity", p)
		}
	}

	// The genuine catalog leaves: the impostor alone is tried, refused,
	// and ejected after outlier detection's five consecutive failures.
	catalog1 := discovery.Instance{ID: "catalog-1", Service: "catalog"}
	for _, i := range instancesOf(g.State(t.Context()), "catalog") {
		if i.ID == "catalog-1" {
			catalog1.Addr = i.Addr
		}
	}
	if err := shop.reg.Deregister(t.Context(), catalog1); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool { return len(instancesOf(g.State(t.Context()), "catalog")) == 1 })
	for i := 0; i < 10 && !instanceState(t, g, "catalog-impostor").Ejected; i++ {
		if st, _, b := call(t, "GET", base+"/api/v1/products", "", nil); st != http.StatusBadGateway && st != http.StatusServiceUnavailable {
			t.Fatalf("GET /api/v1/products with the impostor alone: %d %s, want 502 or 503", st, b)
		}
	}
	if !instanceState(t, g, "catalog-impostor").Ejected {
		t.Fatalf("the impostor was not ejected: %+v", instanceState(t, g, "catalog-impostor"))
	}

	if err := shop.reg.Register(t.Context(), catalog1); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool { return len(instancesOf(g.State(t.Context()), "catalog")) == 2 })
	for i := range 10 {
		if st, _, b := call(t, "GET", base+"/api/v1/products", "", nil); st != http.StatusOK {
			t.Fatalf("GET /api/v1/products %d with the genuine catalog back: %d %s", i, st, b)
		}
	}
	if n := shop.callCount("instance catalog-impostor"); n != 0 {
		t.Fatalf("the impostor served %d requests", n)
	}
	if !instanceState(t, g, "catalog-impostor").Ejected {
		t.Error("the impostor is no longer ejected")
	}
}

// TestProbesOverTLS: the dashboard's readiness probes reach instances that
// serve mutual TLS only with Options.ProbeTLS, presenting the gateway's
// certificate; plain HTTP probes of the same instances find nothing ready.
func TestProbesOverTLS(t *testing.T) {
	pki := securetest.New(t, "shop")
	shop := newTLSShop(t, pki)
	gid := loadID(t, pki.Issue(t, secure.Gateway), secure.Gateway)
	for _, overTLS := range []bool{true, false} {
		t.Run(fmt.Sprintf("ProbeTLS set %v", overTLS), func(t *testing.T) {
			o := tlsOptions(gid)
			if !overTLS {
				o.ProbeTLS = nil
			}
			o.Resolver, o.Logger = shop.reg, slog.New(slog.DiscardHandler)
			g, err := gateway.New(t.Context(), o)
			if err != nil {
				t.Fatal(err)
			}
			defer g.Close()
			waitFor(t, func() bool { return g.Ready(t.Context()) == nil })
			before := len(shop.proberIDs())
			st := g.State(t.Context())
			for _, s := range []string{"users", "catalog", "orders"} {
				insts := instancesOf(st, s)
				if len(insts) != 1 {
					t.Fatalf("%s: %+v", s, insts)
				}
				if ready := insts[0].Health == "ready"; ready != overTLS {
					t.Errorf("%s's health %q", s, insts[0].Health)
				}
			}
			probers := shop.proberIDs()[before:]
			if !overTLS {
				if len(probers) != 0 {
					t.Errorf("plain probes reached a handler over TLS: %q", probers)
				}
				return
			}
			if len(probers) != 3 {
				t.Errorf("probes over TLS: %q, want 3", probers)
			}
			for _, p := range probers {
				if p != "spiffe://shop.internal/gateway" {
					t.Errorf("a probe came from %q, want the gateway's identity", p)
				}
			}
		})
	}
}

// TestOptionsTLS: the upstream TLS options that New refuses.
func TestOptionsTLS(t *testing.T) {
	pki := securetest.New(t, "shop")
	gid := loadID(t, pki.Issue(t, secure.Gateway), secure.Gateway)
	shop := newFakeShopState(t)
	full := tlsOptions(gid)
	for name, c := range map[string]struct {
		o    gateway.Options
		want error
	}{
		"Peers alone":       {gateway.Options{Peers: full.Peers}, gateway.ErrOptions},
		"UpstreamTLS alone": {gateway.Options{UpstreamTLS: full.UpstreamTLS}, gateway.ErrOptions},
		"a Transport that is not an *http.Transport": {
			gateway.Options{Peers: full.Peers, UpstreamTLS: full.UpstreamTLS, Transport: stubTransport{}}, tgw.ErrConfig},
	} {
		c.o.Resolver, c.o.Authenticator, c.o.Logger = shop.reg, passAuth{}, slog.New(slog.DiscardHandler)
		g, err := gateway.New(t.Context(), c.o)
		if !errors.Is(err, c.want) {
			if g != nil {
				g.Close()
			}
			t.Errorf("%s: New = %v, want %v", name, err, c.want)
		}
	}
}
