package orderstest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/switchyard/switchyard/examples/ecommerce/orders"
)

// Open returns n stores on one new, empty database, each with its own
// connections, as n replicas of the orders service would have. It closes
// them when t ends.
type Open func(t *testing.T, n int) []orders.Store

// t0 has a millisecond fraction, which the stores must keep.
var t0 = time.Date(2031, 5, 6, 7, 8, 9, 456e6, time.UTC)

func claimReq(user, key, hash, orderID string, now time.Time) orders.ClaimRequest {
	return orders.ClaimRequest{UserID: user, Key: key, RequestHash: hash, OrderID: orderID, Now: now,
		LeaseUntil: now.Add(orders.DefaultLease)}
}

func order(id, user string, at time.Time) *orders.Order {
	return &orders.Order{ID: id, UserID: user, Status: orders.StatusConfirmed, CreatedAt: at,
		Items: []orders.Line{{ProductID: "p1", Quantity: 2, PriceCents: 7}, {ProductID: "p0", Quantity: 1, PriceCents: 5}}, TotalCents: 19}
}

// Run runs the suite against the stores open makes, each case on a new
// database and in parallel with the others.
func Run(t *testing.T, open Open) {
	for _, c := range []struct {
		name string
		fn   func(*testing.T, Open)
	}{
		{"ClaimLifecycle", testClaimLifecycle},
		{"ClaimIsAtomicAcrossReplicas", testClaimAcrossReplicas},
		{"OneOrderPerKeyAcrossReplicas", testOneOrderPerKey},
		{"TakeoverFencesAcrossReplicas", testTakeoverFences},
		{"AbandonStale", testAbandonStale},
		{"OrdersPages", testOrdersPages},
		{"CancelQueuesOneReleaseAcrossReplicas", testCancel},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			c.fn(t, open)
		})
	}
}

func testClaimLifecycle(t *testing.T, open Open) {
	st := open(t, 1)[0]
	ctx := context.Background()

	c, err := st.Claim(ctx, claimReq("u", "k", "h1", "ord_1", t0))
	if err != nil || c.State != orders.ClaimAcquired || c.Ticket.Attempt != 1 || c.Ticket.OrderID != "ord_1" || c.Ticket.TakenOver {
		t.Fatalf("first claim = %+v, %v", c, err)
	}
	first := c.Ticket

	// Within the lease (its last millisecond included): busy, whatever the hash.
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

	o := order("ord_1", "u", late)
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
	if c, err := st.Lookup(ctx, "u", "k"); err != nil || c.State != orders.ClaimDone || c.Answer.Order == nil ||
		c.Ticket.OrderID != "ord_1" || c.RequestHash != "h1" {
		t.Fatalf("Lookup of a done key = %+v, %v", c, err)
	}
	got, err := st.Order(ctx, "u", "ord_1")
	if err != nil || got.TotalCents != 19 || len(got.Items) != 2 || got.Items[0] != o.Items[0] || got.Items[1] != o.Items[1] ||
		!got.CreatedAt.Equal(late) || got.Status != orders.StatusCancelled {
		t.Fatalf("stored order = %+v, %v", got, err)
	}
	if _, err := st.Order(ctx, "someone else", "ord_1"); !errors.Is(err, orders.ErrOrderNotFound) {
		t.Fatalf("another user's order: %v", err)
	}

	// Out of stock is a final answer, stored without an order.
	c, _ = st.Claim(ctx, claimReq("u", "oos", "h", "ord_oos", late))
	if err := st.Complete(ctx, c.Ticket, orders.Answer{OutOfStock: true}, late); err != nil {
		t.Fatal(err)
	}
	if c, err := st.Lookup(ctx, "u", "oos"); err != nil || c.State != orders.ClaimDone || !c.Answer.OutOfStock {
		t.Fatalf("Lookup of an out-of-stock key = %+v, %v", c, err)
	}
	if _, err := st.Order(ctx, "u", "ord_oos"); !errors.Is(err, orders.ErrOrderNotFound) {
		t.Fatalf("an out-of-stock answer made an order: %v", err)
	}

	// An order id in use is never released as an orphan.
	if q, err := st.EnqueueOrphanRelease(ctx, "ord_1", late); err != nil || q {
		t.Fatalf("orphan release of an order: %v %v", q, err)
	}
	c, err = st.Claim(ctx, claimReq("u", "k2", "h", "ord_2", late))
	if err != nil {
		t.Fatal(err)
	}
	if q, err := st.EnqueueOrphanRelease(ctx, "ord_2", late); err != nil || q {
		t.Fatalf("orphan release of an in-flight claim's order: %v %v", q, err)
	}
	if q, err := st.EnqueueOrphanRelease(ctx, "ord_gone", late); err != nil || !q {
		t.Fatalf("orphan release of an unused order id: %v %v", q, err)
	}
	// Freeing with release queues the order id; without, it does not.
	if err := st.Free(ctx, c.Ticket, true, late); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Lookup(ctx, "u", "k2"); !errors.Is(err, orders.ErrKeyNotFound) {
		t.Fatalf("Lookup of a freed key: %v", err)
	}
	due, err := st.DueReleases(ctx, late, 10)
	if err != nil || len(due) != 3 {
		t.Fatalf("due = %+v, %v; want ord_1 (cancelled), ord_2 (freed) and ord_gone", due, err)
	}
}

