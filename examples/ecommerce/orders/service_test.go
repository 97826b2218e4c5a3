package orders_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/switchyard/switchyard/examples/ecommerce/orders"
	shttp "github.com/switchyard/switchyard/transport/http"
)

var basket = []orders.Item{{ProductID: "prd_apple", Quantity: 3}, {ProductID: "prd_pear", Quantity: 2}}

func decodeOrder(t *testing.T, body []byte) orders.Order {
	t.Helper()
	var o orders.Order
	if err := json.Unmarshal(body, &o); err != nil {
		t.Fatalf("body %q: %v", body, err)
	}
	return o
}

// encoded returns p's order as the API encodes it, for comparing answers
// byte for byte.
func encoded(t *testing.T, p orders.Placement) []byte {
	t.Helper()
	b, err := json.Marshal(p.Order)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// wantAPIError fails t unless err wraps sentinel and the transport answers
// it with status and code.
func wantAPIError(t *testing.T, err error, status int, code string, sentinel error) {
	t.Helper()
	if err == nil {
		t.Fatalf("err = nil, want %d %s", status, code)
	}
	if s, c := statusCode(err); s != status || c != code {
		t.Fatalf("err = %d %s (%v), want %d %s", s, c, err, status, code)
	}
	if sentinel != nil && !errors.Is(err, sentinel) {
		t.Fatalf("err = %v, want it to wrap %v", err, sentinel)
	}
}

// statusCode returns the status and code that the transport would send for
// err.
func statusCode(err error) (int, string) {
	se := orders.HTTPError(err)
	if se.Code == "" {
		return se.Status, shttp.CodeForStatus(se.StatusCode())
	}
	return se.Status, se.Code
}

func TestPlaceOrderHappyPath(t *testing.T) {
	e := newEnv(t, nil)
	res, err := e.svc.PlaceOrder(context.Background(), "usr_a", "k1", basket)
	if err != nil {
		t.Fatal(err)
	}
	if res.Replayed {
		t.Fatal("first answer replayed")
	}
	o := res.Order
	want := orders.Order{
		ID: "ord_1", UserID: "usr_a", Status: orders.StatusConfirmed,
		Items: []orders.Line{
			{ProductID: "prd_apple", Quantity: 3, PriceCents: 125},
			{ProductID: "prd_pear", Quantity: 2, PriceCents: 990},
		},
		TotalCents: 3*125 + 2*990,
		CreatedAt:  t0,
	}
	if o.ID != want.ID || o.UserID != want.UserID || o.Status != want.Status ||
		!slices.Equal(o.Items, want.Items) || o.TotalCents != want.TotalCents || !o.CreatedAt.Equal(want.CreatedAt) {
		t.Fatalf("order = %+v\nwant    %+v", o, want)
	}
	if got := e.catalog.stockOf("prd_apple"); got != 97 {
		t.Fatalf("apple stock = %d, want 97", got)
	}
	// The stored order reads back the same, and its JSON is the body's.
	got, err := e.svc.Order(context.Background(), "usr_a", o.ID)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(got)
	if !bytes.Equal(b, encoded(t, res)) {
		t.Fatalf("GET body %s\ndiffers from create body %s", b, encoded(t, res))
	}
	checkConsistent(t, e.store, e.catalog, "usr_a")
}

func TestPlaceOrderMergesDuplicateLines(t *testing.T) {
	e := newEnv(t, nil)
	items := []orders.Item{{ProductID: "prd_pear", Quantity: 1}, {ProductID: "prd_apple", Quantity: 2}, {ProductID: "prd_pear", Quantity: 4}}
	res, err := e.svc.PlaceOrder(context.Background(), "usr_a", "k", items)
	if err != nil {
		t.Fatal(err)
	}
	o := res.Order
	want := []orders.Line{{ProductID: "prd_pear", Quantity: 5, PriceCents: 990}, {ProductID: "prd_apple", Quantity: 2, PriceCents: 125}}
	if !slices.Equal(o.Items, want) || o.TotalCents != 5*990+2*125 {
		t.Fatalf("order items %v total %d, want %v", o.Items, o.TotalCents, want)
	}
	// The same lines in another order, split differently, are the same
	// request for the key.
	again := []orders.Item{{ProductID: "prd_apple", Quantity: 2}, {ProductID: "prd_pear", Quantity: 5}}
	res2, err := e.svc.PlaceOrder(context.Background(), "usr_a", "k", again)
	if err != nil || !res2.Replayed || !bytes.Equal(encoded(t, res2), encoded(t, res)) {
		t.Fatalf("equivalent body: %v replayed=%v", err, res2.Replayed)
	}
}

func TestPlaceOrderValidation(t *testing.T) {
	many := make([]orders.Item, orders.MaxItems+1)
	for i := range many {
		many[i] = orders.Item{ProductID: fmt.Sprintf("prd_%d", i), Quantity: 1}
	}
	tests := []struct {
		name  string
		user  string
		key   string
		items []orders.Item
		code  string
	}{
		{"no user", "", "k", basket, "unauthorized"},
		{"no key", "usr_a", "", basket, "missing_idempotency_key"},
		{"long key", "usr_a", strings.Repeat("k", 201), basket, "invalid_idempotency_key"},
		{"control in key", "usr_a", "a\tb", basket, "invalid_idempotency_key"},
		{"non-ASCII key", "usr_a", "ключ", basket, "invalid_idempotency_key"},
		{"no items", "usr_a", "k", nil, "invalid_argument"},
		{"too many items", "usr_a", "k", many, "invalid_argument"},
		{"zero quantity", "usr_a", "k", []orders.Item{{ProductID: "prd_apple"}}, "invalid_argument"},
		{"negative quantity", "usr_a", "k", []orders.Item{{ProductID: "prd_apple", Quantity: -1}}, "invalid_argument"},
		{"quantity 1001", "usr_a", "k", []orders.Item{{ProductID: "prd_apple", Quantity: 1001}}, "invalid_argument"},
		{"merged quantity 1001", "usr_a", "k", []orders.Item{{ProductID: "prd_apple", Quantity: 1000}, {ProductID: "prd_apple", Quantity: 1}}, "invalid_argument"},
		{"empty product", "usr_a", "k", []orders.Item{{Quantity: 1}}, "invalid_argument"},
		{"odd product", "usr_a", "k", []orders.Item{{ProductID: "../x", Quantity: 1}}, "invalid_argument"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, nil)
			_, err := e.svc.PlaceOrder(context.Background(), tt.user, tt.key, tt.items)
			if status, code := statusCode(err); code != tt.code || status/100 != 4 {
				t.Fatalf("err = %v, want 4xx %s", err, tt.code)
			}
			if r, _ := e.catalog.counts(); len(r) != 0 {
				t.Fatalf("catalog called %d times for an invalid request", len(r))
			}
		})
	}
	// The edges are accepted.
	e := newEnv(t, nil)
	edge := []orders.Item{{ProductID: "prd_apple", Quantity: 1}}
	if _, err := e.svc.PlaceOrder(context.Background(), "usr_a", strings.Repeat("~", 200), edge); err != nil {
		t.Fatalf("200-character key: %v", err)
	}
	if _, err := e.svc.PlaceOrder(context.Background(), "usr_a", " ", edge); err != nil {
		t.Fatalf("key of one space: %v", err)
	}
}

