package registry_test

import (
	"context"
	"crypto/tls"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/switchyard/switchyard/client"
	"github.com/switchyard/switchyard/discovery"
	"github.com/switchyard/switchyard/discovery/dns/dnstest"
	"github.com/switchyard/switchyard/examples/ecommerce/catalog"
	"github.com/switchyard/switchyard/examples/ecommerce/internal/authn"
	"github.com/switchyard/switchyard/examples/ecommerce/internal/call"
	"github.com/switchyard/switchyard/examples/ecommerce/internal/registry"
	"github.com/switchyard/switchyard/examples/ecommerce/internal/secure"
	"github.com/switchyard/switchyard/examples/ecommerce/internal/secure/securetest"
	"github.com/switchyard/switchyard/examples/ecommerce/internal/settings"
	"github.com/switchyard/switchyard/examples/ecommerce/users"
)

// freePort returns a TCP port that was free on 127.0.0.1 a moment ago:
// DNS records name a port before the service listens on it, as a
// Kubernetes Service names the containerPort.
func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// Users and catalog run with --registry dns+srv://… on mutual TLS, with no
// etcd anywhere: a real DNS server publishes their SRV and A records the
// way Kubernetes does for headless Services. The catalog fetches users'
// signing keys through DNS and mutual TLS, the gateway's identity signs in
// and creates a product (its token checked with those keys), a caller
// using the A-record form reaches users too, and both services are ready
// with nothing registered.
func TestRunOnDNS(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	pki := securetest.New(t, "shop")
	ns := dnstest.Start(t)
	usersPort, catalogPort := freePort(t), freePort(t)
	if err := ns.Set(
		fmt.Sprintf("_http._tcp.users.shop.test. 5 IN SRV 0 10 %d users-0.users.shop.test.", usersPort),
		"users-0.users.shop.test. 5 IN A 127.0.0.1",
		fmt.Sprintf("_http._tcp.catalog.shop.test. 5 IN SRV 0 10 %d catalog-0.catalog.shop.test.", catalogPort),
		"catalog-0.catalog.shop.test. 5 IN A 127.0.0.1",
		"users.shop.test. 5 IN A 127.0.0.1",
	); err != nil {
		t.Fatal(err)
	}
	srvURL := "dns+srv://_http._tcp.{service}.shop.test?server=" + ns.Addr()
	aURL := "dns://{service}.shop.test:" + strconv.Itoa(usersPort) + "?server=" + ns.Addr()

	base := settings.Service{
		Registry: srvURL, AdminEmail: "root@shop.example", AdminPassword: "12345678",
		Logger: slog.New(slog.DiscardHandler), DrainDelay: -1,
	}
	data := t.TempDir()
	usersCfg, catalogCfg := base, base
	usersCfg.Listen = "127.0.0.1:" + strconv.Itoa(usersPort)
	catalogCfg.Listen = "127.0.0.1:" + strconv.Itoa(catalogPort)
	usersCfg.Data, catalogCfg.Data = filepath.Join(data, "users"), filepath.Join(data, "catalog")
	usersCfg.TLS, catalogCfg.TLS = pki.Issue(t, "users"), pki.Issue(t, "catalog")
	for _, c := range []settings.Service{usersCfg, catalogCfg} {
		if err := c.Validate(); err != nil {
			t.Fatal(err)
		}
	}

	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 2)
	go func() {
		done <- users.RunWith(runCtx, usersCfg, users.WithArgon2(users.Argon2Params{Time: 1, MemoryKiB: 64, Threads: 1}))
	}()
	go func() { done <- catalog.Run(runCtx, catalogCfg) }()
	stopped := false
	t.Cleanup(func() {
		if !stopped {
			stop()
			for range 2 {
				<-done
			}
		}
	})

	// as returns a client factory of a process holding service's
	// certificate that finds the others through url.
	as := func(service, url string) func(target, method, path string) *call.Client {
		id, err := secure.Load(pki.Issue(t, service), service, slog.New(slog.DiscardHandler))
		if err != nil {
			t.Fatal(err)
		}
		// The registry option is the etcd TLS the services pass; DNS
		// takes it and has no use for it.
		conn, err := registry.Connect(ctx, url, id.Registry())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { conn.Close() })
		return func(target, method, path string) *call.Client {
			c, err := call.New(ctx, conn.Resolver, target, method, path, client.Config{}, call.WithTLS(id.Peers()))
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { c.Close() })
			return c
		}
	}
	gateway := as("gateway", srvURL)
	login := gateway("users", http.MethodPost, "/v1/login")
	create := gateway("catalog", http.MethodPost, "/v1/products")
	jwks := as("orders", aURL)("users", http.MethodGet, authn.JWKSPath)

	// The services are up once they answer; until then the calls fail
	// (connection refused) and are tried again.
	var tok users.Token
	for {
		var err error
		if tok, err = call.JSON[users.Token](ctx, login, call.Request{Body: users.LoginRequest{Email: base.AdminEmail, Password: "12345678"}}); err == nil {
			break
		}
		select {
		case err := <-done:
			t.Fatalf("Run: %v", err)
		case <-ctx.Done():
			t.Fatalf("login through DNS never worked: %v", err)
		case <-time.After(50 * time.Millisecond):
		}
	}
	admin := http.Header{"Authorization": {"Bearer " + tok.Token}}
	one := int64(1)
	// The catalog checks the token with keys it fetched from users, found
	// through the SRV records. It may not have them yet right after start.
	for {
		_, err := call.JSON[catalog.Product](ctx, create, call.Request{Header: admin,
			Body: catalog.NewProduct{Name: "Found by DNS", PriceCents: &one, Stock: &one}})
		if err == nil {
			break
		}
		select {
		case <-ctx.Done():
			t.Fatalf("create through the catalog found by DNS: %v", err)
		case <-time.After(50 * time.Millisecond):
		}
	}
	if _, err := jwks.Call(ctx, call.Request{}); err != nil {
		t.Fatalf("users' keys through the A-record form: %v", err)
	}

	// Readiness is the services' own checks: nothing is registered, and
	// they are ready. Probes hold no certificate and do not verify the
	// server's, as the kubelet's do not.
	probe := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
	defer probe.CloseIdleConnections()
	for _, port := range []int{usersPort, catalogPort} {
		resp, err := probe.Get("https://127.0.0.1:" + strconv.Itoa(port) + "/readyz")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Errorf("GET /readyz on port %d: %d, want 200", port, resp.StatusCode)
		}
	}

	stop()
	stopped = true
	for range 2 {
		if err := <-done; err != nil {
			t.Fatalf("Run after stop: %v", err)
		}
	}
}

