package orders_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/switchyard/switchyard/client"
	"github.com/switchyard/switchyard/discovery/etcd/embedded"
	"github.com/switchyard/switchyard/examples/ecommerce/catalog"
	"github.com/switchyard/switchyard/examples/ecommerce/internal/call"
	"github.com/switchyard/switchyard/examples/ecommerce/internal/registry"
	"github.com/switchyard/switchyard/examples/ecommerce/internal/settings"
	"github.com/switchyard/switchyard/examples/ecommerce/orders"
	"github.com/switchyard/switchyard/examples/ecommerce/users"
	shttp "github.com/switchyard/switchyard/transport/http"
)

// Run as "ecommerce serve orders" runs it: two replicas on one data
// directory, registered in a real (embedded) etcd beside users and
// catalog. The same key sent through the client chain to both replicas at
// once places one order; the replicas stop cleanly when ctx ends.
func TestRun(t *testing.T) {
	if testing.Short() {
		t.Skip("starts etcd and four services")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	etcd, err := embedded.Start(ctx, t.TempDir(), "127.0.0.1:0", embedded.Config{UnsafeNoFsync: true})
	if err != nil {
		t.Fatal(err)
	}
	defer etcd.Close()
	defer shttp.DefaultTransport.CloseIdleConnections()
	cfg := settings.Service{
		Registry: "etcd://" + etcd.Addr(), Listen: "127.0.0.1:0", Data: t.TempDir(),
		Logger: slog.New(slog.DiscardHandler), DrainDelay: -1,
	}
	runCtx, stop := context.WithCancel(ctx)
	defer stop()
	const services = 4
	done := make(chan error, services)
	go func() {
		done <- users.RunWith(runCtx, cfg, users.WithArgon2(users.Argon2Params{Time: 1, MemoryKiB: 64, Threads: 1}))
	}()
	go func() { done <- catalog.Run(runCtx, cfg) }()
	for range 2 {
		go func() { done <- orders.Run(runCtx, cfg) }()
	}
	stopped := false
	defer func() {
		if !stopped {
			stop()
			for range services {
				<-done
			}
		}
	}()

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
	products := client("catalog", http.MethodGet, "/v1/products")
	place := client("orders", http.MethodPost, "/v1/orders")
	get := client("orders", http.MethodGet, "/v1/orders")
	cancelOrder := client("orders", http.MethodPost, "/v1/orders")

	// Wait until every client's balancer sees the instances it needs:
	// both orders replicas, and the users and catalog instances. Each
	// client follows the registry on its own.
	for _, c := range []*call.Client{place, get, cancelOrder, signup, login, products} {
		want := 1
		if c == place || c == get || c == cancelOrder {
			want = 2
		}
		for n, _ := c.Endpoint().Balancer().Len(); n < want; n, _ = c.Endpoint().Balancer().Len() {
			select {
			case err := <-done:
				t.Fatalf("Run: %v", err)
			case <-time.After(20 * time.Millisecond):
			}
		}
	}

	if _, err := signup.Call(ctx, call.Request{Body: users.SignupRequest{Email: "a@example.com", Password: "correct horse", Name: "A"}}); err != nil {
		t.Fatal(err)
	}
	tok, err := call.JSON[users.Token](ctx, login, call.Request{Body: users.LoginRequest{Email: "a@example.com", Password: "correct horse"}})
	if err != nil {
		t.Fatal(err)
	}
	authz := http.Header{"Authorization": {"Bearer " + tok.Token}}
	page, err := call.JSON[catalog.Page](ctx, products, call.Request{})
	if err != nil || len(page.Products) == 0 {
		t.Fatalf("products: %v", err)
	}
	p := page.Products[0]
	stock := func() int64 {
		t.Helper()
		got, err := call.JSON[catalog.Product](ctx, products, call.Request{Path: "/v1/products/" + p.ID})
		if err != nil {
			t.Fatal(err)
		}
		return got.Stock
	}

	// The replicas may not see users and catalog yet (they all started at
	// once): warm up until an order goes through.
	body := map[string]any{"items": []orders.Item{{ProductID: p.ID, Quantity: 1}}}
	warm := time.Now()
	for i := 0; ; i++ {
		h := authz.Clone()
		h.Set(orders.HeaderIdempotencyKey, fmt.Sprint("warm-up-", i))
		_, err := place.Call(ctx, call.Request{Header: h, Body: body})
		if err == nil {
			break
		}
		t.Logf("warm-up %d after %v: %v", i, time.Since(warm), err)
		if i == 100 {
			t.Fatal("orders never worked")
		}
		time.Sleep(50 * time.Millisecond)
	}
	p.Stock--
	hdr := authz.Clone()
	hdr.Set(orders.HeaderIdempotencyKey, "run-test")
	var (
		wg      sync.WaitGroup
		mu      sync.Mutex
		created [][]byte
		busy    int
	)
	for range 10 {
		wg.Go(func() {
			b, err := place.Call(ctx, call.Request{Header: hdr, Body: body})
			mu.Lock()
			defer mu.Unlock()
			var re *shttp.ResponseError
			switch {
			case err == nil:
				created = append(created, b)
			case errors.As(err, &re) && re.Status == http.StatusConflict && re.Code == "request_in_progress":
				busy++
			default:
				t.Errorf("place: %v", err)
			}
		})
	}
	wg.Wait()
	if len(created) == 0 || len(created)+busy != 10 {
		t.Fatalf("%d created, %d in progress", len(created), busy)
	}
	for _, b := range created[1:] {
		if !bytes.Equal(b, created[0]) {
			t.Fatalf("answers differ: %s and %s", b, created[0])
		}
	}
	o := decodeOrder(t, created[0])
	if got := stock(); got != p.Stock-1 {
		t.Fatalf("stock %d, want %d: one reservation for one key", got, p.Stock-1)
	}
	for range 4 { // both replicas read the shared database
		b, err := get.Call(ctx, call.Request{Path: "/v1/orders/" + o.ID, Header: authz})
		if err != nil || !bytes.Equal(b, created[0]) {
			t.Fatalf("get: %s, %v", b, err)
		}
	}
	c, err := call.JSON[orders.Order](ctx, cancelOrder, call.Request{Path: "/v1/orders/" + o.ID + "/cancel", Header: authz})
	if err != nil || c.Status != orders.StatusCancelled {
		t.Fatalf("cancel: %+v, %v", c, err)
	}
	if got := stock(); got != p.Stock {
		t.Fatalf("stock %d after cancel, want %d", got, p.Stock)
	}

	stop()
	stopped = true
	for range services {
		if err := <-done; err != nil {
			t.Errorf("Run after stop: %v", err)
		}
	}
}