func TestPlaceOrderReplayAndReuse(t *testing.T) {
	e := newEnv(t, nil)
	ctx := context.Background()
	first, err := e.svc.PlaceOrder(ctx, "usr_a", "k", basket)
	if err != nil {
		t.Fatal(err)
	}
	e.clock.Advance(time.Hour)
	for range 3 {
		res, err := e.svc.PlaceOrder(ctx, "usr_a", "k", basket)
		if err != nil {
			t.Fatal(err)
		}
		if !res.Replayed || !bytes.Equal(encoded(t, res), encoded(t, first)) {
			t.Fatalf("replay = %s replayed=%v, want %s", encoded(t, res), res.Replayed, encoded(t, first))
		}
	}
	_, err = e.svc.PlaceOrder(ctx, "usr_a", "k", []orders.Item{{ProductID: "prd_apple", Quantity: 4}})
	wantAPIError(t, err, http.StatusUnprocessableEntity, "idempotency_key_reused", orders.ErrKeyReused)

	// Keys belong to users: the same key from usr_b is another order.
	other, err := e.svc.PlaceOrder(ctx, "usr_b", "k", basket)
	if err != nil || other.Replayed {
		t.Fatalf("usr_b with usr_a's key: %v replayed=%v", err, other.Replayed)
	}
	if a, b := first.Order, other.Order; a.ID == b.ID || b.UserID != "usr_b" {
		t.Fatalf("usr_b's order %+v shares usr_a's %+v", b, a)
	}
	if r, _ := e.catalog.counts(); len(r) != 2 {
		t.Fatalf("reservations = %v, want one per user", r)
	}
	checkConsistent(t, e.store, e.catalog, "usr_a", "usr_b")
}

