package catalog_test

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"testing"
	"time"

	"github.com/switchyard/switchyard/client"
	"github.com/switchyard/switchyard/discovery/etcd/embedded"
	"github.com/switchyard/switchyard/examples/ecommerce/catalog"
	"github.com/switchyard/switchyard/examples/ecommerce/internal/call"
	"github.com/switchyard/switchyard/examples/ecommerce/internal/registry"
	"github.com/switchyard/switchyard/examples/ecommerce/internal/settings"
	"github.com/switchyard/switchyard/examples/ecommerce/users"
	shttp "github.com/switchyard/switchyard/transport/http"
)

// Run serves the catalog in the registry; an admin signed up with the users
// service creates a product, which catalog accepts after fetching users'
// JWKS through the registry, and orders-style calls reserve and release it.
func TestRun(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	etcd, err := embedded.Start(ctx, t.TempDir(), "127.0.0.1:0", embedded.Config{UnsafeNoFsync: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { etcd.Close() })
	cfg := settings.Service{
		Registry: "etcd://" + etcd.Addr(), Listen: "127.0.0.1:0", Data: t.TempDir(),
		AdminEmail: "root@shop.example", AdminPassword: "12345678",
		Logger: slog.New(slog.DiscardHandler), DrainDelay: -1,
	}
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 3)
	go func() {
		done <- users.RunWith(runCtx, cfg, users.WithArgon2(users.Argon2Params{Time: 1, MemoryKiB: 64, Threads: 1}))
	}()
	for range 2 {
		go func() { done <- catalog.Run(runCtx, cfg) }()
	}
	checked := false
	t.Cleanup(func() { // on failure: stop the services before etcd goes
		if !checked {
			stop()
			for range 3 {
				select {
				case <-done:
				case <-time.After(10 * time.Second):
				}
			}
		}
	})

	reg, err := registry.Connect(ctx, cfg.Registry)
	if err != nil {
		t.Fatal(err)
	}
	defer reg.Close()
	client := func(service, method, path string) *call.Client {
		c, err := call.New(ctx, reg.Resolver, service, method, path, client.Config{})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}
	signup := client("users", http.MethodPost, "/v1/users")
	login := client("users", http.MethodPost, "/v1/login")
	create := client("catalog", http.MethodPost, "/v1/products")
	list := client("catalog", http.MethodGet, "/v1/products")
	reserve := client("catalog", http.MethodPost, "/v1/reservations")
	release := client("catalog", http.MethodDelete, "/v1/reservations/")

	for !sees(1, signup, login) || !sees(2, create, list, reserve, release) {
		select {
		case err := <-done:
			t.Fatalf("Run: %v", err)
		case <-time.After(20 * time.Millisecond):
		}
	}

	page, err := call.JSON[catalog.Page](ctx, list, call.Request{Path: "/v1/products?limit=200"})
	if err != nil || len(page.Products) != len(catalog.SeedProducts) {
		t.Fatalf("list: %d products, %v", len(page.Products), err)
	}

	// The users service creates the admin account itself at start; anybody
	// else signs up first.
	token := func(email string) http.Header {
		if email != cfg.AdminEmail {
			if _, err := signup.Call(ctx, call.Request{Body: users.SignupRequest{Email: email, Password: "12345678", Name: "N"}}); err != nil {
				t.Fatal(err)
			}
		}
		tok, err := call.JSON[users.Token](ctx, login, call.Request{Body: users.LoginRequest{Email: email, Password: "12345678"}})
		if err != nil {
			t.Fatal(err)
		}
		return http.Header{"Authorization": {"Bearer " + tok.Token}}
	}
	adminH, userH := token("root@shop.example"), token("ann@example.com")

	stock := int64(2)
	body := catalog.NewProduct{Name: "Limited print", PriceCents: &stock, Stock: &stock}
	_, err = create.Call(ctx, call.Request{Header: userH, Body: body})
	var re *shttp.ResponseError
	if !errors.As(err, &re) || re.Status != 403 {
		t.Fatalf("create as user: %v", err)
	}
	p, err := call.JSON[catalog.Product](ctx, create, call.Request{Header: adminH, Body: body})
	if err != nil || p.Stock != 2 {
		t.Fatalf("create as admin: %+v, %v", p, err)
	}

	r, err := call.JSON[catalog.Reservation](ctx, reserve, call.Request{
		Body: catalog.ReserveRequest{OrderID: "ord_1", Items: []catalog.Item{{ProductID: p.ID, Quantity: 2}}}})
	if err != nil || len(r.Items) != 1 || r.Items[0].PriceCents != 2 {
		t.Fatalf("reserve: %+v, %v", r, err)
	}
	_, err = reserve.Call(ctx, call.Request{
		Body: catalog.ReserveRequest{OrderID: "ord_2", Items: []catalog.Item{{ProductID: p.ID, Quantity: 1}}}})
	if !errors.As(err, &re) || re.Status != 409 || re.Code != "out_of_stock" {
		t.Fatalf("second reservation: %v", err)
	}
	if _, err := release.Call(ctx, call.Request{Path: "/v1/reservations/ord_1"}); err != nil {
		t.Fatal(err)
	}

	stop()
	checked = true
	for range 3 {
		if err := <-done; err != nil {
			t.Fatalf("Run after stop: %v", err)
		}
	}
}

// sees reports whether every client's balancer holds n instances.
func sees(n int, clients ...*call.Client) bool {
	for _, c := range clients {
		if m, _ := c.Endpoint().Balancer().Len(); m != n {
			return false
		}
	}
	return true
}
