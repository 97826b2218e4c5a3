package orders_test

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/switchyard/switchyard/examples/ecommerce/internal/sqlite"
	"github.com/switchyard/switchyard/examples/ecommerce/orders"
)

func claimReq(user, key, hash, orderID string, now time.Time) orders.ClaimRequest {
	return orders.ClaimRequest{UserID: user, Key: key, RequestHash: hash, OrderID: orderID, Now: now, LeaseUntil: now.Add(orders.DefaultLease)}
}

func TestStoreClaimLifecycle(t *testing.T) {
	st, _ := openStore(t)
	ctx := context.Background()

	c, err := st.Claim(ctx, claimReq("u", "k", "h1", "ord_1", t0))
	if err != nil || c.State != orders.ClaimAcquired || c.Ticket.Attempt != 1 || c.Ticket.OrderID != "ord_1" || c.Ticket.TakenOver {
		t.Fatalf("first claim = %+v, %v", c, err)
	}
	first := c.Ticket

	// Within the lease: busy, whatever the hash.
	for _, h := range []string{"h1", "h2"} {
		c, err = st.Claim(ctx, claimReq("u", "k", h, "ord_x", t0.Add(orders.DefaultLease)))
		if err != nil || c.State != orders.ClaimBusy || c.RequestHash != "h1" {
			t.Fatalf("claim in lease with %s = %+v, %v", h, c, err)
		}
	}
	// After the lease, another body still only sees it busy...
	late := t0.Add(orders.DefaultLease + time.Millisecond)
	c, err = st.Claim(ctx, claimReq("u", "k", "h2", "ord_x", late))
	if err != nil || c.State != orders.ClaimBusy {
		t.Fatalf("claim after lease with another hash = %+v, %v", c, err)
	}
	// ...and the same body takes it over, keeping the order id.
	c, err = st.Claim(ctx, claimReq("u", "k", "h1", "ord_x", late))
	if err != nil || c.State != orders.ClaimAcquired || !c.Ticket.TakenOver || c.Ticket.Attempt != 2 || c.Ticket.OrderID != "ord_1" {
		t.Fatalf("takeover = %+v, %v", c, err)
	}
	second := c.Ticket

	// The first attempt is fenced off.
	if err := st.Complete(ctx, first, orders.Answer{OutOfStock: true}, late); !errors.Is(err, orders.ErrClaimLost) {
		t.Fatalf("stale Complete = %v, want ErrClaimLost", err)
	}
	if err := st.Free(ctx, first, true, late); !errors.Is(err, orders.ErrClaimLost) {
		t.Fatalf("stale Free = %v, want ErrClaimLost", err)
	}
	if due, _ := st.DueReleases(ctx, late, 10); len(due) != 0 {
		t.Fatalf("a fenced Free enqueued %v", due)
	}

	o := &orders.Order{ID: "ord_1", UserID: "u", Status: orders.StatusConfirmed, CreatedAt: late,
		Items: []orders.Line{{ProductID: "p", Quantity: 2, PriceCents: 7}}, TotalCents: 14}
	if err := st.Complete(ctx, second, orders.Answer{}, late); err == nil || errors.Is(err, orders.ErrClaimLost) {
		t.Fatalf("Complete with an empty answer = %v, want it refused", err)
	}
	if err := st.Complete(ctx, second, orders.Answer{Order: o}, late); err != nil {
		t.Fatal(err)
	}
	if err := st.Complete(ctx, second, orders.Answer{Order: o}, late); !errors.Is(err, orders.ErrClaimLost) {
		t.Fatalf("second Complete = %v, want ErrClaimLost", err)
	}
	// The key keeps the order as it was placed, whatever happens to it.
	if _, err := st.Cancel(ctx, "u", "ord_1", late); err != nil {
		t.Fatal(err)
	}
	c, err = st.Claim(ctx, claimReq("u", "k", "h1", "ord_y", late.Add(time.Hour)))
	if err != nil || c.State != orders.ClaimDone || c.Answer.Order == nil || c.Answer.Order.ID != "ord_1" ||
		c.Answer.Order.Status != orders.StatusConfirmed || !c.Answer.Order.CreatedAt.Equal(late) || c.Answer.OutOfStock {
		t.Fatalf("claim of a done key = %+v, %v", c, err)
	}
	got, err := st.Order(ctx, "u", "ord_1")
	if err != nil || got.TotalCents != 14 || len(got.Items) != 1 || got.Items[0] != o.Items[0] || !got.CreatedAt.Equal(late) {
		t.Fatalf("stored order = %+v, %v", got, err)
	}
	if _, err := st.Order(ctx, "someone else", "ord_1"); !errors.Is(err, orders.ErrOrderNotFound) {
		t.Fatalf("another user's order: %v", err)
	}

	// An order id in use is never released as an orphan.
	if q, err := st.EnqueueOrphanRelease(ctx, "ord_1", late); err != nil || q {
		t.Fatalf("orphan release of a confirmed order: %v %v", q, err)
	}
	if _, err := st.Claim(ctx, claimReq("u", "k2", "h", "ord_2", late)); err != nil {
		t.Fatal(err)
	}
	if q, err := st.EnqueueOrphanRelease(ctx, "ord_2", late); err != nil || q {
		t.Fatalf("orphan release of an in-flight claim's order: %v %v", q, err)
	}
	if q, err := st.EnqueueOrphanRelease(ctx, "ord_gone", late); err != nil || !q {
		t.Fatalf("orphan release of an unused order id: %v %v", q, err)
	}
	if _, err := st.Lookup(ctx, "u", "nope"); !errors.Is(err, orders.ErrKeyNotFound) {
		t.Fatalf("Lookup of an unknown key: %v", err)
	}
}