func TestPlaceOrderInFlight(t *testing.T) {
	e := newEnv(t, nil)
	entered, unblock := make(chan struct{}), make(chan struct{})
	e.catalog.beforeReserve = func(ctx context.Context, _ string) error {
		close(entered)
		<-unblock
		return nil
	}
	done := make(chan orders.Placement)
	go func() {
		res, err := e.svc.PlaceOrder(context.Background(), "usr_a", "k", basket)
		if err != nil {
			t.Error(err)
		}
		done <- res
	}()
	<-entered
	_, err := e.svc.PlaceOrder(context.Background(), "usr_a", "k", basket)
	wantAPIError(t, err, http.StatusConflict, "request_in_progress", orders.ErrInProgress)
	if se := orders.HTTPError(err); se.Header.Get("Retry-After") != "1" {
		t.Fatalf("409 request_in_progress without Retry-After: %v", se.Header)
	}
	// Another body under the in-flight key is still a reuse.
	_, err = e.svc.PlaceOrder(context.Background(), "usr_a", "k", []orders.Item{{ProductID: "prd_plum", Quantity: 1}})
	wantAPIError(t, err, http.StatusUnprocessableEntity, "idempotency_key_reused", orders.ErrKeyReused)
	close(unblock)
	first := <-done
	again, err := e.svc.PlaceOrder(context.Background(), "usr_a", "k", basket)
	if err != nil || !again.Replayed || !bytes.Equal(encoded(t, again), encoded(t, first)) {
		t.Fatalf("replay after completion: %v", err)
	}
}

func TestPlaceOrderOutOfStockIsFinal(t *testing.T) {
	e := newEnv(t, nil)
	ctx := context.Background()
	items := []orders.Item{{ProductID: "prd_apple", Quantity: 1}, {ProductID: "prd_plum", Quantity: 4}} // 3 plums in stock
	_, err := e.svc.PlaceOrder(ctx, "usr_a", "k", items)
	wantAPIError(t, err, http.StatusConflict, "out_of_stock", orders.ErrOutOfStock)
	var re *orders.ReplayedError
	if errors.As(err, &re) {
		t.Fatalf("first answer %v is a replay", err)
	}
	if e.catalog.stockOf("prd_apple") != 100 || e.catalog.stockOf("prd_plum") != 3 {
		t.Fatal("stock changed by a refused reservation")
	}
	// Stock arrives, but the key keeps its answer: it is final.
	e.catalog.mu.Lock()
	e.catalog.stock["prd_plum"] = 50
	e.catalog.mu.Unlock()
	_, err = e.svc.PlaceOrder(ctx, "usr_a", "k", items)
	wantAPIError(t, err, http.StatusConflict, "out_of_stock", orders.ErrOutOfStock)
	if !errors.As(err, &re) {
		t.Fatalf("replay of out_of_stock = %v, want a *ReplayedError", err)
	}
	reserves, releases := e.catalog.counts()
	if len(reserves) != 1 || len(releases) != 0 {
		t.Fatalf("reserves %v releases %v, want one reservation call and no release", reserves, releases)
	}
	list, _ := e.store.Orders(ctx, "usr_a", nil, 10)
	if len(list) != 0 {
		t.Fatalf("orders after out_of_stock: %v", list)
	}
}

