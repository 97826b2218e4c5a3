package gateway_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/switchyard/switchyard/discovery/memory"
	"github.com/switchyard/switchyard/examples/ecommerce/catalog"
	"github.com/switchyard/switchyard/examples/ecommerce/internal/authn"
	"github.com/switchyard/switchyard/examples/ecommerce/internal/instance"
	"github.com/switchyard/switchyard/examples/ecommerce/internal/sqlite"
	"github.com/switchyard/switchyard/examples/ecommerce/orders"
	"github.com/switchyard/switchyard/examples/ecommerce/users"
)

// realShop runs the real users, catalog and orders services in process, on
// SQLite in a temporary directory, each with instance.Run on 127.0.0.1
// and registered in a memory registry, and returns that registry.
func realShop(t *testing.T) *memory.Registry {
	t.Helper()
	reg := memory.New()
	dir := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	var served []chan error
	var cleanups []func()
	t.Cleanup(func() {
		cancel()
		for _, ch := range served {
			if err := <-ch; err != nil {
				t.Errorf("service: %v", err)
			}
		}
		for i := len(cleanups) - 1; i >= 0; i-- {
			cleanups[i]()
		}
		reg.Close()
	})
	open := func(file string, m []sqlite.Migration) *sqlite.DB {
		db, err := sqlite.Open(ctx, filepath.Join(dir, file), m...)
		if err != nil {
			t.Fatal(err)
		}
		cleanups = append(cleanups, func() { db.Close() })
		return db
	}
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	serve := func(name string, h http.Handler) {
		ready := make(chan net.Addr, 1)
		done := make(chan error, 1)
		served = append(served, done)
		go func() {
			done <- instance.Run(ctx, instance.Config{
				Service: name, Handler: h, Registrar: reg, Logger: logger, DrainDelay: -1,
				OnReady: func(a net.Addr) { ready <- a },
			})
		}()
		select {
		case <-ready:
		case err := <-done:
			t.Fatalf("%s: %v", name, err)
		case <-time.After(10 * time.Second):
			t.Fatalf("%s not ready", name)
		}
	}

	key, err := users.LoadOrCreateKey(dir)
	if err != nil {
		t.Fatal(err)
	}
	ustore := users.NewSQLiteStore(open(users.DBFile, users.Migrations))
	if _, err := users.EnsureAdmin(ctx, ustore, adminEmail, adminPassword); err != nil {
		t.Fatal(err)
	}
	usvc, err := users.NewService(ustore, key, users.WithAdminEmail(adminEmail))
	if err != nil {
		t.Fatal(err)
	}
	uh, err := users.NewHandler(usvc, key)
	if err != nil {
		t.Fatal(err)
	}
	serve("users", uh)

	v, err := authn.NewVerifier(ctx, reg, nil)
	if err != nil {
		t.Fatal(err)
	}
	cleanups = append(cleanups, func() { v.Close() })
	cdb := open(catalog.DBFile, catalog.Migrations)
	serve("catalog", catalog.NewHTTPHandler(catalog.MakeEndpoints(catalog.NewService(catalog.NewSQLiteStore(cdb))), v))

	oh, ocleanup, err := orders.NewHandler(ctx, orders.HandlerConfig{
		Store: orders.NewSQLiteStore(open("orders.db", orders.Migrations)), Resolver: reg, Logger: logger,
	})
	if err != nil {
		t.Fatal(err)
	}
	cleanups = append(cleanups, ocleanup)
	serve("orders", oh)
	return reg
}

// TestStorefrontWithRealServices is the browser walk of
// TestStorefrontInBrowser against the shop's real services: the seeded
// catalogue, argon2id passwords, EdDSA tokens, idempotent orders with
// stock reservations.
func TestStorefrontWithRealServices(t *testing.T) {
	findChromium(t)
	shop := &fakeShop{t: t, reg: realShop(t)}
	base, _ := startGateway(t, shop, noLimit, noLimit)
	ctx := browser(t, base, 90*time.Second)

	const email = "erin@example.com"
	var products int
	var first, stockText, orderID string
	err := chromedp.Do(ctx,
		chromedp.Navigate(base+"/"),
		chromedp.WaitVisible(css(`#products .product`)),
		count(`#products .product`, &products),
		chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
			var err error
			first, err = chromedp.Evaluate[string](`document.querySelector("#products .product").dataset.id`)(ctx, t)
			return err
		}),
	)
	if err != nil {
		t.Fatal(err)
	}
	if products < 20 {
		t.Errorf("the storefront lists %d products; the catalogue seeds at least 20", products)
	}
	card := fmt.Sprintf(`.product[data-id=%q]`, first)
	err = chromedp.Do(ctx,
		text(card+` .stock`, &stockText),
		chromedp.SendKeys(css(`#signup-name`), "Erin"),
		chromedp.SendKeys(css(`#signup-email`), email),
		chromedp.SendKeys(css(`#signup-password`), "a long passphrase"),
		chromedp.Click(css(`#signup-submit`)),
		waitText(`#status`, "Account created for "+email),
		chromedp.SendKeys(css(`#login-password`), "a long passphrase"),
		chromedp.Click(css(`#login-submit`)),
		waitText(`#who`, "Signed in as "+email),
		chromedp.Click(css(card+` .add-to-cart`)),
		waitText(`#cart-count`, "1"),
		chromedp.Click(css(`#place-order`)),
		chromedp.WaitVisible(css(`#confirmation-id`)),
		text(`#confirmation-id`, &orderID),
		waitText(`#confirmation`, "Order confirmed"),
	)
	if err != nil {
		t.Fatal(err)
	}
	stock, err := strconv.Atoi(strings.Fields(stockText)[0])
	if err != nil {
		t.Fatalf("stock text %q", stockText)
	}
	orderLine := fmt.Sprintf(`#orders .order[data-id=%q]`, orderID)
	err = chromedp.Do(ctx,
		waitText(card+` .stock`, fmt.Sprintf("%d in stock", stock-1)),
		chromedp.WaitVisible(css(orderLine)),
		chromedp.Click(css(orderLine+` .cancel`)),
		chromedp.WaitVisible(css(orderLine+`[data-status="cancelled"]`)),
		waitText(card+` .stock`, fmt.Sprintf("%d in stock", stock)),
	)
	if err != nil {
		t.Fatal(err)
	}

	err = chromedp.Do(ctx,
		chromedp.Navigate(base+"/admin/"),
		chromedp.SendKeys(css(`#login-email`), adminEmail),
		chromedp.SendKeys(css(`#login-password`), adminPassword),
		chromedp.Click(css(`#login-submit`)),
		chromedp.WaitVisible(css(`.service[data-service="orders"] .instance`)),
		waitText(`.service[data-service="catalog"] .instance`, "ready"),
		waitText(`.service[data-service="users"] .instance`, "closed"),
	)
	if err != nil {
		t.Fatal(err)
	}
}