// Replicas share the database file: claims made at once through two
// handles on it (two processes, as far as SQLite can tell the difference)
// give the key to exactly one of them.
func TestStoreClaimIsAtomicAcrossReplicas(t *testing.T) {
	path := filepath.Join(t.TempDir(), "orders.db")
	var stores []*orders.SQLiteStore
	for range 2 {
		db, err := sqlite.Open(context.Background(), path, orders.Migrations...)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		stores = append(stores, orders.NewSQLiteStore(db))
	}
	const n = 20
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		acquired []string
	)
	for i := range n {
		wg.Go(func() {
			id := fmt.Sprintf("ord_%d", i)
			c, err := stores[i%2].Claim(context.Background(), claimReq("u", "k", "h", id, t0))
			if err != nil {
				t.Error(err)
				return
			}
			if c.State == orders.ClaimAcquired {
				mu.Lock()
				acquired = append(acquired, c.Ticket.OrderID)
				mu.Unlock()
			} else if c.State != orders.ClaimBusy {
				t.Errorf("state %v", c.State)
			}
		})
	}
	wg.Wait()
	if len(acquired) != 1 {
		t.Fatalf("%d claims acquired (%v), want exactly 1", len(acquired), acquired)
	}
	c, err := stores[1].Lookup(context.Background(), "u", "k")
	if err != nil || c.Ticket.OrderID != acquired[0] {
		t.Fatalf("stored claim %+v, %v; want order id %s", c, err, acquired[0])
	}
}