func TestCompensation(t *testing.T) {
	tests := []struct {
		name  string
		setup func(e *env, fs *failingStore)
		// code is the error the caller sees.
		status int
		code   string
	}{
		{
			name:   "store insert fails",
			setup:  func(e *env, fs *failingStore) { fs.failComplete = true },
			status: http.StatusInternalServerError, code: "internal_server_error",
		},
		{
			name: "answer of the reservation lost",
			setup: func(e *env, fs *failingStore) {
				e.catalog.afterReserve = func(string) error {
					return &shttp.ResponseError{Status: http.StatusServiceUnavailable}
				}
			},
			status: http.StatusServiceUnavailable, code: "service_unavailable",
		},
		{
			name: "reservation times out",
			setup: func(e *env, fs *failingStore) {
				e.catalog.afterReserve = func(string) error { return context.DeadlineExceeded }
			},
			status: http.StatusGatewayTimeout, code: "deadline_exceeded",
		},
		{
			name: "catalog answers for other products",
			setup: func(e *env, fs *failingStore) {
				e.catalog.mu.Lock()
				e.catalog.held["ord_1"] = []orders.Line{{ProductID: "prd_plum", Quantity: 1, PriceCents: 5}}
				e.catalog.mu.Unlock()
			},
			status: http.StatusInternalServerError, code: "internal_server_error",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var fs *failingStore
			e := newEnv(t, func(s orders.Store) orders.Store { fs = &failingStore{Store: s}; return fs })
			tt.setup(e, fs)
			_, err := e.svc.PlaceOrder(context.Background(), "usr_a", "k", basket)
			if err == nil {
				t.Fatal("PlaceOrder succeeded")
			}
			if status, code := statusCode(err); status != tt.status || code != tt.code {
				t.Fatalf("caller sees %d %s (%v), want %d %s", status, code, err, tt.status, tt.code)
			}
			if _, releases := e.catalog.counts(); !slices.Equal(releases, []string{"ord_1"}) {
				t.Fatalf("releases = %v, want [ord_1]", releases)
			}
			if got := e.catalog.heldOrders(); len(got) != 0 {
				t.Fatalf("stock still held for %v", got)
			}
			if due, _ := e.sql.DueReleases(context.Background(), t0.Add(time.Hour), 10); len(due) != 0 {
				t.Fatalf("releases left pending after the catalog confirmed: %v", due)
			}
			// The claim is free: a retry with the key starts afresh, under a
			// new order id.
			fs.mu.Lock()
			fs.failComplete = false
			fs.mu.Unlock()
			e.catalog.mu.Lock()
			e.catalog.afterReserve = nil
			delete(e.catalog.held, "ord_1")
			e.catalog.mu.Unlock()
			res, err := e.svc.PlaceOrder(context.Background(), "usr_a", "k", basket)
			if err != nil || res.Replayed {
				t.Fatalf("retry: %v replayed=%v", err, res.Replayed)
			}
			if o := res.Order; o.ID != "ord_2" {
				t.Fatalf("retry made order %s, want a fresh id ord_2", o.ID)
			}
			checkConsistent(t, e.store, e.catalog, "usr_a")
		})
	}
}