// Many attempts claim one key at once over two replicas: exactly one gets
// it, and the key keeps that attempt's order id.
func testClaimAcrossReplicas(t *testing.T, open Open) {
	stores := open(t, 2)
	const n = 20
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		acquired []string
	)
	for i := range n {
		wg.Go(func() {
			c, err := stores[i%2].Claim(context.Background(), claimReq("u", "k", "h", fmt.Sprint("ord_", i), t0))
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

// Clients retry each of several keys on both replicas at once, with the
// lease running out under them (so attempts take claims over while others
// complete): each key ends with one order, and every attempt that reports
// success names that order.
func testOneOrderPerKey(t *testing.T, open Open) {
	stores := open(t, 2)
	const keys, tries = 8, 8
	var (
		wg        sync.WaitGroup
		completed atomic.Int32
	)
	placed := make([][]string, keys)
	for k := range keys {
		placed[k] = make([]string, tries)
		for i := range tries {
			wg.Go(func() {
				ctx := context.Background()
				st := stores[i%2]
				key := fmt.Sprint("key_", k)
				// Each try comes later than the lease of the one before.
				now := t0.Add(time.Duration(i) * (orders.DefaultLease + time.Second))
				c, err := st.Claim(ctx, claimReq("u", key, "h", fmt.Sprintf("ord_%d_%d", k, i), now))
				if err != nil {
					t.Errorf("Claim: %v", err)
					return
				}
				switch c.State {
				case orders.ClaimDone:
					placed[k][i] = c.Answer.Order.ID
				case orders.ClaimAcquired:
					err := st.Complete(ctx, c.Ticket, orders.Answer{Order: order(c.Ticket.OrderID, "u", now)}, now)
					if errors.Is(err, orders.ErrClaimLost) {
						return
					}
					if err != nil {
						t.Errorf("Complete: %v", err)
						return
					}
					completed.Add(1)
					placed[k][i] = c.Ticket.OrderID
				}
			})
		}
	}
	wg.Wait()
	ctx := context.Background()
	list, err := stores[0].Orders(ctx, "u", nil, 1000)
	if err != nil {
		t.Fatal(err)
	}
	if len(list) > keys || int(completed.Load()) != len(list) {
		t.Fatalf("%d orders, %d completions for %d keys: want at most one order per key, one per completion",
			len(list), completed.Load(), keys)
	}
	for k := range keys {
		c, err := stores[1].Lookup(ctx, "u", fmt.Sprint("key_", k))
		if err != nil {
			t.Fatal(err)
		}
		for i, id := range placed[k] {
			if id != "" && (c.State != orders.ClaimDone || c.Answer.Order.ID != id) {
				t.Errorf("key %d try %d was told order %s; the key holds %+v", k, i, id, c)
			}
		}
	}
}

// An attempt whose claim was taken over on the other replica cannot
// complete or free it, even when both try at the same moment.
func testTakeoverFences(t *testing.T, open Open) {
	stores := open(t, 2)
	ctx := context.Background()
	for k := range 10 {
		key := fmt.Sprint("key_", k)
		c, err := stores[0].Claim(ctx, claimReq("u", key, "h", fmt.Sprint("ord_", k), t0))
		if err != nil {
			t.Fatal(err)
		}
		old := c.Ticket
		late := t0.Add(orders.DefaultLease + time.Second)
		c, err = stores[1].Claim(ctx, claimReq("u", key, "h", "ord_other", late))
		if err != nil || c.State != orders.ClaimAcquired {
			t.Fatalf("takeover = %+v, %v", c, err)
		}
		var wg sync.WaitGroup
		var errOld, errNew error
		wg.Go(func() { errOld = stores[0].Complete(ctx, old, orders.Answer{OutOfStock: true}, late) })
		wg.Go(func() {
			errNew = stores[1].Complete(ctx, c.Ticket, orders.Answer{Order: order(c.Ticket.OrderID, "u", late)}, late)
		})
		wg.Wait()
		if !errors.Is(errOld, orders.ErrClaimLost) || errNew != nil {
			t.Fatalf("fenced Complete = %v, holder's Complete = %v", errOld, errNew)
		}
		if got, err := stores[0].Lookup(ctx, "u", key); err != nil || got.Answer.Order == nil || got.Answer.Order.ID != fmt.Sprint("ord_", k) {
			t.Fatalf("key answer = %+v, %v", got, err)
		}
	}
}

func testAbandonStale(t *testing.T, open Open) {
	st := open(t, 1)[0]
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
	if len(due) != 2 || due[1].OrderID != "ord_0" || due[1].Attempts != 1 || due[0].Attempts != 0 {
		t.Fatalf("due a minute later = %+v", due)
	}
	for _, d := range due {
		if err := st.ReleaseDone(ctx, d.OrderID); err != nil {
			t.Fatal(err)
		}
	}
	if err := st.ReleaseDone(ctx, "ord_never"); err != nil {
		t.Fatalf("ReleaseDone of nothing: %v", err)
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

// A user's orders come newest first, ties broken by id (descending), in
// pages that visit each once; another user's are never listed.
func testOrdersPages(t *testing.T, open Open) {
	st := open(t, 1)[0]
	ctx := context.Background()
	var want []string
	for i := range 7 {
		at := t0.Add(time.Duration(i/2) * time.Millisecond) // pairs share a time
		for _, user := range []string{"u", "v"} {
			id := fmt.Sprintf("ord_%s_%d", user, i)
			c, err := st.Claim(ctx, claimReq(user, id, "h", id, at))
			if err != nil {
				t.Fatal(err)
			}
			if err := st.Complete(ctx, c.Ticket, orders.Answer{Order: order(id, user, at)}, at); err != nil {
				t.Fatal(err)
			}
		}
		want = append([]string{fmt.Sprintf("ord_u_%d", i)}, want...)
	}
	var got []string
	var after *orders.Cursor
	for {
		page, err := st.Orders(ctx, "u", after, 3)
		if err != nil {
			t.Fatal(err)
		}
		if len(page) == 0 {
			break
		}
		for _, o := range page {
			if o.UserID != "u" || len(o.Items) != 2 {
				t.Fatalf("listed %+v", o)
			}
			got = append(got, o.ID)
		}
		last := page[len(page)-1]
		after = &orders.Cursor{CreatedAt: last.CreatedAt, ID: last.ID}
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("pages = %v, want %v", got, want)
	}
}

// Cancelling one order at once on both replicas cancels it and queues its
// release once; cancelling again changes nothing.
func testCancel(t *testing.T, open Open) {
	stores := open(t, 2)
	ctx := context.Background()
	const n = 10
	for i := range n {
		id := fmt.Sprint("ord_", i)
		c, err := stores[0].Claim(ctx, claimReq("u", id, "h", id, t0))
		if err != nil {
			t.Fatal(err)
		}
		if err := stores[0].Complete(ctx, c.Ticket, orders.Answer{Order: order(id, "u", t0)}, t0); err != nil {
			t.Fatal(err)
		}
	}
	var wg sync.WaitGroup
	for i := range n {
		for r := range 2 {
			wg.Go(func() {
				o, err := stores[r].Cancel(ctx, "u", fmt.Sprint("ord_", i), t0.Add(time.Second))
				if err != nil || o.Status != orders.StatusCancelled {
					t.Errorf("Cancel = %+v, %v", o, err)
				}
			})
		}
	}
	wg.Wait()
	due, err := stores[1].DueReleases(ctx, t0.Add(time.Hour), 100)
	if err != nil || len(due) != n {
		t.Fatalf("due = %+v, %v; want %d releases, one per order", due, err, n)
	}
	for _, d := range due {
		if err := stores[0].ReleaseDone(ctx, d.OrderID); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := stores[1].Cancel(ctx, "u", "ord_0", t0.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	if due, _ := stores[1].DueReleases(ctx, t0.Add(time.Hour), 100); len(due) != 0 {
		t.Fatalf("cancelling a cancelled order queued %+v", due)
	}
	if _, err := stores[0].Cancel(ctx, "v", "ord_1", t0); !errors.Is(err, orders.ErrOrderNotFound) {
		t.Fatalf("Cancel of another user's order = %v, want ErrOrderNotFound", err)
	}
}
