package catalog_test

import (
	"context"
	"crypto/tls"
	"errors"
	"log/slog"
	"net/http"
	"path/filepath"
	"testing"
	"time"

	"github.com/switchyard/switchyard/client"
	"github.com/switchyard/switchyard/discovery/etcd/embedded"
	"github.com/switchyard/switchyard/examples/ecommerce/catalog"
	"github.com/switchyard/switchyard/examples/ecommerce/internal/call"
	"github.com/switchyard/switchyard/examples/ecommerce/internal/registry"
	"github.com/switchyard/switchyard/examples/ecommerce/internal/secure"
	"github.com/switchyard/switchyard/examples/ecommerce/internal/secure/securetest"
	"github.com/switchyard/switchyard/examples/ecommerce/internal/settings"
	"github.com/switchyard/switchyard/examples/ecommerce/users"
	shttp "github.com/switchyard/switchyard/transport/http"
)

// With --tls-cert, --tls-key and --tls-ca the catalog joins a registry
// that requires client certificates, fetches users' keys over mutual TLS
// and serves its routes to the services its Policy names only: orders
// reserves, the gateway creates products with an admin token and lists
// them, and the gateway's reservation or a caller without a certificate
// is refused with 403 and changes no stock. /healthz stays open.
func TestRunMutualTLS(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	pki := securetest.New(t, "shop")
	reg := pki.Issue(t, secure.RegistryService)
	etcd, err := embedded.Start(ctx, t.TempDir(), "127.0.0.1:0", embedded.Config{UnsafeNoFsync: true,
		TLS: &embedded.TLSFiles{CertFile: reg.Cert, KeyFile: reg.Key, CAFile: reg.CA}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { etcd.Close() })
	base := settings.Service{
		Registry: "etcd://" + etcd.Addr(), Listen: "127.0.0.1:0",
		AdminEmail: "root@shop.example", AdminPassword: "12345678",
		Logger: slog.New(slog.DiscardHandler), DrainDelay: -1,
	}
	data := t.TempDir()
	usersCfg, catalogCfg := base, base
	usersCfg.Data, catalogCfg.Data = filepath.Join(data, "users"), filepath.Join(data, "catalog")
	usersCfg.TLS, catalogCfg.TLS = pki.Issue(t, "users"), pki.Issue(t, "catalog")

	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 2)
	go func() {
		done <- users.RunWith(runCtx, usersCfg, users.WithArgon2(users.Argon2Params{Time: 1, MemoryKiB: 64, Threads: 1}))
	}()
	go func() { done <- catalog.Run(runCtx, catalogCfg) }()
	checked := false
	t.Cleanup(func() {
		if !checked {
			stop()
			for range 2 {
				select {
				case <-done:
				case <-time.After(10 * time.Second):
				}
			}
		}
	})

	// as returns the registry connection and a client factory of a process
	// holding service's certificate.
	as := func(service string) func(target, method, path string) *call.Client {
		id, err := secure.Load(pki.Issue(t, service), service, slog.New(slog.DiscardHandler))
		if err != nil {
			t.Fatal(err)
		}
		conn, err := registry.Connect(ctx, base.Registry, id.Registry())
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
	gateway, orders := as("gateway"), as("orders")
	login := gateway("users", http.MethodPost, "/v1/login")
	create := gateway("catalog", http.MethodPost, "/v1/products")
	list := gateway("catalog", http.MethodGet, "/v1/products")
	gatewayReserve := gateway("catalog", http.MethodPost, "/v1/reservations")
	reserve := orders("catalog", http.MethodPost, "/v1/reservations")
	for !sees(1, login, create, list, gatewayReserve, reserve) {
		select {
		case err := <-done:
			t.Fatalf("Run: %v", err)
		case <-time.After(20 * time.Millisecond):
		}
	}

	tok, err := call.JSON[users.Token](ctx, login, call.Request{Body: users.LoginRequest{Email: base.AdminEmail, Password: "12345678"}})
	if err != nil {
		t.Fatalf("login through mutual TLS: %v", err)
	}
	admin := http.Header{"Authorization": {"Bearer " + tok.Token}}
	one := int64(1)
	// The catalog checks the admin's token with the keys it fetched from
	// users over mutual TLS.
	p, err := call.JSON[catalog.Product](ctx, create, call.Request{Header: admin,
		Body: catalog.NewProduct{Name: "Last one", PriceCents: &one, Stock: &one}})
	if err != nil {
		t.Fatalf("create as admin through the gateway's identity: %v", err)
	}
	order := func(id string) call.Request {
		return call.Request{Body: catalog.ReserveRequest{OrderID: id, Items: []catalog.Item{{ProductID: p.ID, Quantity: 1}}}}
	}
	var re *shttp.ResponseError
	if _, err := gatewayReserve.Call(ctx, order("ord_gw")); !errors.As(err, &re) || re.Status != 403 || re.Code != "forbidden" {
		t.Fatalf("reservation by the gateway: %v, want 403 forbidden", err)
	}

	// A caller without a certificate reaches /healthz and nothing else.
	addr := catalogAddr(t, list)
	anon := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
	defer anon.CloseIdleConnections()
	for path, want := range map[string]int{"/healthz": 200, "/v1/products": 403} {
		resp, err := anon.Get("https://" + addr + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Errorf("GET %s without a certificate: %d, want %d", path, resp.StatusCode, want)
		}
	}

	// Orders gets the one item the refused callers did not take.
	if _, err := reserve.Call(ctx, order("ord_1")); err != nil {
		t.Fatalf("reservation by orders: %v", err)
	}

	stop()
	checked = true
	for range 2 {
		if err := <-done; err != nil {
			t.Fatalf("Run after stop: %v", err)
		}
	}
}

// catalogAddr returns the address of the one catalog instance that c's
// balancer holds.
func catalogAddr(t *testing.T, c *call.Client) string {
	t.Helper()
	hosts, _ := c.Endpoint().Balancer().Hosts()
	for _, h := range hosts {
		return h.Instance.Addr
	}
	t.Fatal("no catalog instance")
	return ""
}