func TestFailuresBeforeReservingFreeTheClaim(t *testing.T) {
	tests := []struct {
		name   string
		setup  func(e *env)
		status int
		code   string
	}{
		{"unknown user", func(e *env) { e.users.known = map[string]bool{} }, http.StatusForbidden, "unknown_user"},
		{"users down", func(e *env) { e.users.setErr(&shttp.ResponseError{Status: 503}) }, http.StatusServiceUnavailable, "service_unavailable"},
		{"unknown product", func(e *env) { delete(e.catalog.price, "prd_pear") }, http.StatusBadRequest, "product_not_found"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, nil)
			tt.setup(e)
			_, err := e.svc.PlaceOrder(context.Background(), "usr_a", "k", basket)
			if status, code := statusCode(err); status != tt.status || code != tt.code {
				t.Fatalf("caller sees %d %s (%v), want %d %s", status, code, err, tt.status, tt.code)
			}
			if _, releases := e.catalog.counts(); len(releases) != 0 {
				t.Fatalf("released %v though nothing was reserved", releases)
			}
			if _, err := e.sql.Lookup(context.Background(), "usr_a", "k"); !errors.Is(err, orders.ErrKeyNotFound) {
				t.Fatalf("claim after failure: %v, want it freed", err)
			}
		})
	}
}

func TestCompensationReleaseFailsThenSweeperReleases(t *testing.T) {
	var fs *failingStore
	e := newEnv(t, func(s orders.Store) orders.Store { fs = &failingStore{Store: s, failComplete: true}; return fs })
	e.catalog.setReleaseErr(errors.New("catalog down"))
	if _, err := e.svc.PlaceOrder(context.Background(), "usr_a", "k", basket); err == nil {
		t.Fatal("PlaceOrder succeeded")
	}
	if got := e.catalog.heldOrders(); !slices.Equal(got, []string{"ord_1"}) {
		t.Fatalf("held = %v, want ord_1 still held (release failed)", got)
	}
	due, err := e.sql.DueReleases(context.Background(), e.clock.Now(), 10)
	if err != nil || len(due) != 1 || due[0].OrderID != "ord_1" {
		t.Fatalf("pending releases = %v, %v; want ord_1", due, err)
	}
	e.catalog.setReleaseErr(nil)
	sw := orders.NewSweeper(e.store, e.catalog, e.opts...)
	defer sw.Stop()
	sw.Start()
	e.clock.Advance(orders.DefaultSweepInterval)
	if got := e.catalog.heldOrders(); len(got) != 0 {
		t.Fatalf("held after sweep = %v", got)
	}
	if due, _ := e.sql.DueReleases(context.Background(), e.clock.Now(), 10); len(due) != 0 {
		t.Fatalf("pending after sweep = %v", due)
	}
}

// A claim left in flight by an instance that crashed after reserving is
// refused until its lease ends, then taken over by a retry that reuses the
// order id, so the catalog returns the reservation already made.
func TestTakeover(t *testing.T) {
	e := newEnv(t, nil)
	ctx := context.Background()
	items, _ := orders.NormalizeItems(basket)
	// The crashed attempt: claimed, reserved, never answered.
	c, err := e.sql.Claim(ctx, orders.ClaimRequest{UserID: "usr_a", Key: "k", RequestHash: orders.RequestHash(items),
		OrderID: "ord_crashed", Now: t0, LeaseUntil: t0.Add(orders.DefaultLease)})
	if err != nil || c.State != orders.ClaimAcquired {
		t.Fatalf("claim: %v %v", c.State, err)
	}
	if _, err := e.catalog.Reserve(ctx, "ord_crashed", items); err != nil {
		t.Fatal(err)
	}
	stockAfterCrash := e.catalog.stockOf("prd_apple")

	e.clock.Advance(orders.DefaultLease - time.Millisecond)
	_, err = e.svc.PlaceOrder(ctx, "usr_a", "k", basket)
	wantAPIError(t, err, http.StatusConflict, "request_in_progress", orders.ErrInProgress)
	// A different body may not take the claim over, even after the lease.
	e.clock.Advance(2 * time.Millisecond)
	_, err = e.svc.PlaceOrder(ctx, "usr_a", "k", []orders.Item{{ProductID: "prd_plum", Quantity: 1}})
	wantAPIError(t, err, http.StatusUnprocessableEntity, "idempotency_key_reused", orders.ErrKeyReused)

	res, err := e.svc.PlaceOrder(ctx, "usr_a", "k", basket)
	if err != nil || res.Replayed {
		t.Fatalf("takeover: %v replayed=%v", err, res.Replayed)
	}
	if o := res.Order; o.ID != "ord_crashed" {
		t.Fatalf("takeover made order %s, want the claim's ord_crashed", o.ID)
	}
	reserves, releases := e.catalog.counts()
	if !slices.Equal(reserves, []string{"ord_crashed", "ord_crashed"}) || len(releases) != 0 {
		t.Fatalf("reserves %v releases %v, want ord_crashed twice and no release", reserves, releases)
	}
	if got := e.catalog.stockOf("prd_apple"); got != stockAfterCrash {
		t.Fatalf("stock %d after takeover, want %d (no second reservation)", got, stockAfterCrash)
	}
	c, err = e.sql.Lookup(ctx, "usr_a", "k")
	if err != nil || c.State != orders.ClaimDone || c.Ticket.Attempt != 2 {
		t.Fatalf("claim after takeover: %+v %v", c, err)
	}
	checkConsistent(t, e.store, e.catalog, "usr_a")
}