// The registrar of a DNS registry accepts every registration and reports
// no state of its own; the resolver reads the records, and none of it
// needs an etcd client.
func TestConnectDNS(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ns := dnstest.Start(t)
	if err := ns.Set("_http._tcp.users.shop.test. 5 IN SRV 0 10 8080 u.shop.test.", "u.shop.test. 5 IN A 10.0.0.7"); err != nil {
		t.Fatal(err)
	}
	conn, err := registry.Connect(ctx, "dns+srv://_http._tcp.{service}.shop.test?server="+ns.Addr())
	if err != nil {
		t.Fatal(err)
	}
	if conn.Client != nil {
		t.Error("a DNS registry has an etcd client")
	}
	if _, ok := conn.Registrar.(discovery.StateReporter); ok {
		t.Error("the DNS registrar reports a registration state: /readyz would carry it")
	}
	in := discovery.Instance{ID: "users-1", Service: "users", Addr: "127.0.0.1:1"}
	if err := conn.Registrar.Register(ctx, in); err != nil {
		t.Fatal(err)
	}
	w, err := conn.Resolver.Watch(ctx, "users")
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	select {
	case u := <-w.Updates():
		if u.Err != nil || len(u.Instances) != 1 || u.Instances[0].Addr != "10.0.0.7:8080" {
			t.Fatalf("update = %+v, want the SRV record's 10.0.0.7:8080 alone", u)
		}
	case <-ctx.Done():
		t.Fatal("no update")
	}
	if err := conn.Registrar.Deregister(ctx, in); err != nil {
		t.Fatal(err)
	}
	if err := conn.Close(); err != nil {
		t.Fatal(err)
	}
}
