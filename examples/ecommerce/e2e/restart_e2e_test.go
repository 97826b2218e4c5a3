package e2e_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"sync"
	"testing"
	"time"
)

// testRestart stops the shop with SIGTERM (exit 0, nothing left behind),
// starts it again on the same data directory and addresses, and finds
// every user, product, order and stock level as it was, the idempotency
// keys included.
func testRestart(t *testing.T, w *world) {
	c := w.c
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()

	w.mu.Lock()
	accounts := slices.Clone(w.accounts)
	w.mu.Unlock()
	products := c.allProducts(ctx, t, 200)
	orders := map[string][]order{}
	for _, a := range accounts {
		orders[a.ID] = c.orders(ctx, t, a)
	}

	w.shop.stop(t)
	if t.Failed() {
		t.FailNow()
	}
	w.shop = startShop(t, w.shop.data, w.shop.addr, w.shop.registry)
	defer w.shop.stop(t)

	// Every user logs in again (in parallel: each login runs the KDF),
	// with the same identity.
	var wg sync.WaitGroup
	errs := make(chan string, len(accounts))
	sem := make(chan struct{}, 4)
	for _, a := range accounts {
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			r, err := c.call(ctx, "POST", "/api/v1/login", "", map[string]string{"email": a.Email, "password": a.password})
			if err != nil {
				errs <- fmt.Sprintf("login of %s after the restart: %v", a.Email, err)
				return
			}
			if r.status != http.StatusOK {
				errs <- fmt.Sprintf("login of %s after the restart: %s", a.Email, r)
				return
			}
			var l loginAnswer
			if err := json.Unmarshal(r.body, &l); err != nil || l.Token == "" {
				errs <- "login of " + a.Email + ": no token"
				return
			}
			a.token = l.Token
		})
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
	if t.Failed() {
		t.FailNow()
	}
	for _, a := range accounts {
		var me user
		c.expect(ctx, t, http.StatusOK, "GET", "/api/v1/me", a.token, nil).decode(t, &me)
		if me != a.user {
			t.Errorf("after the restart %s is %+v, want %+v", a.Email, me, a.user)
		}
		got := c.orders(ctx, t, a)
		if !slices.EqualFunc(got, orders[a.ID], equalOrders) {
			t.Errorf("after the restart %s has orders %+v, want %+v", a.Email, got, orders[a.ID])
		}
	}
	if got := c.allProducts(ctx, t, 200); !slices.Equal(got, products) {
		t.Errorf("after the restart the catalog differs:\n got  %+v\n want %+v", got, products)
	}
	t.Logf("after the restart: %d users logged in, %d products and every order unchanged", len(accounts), len(products))

	// An idempotency key from before the restart still replays its answer.
	if rp := w.replay; rp.acct != nil {
		r := c.expect(ctx, t, http.StatusCreated, "POST", "/api/v1/orders", rp.acct.token, rp.body, "Idempotency-Key", rp.key)
		if !bytes.Equal(r.body, rp.resp) {
			t.Errorf("key %s replays after the restart\n%s\nwant\n%s", rp.key, r.body, rp.resp)
		}
	}
	// And the restarted shop takes new orders.
	if len(products) > 0 {
		a := w.admin
		var p product
		for _, cand := range products {
			if cand.Stock > 0 {
				p = cand
				break
			}
		}
		var o order
		c.expect(ctx, t, http.StatusCreated, "POST", "/api/v1/orders", a.token, orderBody(p.ID, 1), "Idempotency-Key", "after-restart").decode(t, &o)
		if got := c.product(ctx, t, p.ID).Stock; got != p.Stock-1 {
			t.Errorf("stock after an order on the restarted shop: %d, want %d", got, p.Stock-1)
		}
	}
	checkInvariant(t, w.shop.data)
}