// A takeover that fails releases the crashed attempt's reservation, since
// nobody else will use the order id.
func TestTakeoverFailureReleasesTheCrashedReservation(t *testing.T) {
	e := newEnv(t, nil)
	ctx := context.Background()
	items, _ := orders.NormalizeItems(basket)
	if _, err := e.sql.Claim(ctx, orders.ClaimRequest{UserID: "usr_a", Key: "k", RequestHash: orders.RequestHash(items),
		OrderID: "ord_crashed", Now: t0, LeaseUntil: t0.Add(orders.DefaultLease)}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.catalog.Reserve(ctx, "ord_crashed", items); err != nil {
		t.Fatal(err)
	}
	e.clock.Advance(orders.DefaultLease + time.Second)
	e.users.known = map[string]bool{} // users now says 404
	_, err := e.svc.PlaceOrder(ctx, "usr_a", "k", basket)
	wantAPIError(t, err, http.StatusForbidden, "unknown_user", orders.ErrUserNotFound)
	if _, releases := e.catalog.counts(); !slices.Equal(releases, []string{"ord_crashed"}) {
		t.Fatalf("releases = %v, want [ord_crashed]", releases)
	}
	if held := e.catalog.heldOrders(); len(held) != 0 {
		t.Fatalf("still held: %v", held)
	}
}

// An attempt that is slow, not dead, loses its claim to a takeover: it can
// neither complete nor free it, and it does not release stock an order now
// uses.
func TestSlowAttemptLosesItsClaim(t *testing.T) {
	e := newEnv(t, nil)
	ctx := context.Background()
	entered, unblock := make(chan struct{}), make(chan struct{})
	var calls int
	e.catalog.beforeReserve = func(context.Context, string) error {
		calls++
		if calls == 1 {
			close(entered)
			<-unblock
		}
		return nil
	}
	slow := make(chan orders.Placement)
	go func() {
		res, err := e.svc.PlaceOrder(ctx, "usr_a", "k", basket)
		if err != nil {
			t.Error(err)
		}
		slow <- res
	}()
	<-entered
	e.clock.Advance(orders.DefaultLease + time.Millisecond)
	res, err := e.svc.PlaceOrder(ctx, "usr_a", "k", basket)
	if err != nil || res.Replayed {
		t.Fatalf("takeover: %v", err)
	}
	close(unblock)
	late := <-slow
	if !late.Replayed || !bytes.Equal(encoded(t, late), encoded(t, res)) {
		t.Fatalf("slow attempt answered %s replayed=%v, want the stored answer", encoded(t, late), late.Replayed)
	}
	if _, releases := e.catalog.counts(); len(releases) != 0 {
		t.Fatalf("slow attempt released %v under a confirmed order", releases)
	}
	checkConsistent(t, e.store, e.catalog, "usr_a")
}

// An attempt whose claim the sweeper abandoned (and whose order id it
// released) finds the catalog refusing the id: it answers 409
// request_in_progress and holds nothing.
func TestReleasedOrderIDIsRefused(t *testing.T) {
	e := newEnv(t, nil)
	e.catalog.beforeReserve = func(context.Context, string) error {
		return fmt.Errorf("fake catalog: %w", orders.ErrReservationReleased)
	}
	_, err := e.svc.PlaceOrder(context.Background(), "usr_a", "k", basket)
	wantAPIError(t, err, http.StatusConflict, "request_in_progress", orders.ErrInProgress)
	if held := e.catalog.heldOrders(); len(held) != 0 {
		t.Fatalf("held: %v", held)
	}
	if _, err := e.sql.Lookup(context.Background(), "usr_a", "k"); !errors.Is(err, orders.ErrKeyNotFound) {
		t.Fatalf("claim: %v, want it freed", err)
	}
}

func TestCancel(t *testing.T) {
	e := newEnv(t, nil)
	ctx := context.Background()
	res, err := e.svc.PlaceOrder(ctx, "usr_a", "k", basket)
	if err != nil {
		t.Fatal(err)
	}
	id := res.Order.ID

	// Another user's order does not exist for them.
	_, err = e.svc.Order(ctx, "usr_b", id)
	wantAPIError(t, err, http.StatusNotFound, "not_found", orders.ErrOrderNotFound)
	_, err = e.svc.Cancel(ctx, "usr_b", id)
	wantAPIError(t, err, http.StatusNotFound, "not_found", orders.ErrOrderNotFound)
	_, err = e.svc.Cancel(ctx, "usr_a", "ord_nope")
	wantAPIError(t, err, http.StatusNotFound, "not_found", orders.ErrOrderNotFound)
	if _, releases := e.catalog.counts(); len(releases) != 0 {
		t.Fatalf("refused cancels released %v", releases)
	}

	// With catalog down the order is still cancelled: its release is
	// queued in the same transaction, and the sweeper delivers it once
	// catalog answers again.
	e.catalog.setReleaseErr(errors.New("catalog down"))
	o, err := e.svc.Cancel(ctx, "usr_a", id)
	if err != nil || o.Status != orders.StatusCancelled || o.ID != id || o.TotalCents != res.Order.TotalCents {
		t.Fatalf("cancel = %+v, %v", o, err)
	}
	if e.catalog.stockOf("prd_apple") == 100 {
		t.Fatal("stock returned although catalog refused the release")
	}
	e.catalog.setReleaseErr(nil)
	sw := orders.NewSweeper(e.store, e.catalog, e.opts...)
	e.clock.Advance(time.Minute)
	if st, err := sw.Sweep(ctx); err != nil || st.Released != 1 {
		t.Fatalf("sweep = %+v, %v; want the queued release sent", st, err)
	}
	if e.catalog.stockOf("prd_apple") != 100 || e.catalog.stockOf("prd_pear") != 10 {
		t.Fatal("stock not returned after the queued release")
	}
	again, err := e.svc.Cancel(ctx, "usr_a", id)
	if err != nil || again.Status != orders.StatusCancelled {
		t.Fatalf("second cancel = %+v, %v", again, err)
	}
	a, _ := json.Marshal(o)
	b, _ := json.Marshal(again)
	if !bytes.Equal(a, b) {
		t.Fatalf("second cancel answered %s, first %s", b, a)
	}
	if _, releases := e.catalog.counts(); len(releases) != 2 { // the failed one and the good one
		t.Fatalf("releases = %v, want no release for the second cancel", releases)
	}
	// The key still replays the first answer, confirmed as it was.
	rep, err := e.svc.PlaceOrder(ctx, "usr_a", "k", basket)
	if err != nil || !rep.Replayed || rep.Order.Status != orders.StatusConfirmed || !bytes.Equal(encoded(t, rep), encoded(t, res)) {
		t.Fatalf("replay after cancel: %v", err)
	}
	checkConsistent(t, e.store, e.catalog, "usr_a")
}

func TestOrdersList(t *testing.T) {
	e := newEnv(t, nil)
	ctx := context.Background()
	one := []orders.Item{{ProductID: "prd_apple", Quantity: 1}}
	var ids []string
	for i := range 5 {
		res, err := e.svc.PlaceOrder(ctx, "usr_a", fmt.Sprint("a", i), one)
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, res.Order.ID)
		if _, err := e.svc.PlaceOrder(ctx, "usr_b", fmt.Sprint("b", i), one); err != nil {
			t.Fatal(err)
		}
		if i != 2 { // two orders in the same millisecond: ordered by id
			e.clock.Advance(time.Second)
		}
	}
	slices.Reverse(ids)
	var got []string
	cursor := ""
	for page := 0; ; page++ {
		p, err := e.svc.Orders(ctx, "usr_a", 2, cursor)
		if err != nil {
			t.Fatal(err)
		}
		if len(p.Orders) > 2 {
			t.Fatalf("page of %d orders with limit 2", len(p.Orders))
		}
		for _, o := range p.Orders {
			if o.UserID != "usr_a" {
				t.Fatalf("usr_a's list has %+v", o)
			}
			got = append(got, o.ID)
		}
		if p.NextCursor == "" {
			break
		}
		cursor = p.NextCursor
		if page > 5 {
			t.Fatal("pages never end")
		}
	}
	// Newest first; ord ids are sequential, so within one millisecond the
	// larger id comes first.
	want := slices.Clone(ids)
	if !slices.Equal(got, want) {
		t.Fatalf("list = %v, want %v", got, want)
	}
	full, err := e.svc.Orders(ctx, "usr_a", 0, "")
	if err != nil || len(full.Orders) != 5 || full.NextCursor != "" {
		t.Fatalf("default page: %d orders, cursor %q, %v", len(full.Orders), full.NextCursor, err)
	}
	empty, err := e.svc.Orders(ctx, "usr_nobody", 0, "")
	if err != nil || empty.Orders == nil || len(empty.Orders) != 0 {
		t.Fatalf("empty list = %#v, %v; want a non-nil empty slice", empty.Orders, err)
	}

	for _, limit := range []int{-1, orders.MaxLimit + 1} {
		_, err := e.svc.Orders(ctx, "usr_a", limit, "")
		wantAPIError(t, err, http.StatusBadRequest, "invalid_argument", orders.ErrInvalidArgument)
	}
	for _, c := range []string{"!!", "bm9jb2xvbg", orders.Cursor{CreatedAt: t0, ID: "a b"}.Encode()} {
		_, err := e.svc.Orders(ctx, "usr_a", 2, c)
		wantAPIError(t, err, http.StatusBadRequest, "invalid_cursor", orders.ErrInvalidCursor)
	}
}

