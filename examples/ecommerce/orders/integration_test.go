package orders_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"testing"
	"time"

	"github.com/switchyard/switchyard/client"
	"github.com/switchyard/switchyard/discovery/memory"
	"github.com/switchyard/switchyard/examples/ecommerce/catalog"
	"github.com/switchyard/switchyard/examples/ecommerce/internal/authn"
	"github.com/switchyard/switchyard/examples/ecommerce/internal/call"
	"github.com/switchyard/switchyard/examples/ecommerce/internal/instance"
	"github.com/switchyard/switchyard/examples/ecommerce/internal/sqlite"
	"github.com/switchyard/switchyard/examples/ecommerce/orders"
	"github.com/switchyard/switchyard/examples/ecommerce/users"
	shttp "github.com/switchyard/switchyard/transport/http"
)

// shop runs the real users, catalog and orders services, each through
// instance.Run on 127.0.0.1:0 and registered in one discovery/memory
// registry; orders finds users and catalog, and the keys that verify
// tokens, only through the registry and the client chain.
type shop struct {
	reg    *memory.Registry
	orders string // base URL of the orders instance
	http   *http.Client
	// signup, login and products call users and catalog the way any
	// other service would.
	signup, login, products, product *call.Client
}

func startShop(t *testing.T) *shop {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	reg := memory.New()
	dir := t.TempDir()
	logger := slog.New(slog.DiscardHandler)
	var stops []func()
	t.Cleanup(func() {
		cancel()
		for i := len(stops) - 1; i >= 0; i-- {
			stops[i]()
		}
		reg.Close()
		shttp.DefaultTransport.CloseIdleConnections()
	})
	run := func(name string, h http.Handler) string {
		t.Helper()
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		ready := make(chan struct{})
		done := make(chan error, 1)
		go func() {
			done <- instance.Run(ctx, instance.Config{
				Service: name, Handler: h, Listener: ln, Registrar: reg, Logger: logger,
				DrainDelay: -1, OnReady: func(net.Addr) { close(ready) },
			})
		}()
		stops = append(stops, func() {
			if err := <-done; err != nil {
				t.Errorf("%s: instance.Run: %v", name, err)
			}
		})
		select {
		case <-ready:
		case err := <-done:
			t.Fatalf("%s: instance.Run: %v", name, err)
		}
		return "http://" + ln.Addr().String()
	}
	open := func(name string, migrations []sqlite.Migration) *sqlite.DB {
		db, err := sqlite.Open(ctx, filepath.Join(dir, name+".db"), migrations...)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		return db
	}

	// users
	key, err := users.LoadOrCreateKey(dir)
	if err != nil {
		t.Fatal(err)
	}
	usvc, err := users.NewService(users.NewSQLiteStore(open("users", users.Migrations)), key,
		users.WithArgon2(users.Argon2Params{Time: 1, MemoryKiB: 64, Threads: 1}))
	if err != nil {
		t.Fatal(err)
	}
	uh, err := users.NewHandler(usvc, key)
	if err != nil {
		t.Fatal(err)
	}
	run("users", uh)

	// catalog, verifying admin tokens with users' JWKS through discovery
	v, err := authn.NewVerifier(ctx, reg, nil)
	if err != nil {
		t.Fatal(err)
	}
	stops = append(stops, func() { v.Close() })
	run("catalog", catalog.NewHTTPHandler(catalog.MakeEndpoints(catalog.NewService(catalog.NewSQLiteStore(open("catalog", catalog.Migrations)))), v))

	// orders, as Run wires it
	h, cleanup, err := orders.NewHandler(ctx, orders.HandlerConfig{
		Store: orders.NewSQLiteStore(open("orders", orders.Migrations)), Resolver: reg, Logger: logger,
	})
	if err != nil {
		t.Fatal(err)
	}
	stops = append(stops, cleanup)
	s := &shop{reg: reg, orders: run("orders", h), http: &http.Client{Transport: shttp.DefaultTransport, Timeout: 30 * time.Second}}

	client := func(service, method, path string) *call.Client {
		c, err := call.New(ctx, reg, service, method, path, client.Config{})
		if err != nil {
			t.Fatal(err)
		}
		stops = append(stops, func() { c.Close() })
		return c
	}
	s.signup = client("users", http.MethodPost, "/v1/users")
	s.login = client("users", http.MethodPost, "/v1/login")
	s.products = client("catalog", http.MethodGet, "/v1/products?limit=200")
	s.product = client("catalog", http.MethodGet, "/v1/products")
	return s
}

// user signs a user up and returns a token for them.
func (s *shop) user(t *testing.T, email string) (id, token string) {
	t.Helper()
	ctx := context.Background()
	u, err := call.JSON[users.User](ctx, s.signup, call.Request{
		Body: users.SignupRequest{Email: email, Password: "correct horse", Name: "Tester"}})
	if err != nil {
		t.Fatal(err)
	}
	tok, err := call.JSON[users.Token](ctx, s.login, call.Request{
		Body: users.LoginRequest{Email: email, Password: "correct horse"}})
	if err != nil {
		t.Fatal(err)
	}
	return u.ID, tok.Token
}

func (s *shop) stock(t *testing.T, id string) int64 {
	t.Helper()
	p, err := call.JSON[catalog.Product](context.Background(), s.product, call.Request{Path: "/v1/products/" + id})
	if err != nil {
		t.Fatal(err)
	}
	return p.Stock
}

