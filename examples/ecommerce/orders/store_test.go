package orders_test

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/switchyard/switchyard/examples/ecommerce/internal/platform"
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
	if err := st.Complete(ctx, first, nil, orders.StoredResponse{Status: 409, Body: []byte("x")}, late); !errors.Is(err, orders.ErrClaimLost) {
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
	resp := orders.StoredResponse{Status: 201, Body: []byte("{\"id\":\"ord_1\"}\n")}
	if err := st.Complete(ctx, second, o, resp, late); err != nil {
		t.Fatal(err)
	}
	if err := st.Complete(ctx, second, o, resp, late); !errors.Is(err, orders.ErrClaimLost) {
		t.Fatalf("second Complete = %v, want ErrClaimLost", err)
	}
	c, err = st.Claim(ctx, claimReq("u", "k", "h1", "ord_y", late.Add(time.Hour)))
	if err != nil || c.State != orders.ClaimDone || c.Response.Status != 201 || string(c.Response.Body) != string(resp.Body) {
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
	var stores []*orders.SQLStore
	for range 2 {
		db, err := platform.OpenDB(context.Background(), path, orders.Migrations...)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		stores = append(stores, orders.NewSQLStore(db))
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