func TestOrdersListLimits(t *testing.T) {
	e := newEnv(t, nil)
	ctx := context.Background()
	one := []orders.Item{{ProductID: "prd_plum", Quantity: 1}}
	e.catalog.stock["prd_plum"] = 1000
	for i := range orders.MaxLimit + 1 {
		if _, err := e.svc.PlaceOrder(ctx, "usr_a", fmt.Sprint(i), one); err != nil {
			t.Fatal(err)
		}
		e.clock.Advance(time.Millisecond)
	}
	p, err := e.svc.Orders(ctx, "usr_a", 0, "")
	if err != nil || len(p.Orders) != orders.DefaultLimit || p.NextCursor == "" {
		t.Fatalf("default limit: %d orders, cursor %q, %v", len(p.Orders), p.NextCursor, err)
	}
	p, err = e.svc.Orders(ctx, "usr_a", orders.MaxLimit, "")
	if err != nil || len(p.Orders) != orders.MaxLimit || p.NextCursor == "" {
		t.Fatalf("max limit: %d orders, %v", len(p.Orders), err)
	}
	p, err = e.svc.Orders(ctx, "usr_a", orders.MaxLimit, p.NextCursor)
	if err != nil || len(p.Orders) != 1 || p.NextCursor != "" {
		t.Fatalf("last page: %d orders, cursor %q, %v", len(p.Orders), p.NextCursor, err)
	}
}