func (s *shop) do(t *testing.T, method, path, token, key string, body any) answer {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, s.orders+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	if key != "" {
		req.Header.Set(orders.HeaderIdempotencyKey, key)
	}
	resp, err := s.http.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return answer{status: resp.StatusCode, header: resp.Header, body: b}
}

// TestShop places, reads and cancels orders on the real services: orders
// validates the user with users, reserves and releases stock in catalog,
// and verifies tokens with the keys users publishes — every call found in
// the registry and made through the library's client chain.
func TestShop(t *testing.T) {
	if testing.Short() {
		t.Skip("starts three services")
	}
	s := startShop(t)
	alice, aliceTok := s.user(t, "alice@example.com")
	_, bobTok := s.user(t, "bob@example.com")

	page, err := call.JSON[catalog.Page](context.Background(), s.products, call.Request{})
	if err != nil || len(page.Products) < 2 {
		t.Fatalf("products: %d, %v", len(page.Products), err)
	}
	p, q := page.Products[0], page.Products[1]
	if p.Stock < 2 {
		t.Fatalf("seeded product %+v has too little stock for the test", p)
	}

	body := map[string]any{"items": []orders.Item{{ProductID: p.ID, Quantity: 2}}}
	a := s.do(t, "POST", "/v1/orders", aliceTok, "first-order", body)
	if a.status != http.StatusCreated {
		t.Fatalf("place order = %d %s", a.status, a.body)
	}
	o := decodeOrder(t, a.body)
	if o.UserID != alice || o.Status != orders.StatusConfirmed || len(o.Items) != 1 ||
		o.Items[0].PriceCents != p.PriceCents || o.TotalCents != 2*p.PriceCents {
		t.Fatalf("order %+v for product %+v", o, p)
	}
	if got := s.stock(t, p.ID); got != p.Stock-2 {
		t.Fatalf("stock %d after the order, want %d", got, p.Stock-2)
	}

	// The key replays, without reserving again.
	r := s.do(t, "POST", "/v1/orders", aliceTok, "first-order", body)
	if r.status != a.status || !bytes.Equal(r.body, a.body) || r.header.Get(orders.HeaderReplayed) != "true" {
		t.Fatalf("replay = %d %s", r.status, r.body)
	}
	if got := s.stock(t, p.ID); got != p.Stock-2 {
		t.Fatalf("stock %d after the replay, want %d", got, p.Stock-2)
	}

	// More than the stock: 409 out_of_stock, nothing reserved.
	oos := s.do(t, "POST", "/v1/orders", aliceTok, "too-much",
		map[string]any{"items": []orders.Item{{ProductID: q.ID, Quantity: 1}, {ProductID: p.ID, Quantity: int(p.Stock)}}})
	if oos.status != http.StatusConflict || oos.errCode() != "out_of_stock" {
		t.Fatalf("order beyond stock = %d %s", oos.status, oos.body)
	}
	if s.stock(t, q.ID) != q.Stock || s.stock(t, p.ID) != p.Stock-2 {
		t.Fatal("a refused order changed stock")
	}
	// An unknown product.
	if nf := s.do(t, "POST", "/v1/orders", aliceTok, "nope",
		map[string]any{"items": []orders.Item{{ProductID: "prd_doesnotexist", Quantity: 1}}}); nf.status != http.StatusBadRequest || nf.errCode() != "product_not_found" {
		t.Fatalf("unknown product = %d %s", nf.status, nf.body)
	}

	// Reading: Alice sees her order, Bob does not.
	if g := s.do(t, "GET", "/v1/orders/"+o.ID, aliceTok, "", nil); g.status != http.StatusOK || !bytes.Equal(g.body, a.body) {
		t.Fatalf("get = %d %s", g.status, g.body)
	}
	for _, req := range [][2]string{{"GET", "/v1/orders/" + o.ID}, {"POST", "/v1/orders/" + o.ID + "/cancel"}} {
		if b := s.do(t, req[0], req[1], bobTok, "", nil); b.status != http.StatusNotFound {
			t.Fatalf("Bob %s %s = %d %s", req[0], req[1], b.status, b.body)
		}
	}
	var list orders.Page
	if l := s.do(t, "GET", "/v1/orders", aliceTok, "", nil); l.status != http.StatusOK || json.Unmarshal(l.body, &list) != nil ||
		len(list.Orders) != 1 || list.Orders[0].ID != o.ID {
		t.Fatalf("list = %d %s", l.status, l.body)
	}

	// Cancelling returns the stock, once.
	for range 2 {
		c := s.do(t, "POST", "/v1/orders/"+o.ID+"/cancel", aliceTok, "", nil)
		var co orders.Order
		if c.status != http.StatusOK || json.Unmarshal(c.body, &co) != nil || co.Status != orders.StatusCancelled {
			t.Fatalf("cancel = %d %s", c.status, c.body)
		}
		if got := s.stock(t, p.ID); got != p.Stock {
			t.Fatalf("stock %d after cancel, want %d", got, p.Stock)
		}
	}

	// Without a valid token nothing reaches the service.
	if u := s.do(t, "GET", "/v1/orders", "not-a-token", "", nil); u.status != http.StatusUnauthorized {
		t.Fatalf("bad token = %d %s", u.status, u.body)
	}
}