func TestStoreAbandonStale(t *testing.T) {
	st, _ := openStore(t)
	ctx := context.Background()
	for i := range 3 {
		if _, err := st.Claim(ctx, claimReq("u", fmt.Sprint(i), "h", fmt.Sprint("ord_", i), t0.Add(time.Duration(i)*time.Second))); err != nil {
			t.Fatal(err)
		}
	}
	// ord_0's lease ends at t0+15s, ord_1's at +16s, ord_2's at +17s.
	n, err := st.AbandonStale(ctx, t0.Add(orders.DefaultLease+1500*time.Millisecond), t0, 10)
	if err != nil || n != 2 {
		t.Fatalf("abandoned %d, %v; want 2", n, err)
	}
	due, err := st.DueReleases(ctx, t0, 10)
	if err != nil || len(due) != 2 || due[0].OrderID != "ord_0" || due[1].OrderID != "ord_1" {
		t.Fatalf("due = %+v, %v", due, err)
	}
	if err := st.ReleaseFailed(ctx, "ord_0", t0.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	due, _ = st.DueReleases(ctx, t0.Add(time.Second), 10)
	if len(due) != 1 || due[0].OrderID != "ord_1" {
		t.Fatalf("due after a failure = %+v", due)
	}
	due, _ = st.DueReleases(ctx, t0.Add(time.Minute), 10)
	if len(due) != 2 || due[0].Attempts != 1 && due[1].Attempts != 1 {
		t.Fatalf("due a minute later = %+v", due)
	}
	for _, d := range due {
		if err := st.ReleaseDone(ctx, d.OrderID); err != nil {
			t.Fatal(err)
		}
	}
	if due, _ := st.DueReleases(ctx, t0.Add(time.Hour), 10); len(due) != 0 {
		t.Fatalf("due after done = %+v", due)
	}
	if _, err := st.Lookup(ctx, "u", "0"); !errors.Is(err, orders.ErrKeyNotFound) {
		t.Fatalf("abandoned claim still there: %v", err)
	}
	if c, err := st.Lookup(ctx, "u", "2"); err != nil || c.State != orders.ClaimBusy {
		t.Fatalf("fresh claim: %+v %v", c, err)
	}
}

// A key completed before answers were kept as [orders.Answer] (when the
// store held the HTTP status and body) answers the same after the
// migration.
func TestStoreMigratesHTTPAnswers(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "orders.db")
	db, err := sqlite.Open(ctx, path, orders.Migrations[:1]...)
	if err != nil {
		t.Fatal(err)
	}
	body := `{"id":"ord_1","user_id":"u","status":"confirmed","items":[{"product_id":"p","quantity":2,"price_cents":7}],"total_cents":14,"created_at":"2031-05-06T07:08:09.123Z"}` + "\n"
	if _, err := db.ExecContext(ctx,
		`INSERT INTO idempotency_keys (user_id, key, request_hash, order_id, state, attempt, lease_until, response_status, response_body, created_at, updated_at)
		 VALUES ('u', 'ok', 'h', 'ord_1', 'done', 1, 0, 201, ?, 0, 0),
		        ('u', 'oos', 'h', 'ord_2', 'done', 1, 0, 409, CAST('{"error":{"code":"out_of_stock","message":"no"}}' AS BLOB), 0, 0),
		        ('u', 'busy', 'h', 'ord_3', 'in_flight', 1, 0, NULL, NULL, 0, 0)`, []byte(body)); err != nil {
		t.Fatal(err)
	}
	db.Close()
	db, err = sqlite.Open(ctx, path, orders.Migrations...)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	st := orders.NewSQLiteStore(db)
	c, err := st.Lookup(ctx, "u", "ok")
	if err != nil || c.State != orders.ClaimDone || c.Answer.Order == nil || c.Answer.Order.TotalCents != 14 ||
		!c.Answer.Order.CreatedAt.Equal(time.Date(2031, 5, 6, 7, 8, 9, 123e6, time.UTC)) {
		t.Fatalf("201 key after migration = %+v, %v", c, err)
	}
	if c, err := st.Lookup(ctx, "u", "oos"); err != nil || !c.Answer.OutOfStock || c.Answer.Order != nil {
		t.Fatalf("409 key after migration = %+v, %v", c, err)
	}
	if c, err := st.Lookup(ctx, "u", "busy"); err != nil || c.State != orders.ClaimBusy {
		t.Fatalf("in-flight key after migration = %+v, %v", c, err)
	}
}
