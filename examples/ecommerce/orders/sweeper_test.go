package orders_test

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/switchyard/switchyard/examples/ecommerce/orders"
	"github.com/switchyard/switchyard/internal/clock"
)

// The sweeper abandons a claim left in flight (its instance crashed after
// reserving and no retry came) once the lease and the grace have passed,
// and releases its stock; a later retry of the key starts afresh.
func TestSweeperReleasesStaleClaims(t *testing.T) {
	e := newEnv(t, nil)
	ctx := context.Background()
	items, _ := orders.NormalizeItems(basket)
	if _, err := e.sql.Claim(ctx, claimReq("usr_a", "k", orders.RequestHash(items), "ord_crashed", t0)); err != nil {
		t.Fatal(err)
	}
	if _, err := e.catalog.Reserve(ctx, "ord_crashed", items); err != nil {
		t.Fatal(err)
	}
	// A finished order and a fresh claim are left alone.
	if _, err := e.svc.PlaceOrder(ctx, "usr_a", "done", []orders.Item{{ProductID: "prd_plum", Quantity: 1}}); err != nil {
		t.Fatal(err)
	}

	sw := orders.NewSweeper(e.store, e.catalog, e.opts...)
	defer sw.Stop()
	sw.Start()
	sw.Start() // no second schedule
	if n := e.clock.Pending(); n != 1 {
		t.Fatalf("%d timers pending, want 1", n)
	}

	// Lease (15 s) plus grace (15 s) end at t0+30s; sweeps run every 5 s.
	e.clock.Advance(30 * time.Second)
	if _, releases := e.catalog.counts(); len(releases) != 0 {
		t.Fatalf("released %v before lease and grace ended", releases)
	}
	if _, err := e.sql.Claim(ctx, claimReq("usr_b", "fresh", "h", "ord_fresh", e.clock.Now())); err != nil {
		t.Fatal(err)
	}
	e.clock.Advance(5 * time.Second)
	if _, releases := e.catalog.counts(); !slices.Equal(releases, []string{"ord_crashed"}) {
		t.Fatalf("releases = %v, want [ord_crashed]", releases)
	}
	if held := e.catalog.heldOrders(); len(held) != 1 || held[0] == "ord_crashed" {
		t.Fatalf("held = %v, want only the finished order", held)
	}
	if _, err := e.sql.Lookup(ctx, "usr_a", "k"); !errors.Is(err, orders.ErrKeyNotFound) {
		t.Fatalf("stale claim after the sweep: %v", err)
	}
	if c, err := e.sql.Lookup(ctx, "usr_b", "fresh"); err != nil || c.State != orders.ClaimBusy {
		t.Fatalf("fresh claim after the sweep: %+v %v", c, err)
	}
	checkConsistent(t, e.store, e.catalog, "usr_a")

	res, err := e.svc.PlaceOrder(ctx, "usr_a", "k", basket)
	if err != nil || res.Replayed {
		t.Fatalf("retry after the sweep: %v", err)
	}
	if o := res.Order; o.ID == "ord_crashed" {
		t.Fatal("retry reused the released order id")
	}
	checkConsistent(t, e.store, e.catalog, "usr_a")
}

func TestSweeperRetriesFailedReleasesWithBackoff(t *testing.T) {
	e := newEnv(t, nil)
	ctx := context.Background()
	if q, err := e.sql.EnqueueOrphanRelease(ctx, "ord_x", t0); err != nil || !q {
		t.Fatal(q, err)
	}
	e.catalog.setReleaseErr(errors.New("catalog down"))
	sw := orders.NewSweeper(e.store, e.catalog, append(e.opts, orders.WithSweepInterval(time.Second))...)
	defer sw.Stop()

	// Failures are retried after 1 s, 2 s, 4 s: sweeping at those times
	// tries again, sweeping in between does not.
	var attemptsAt []time.Duration
	for step := range 8 {
		st, err := sw.Sweep(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if st.Failed > 0 {
			attemptsAt = append(attemptsAt, e.clock.Now().Sub(t0))
		}
		_ = step
		e.clock.Advance(time.Second)
	}
	want := []time.Duration{0, time.Second, 3 * time.Second, 7 * time.Second}
	if !slices.Equal(attemptsAt, want) {
		t.Fatalf("release attempts at %v, want %v", attemptsAt, want)
	}
	e.catalog.setReleaseErr(nil)
	e.clock.Advance(8 * time.Second)
	st, err := sw.Sweep(ctx)
	if err != nil || st.Released != 1 {
		t.Fatalf("sweep after recovery = %+v, %v", st, err)
	}
	if due, _ := e.sql.DueReleases(ctx, e.clock.Now().Add(time.Hour), 10); len(due) != 0 {
		t.Fatalf("still pending: %v", due)
	}
}

func TestSweeperBatch(t *testing.T) {
	e := newEnv(t, nil)
	ctx := context.Background()
	for _, k := range []string{"a", "b", "c"} {
		if _, err := e.sql.Claim(ctx, claimReq("usr_a", k, "h", "ord_"+k, t0)); err != nil {
			t.Fatal(err)
		}
	}
	e.clock.Advance(time.Minute)
	sw := orders.NewSweeper(e.store, e.catalog, append(e.opts, orders.WithSweepBatch(2))...)
	defer sw.Stop()
	for i, want := range []orders.SweepStats{{Abandoned: 2, Released: 2}, {Abandoned: 1, Released: 1}, {}} {
		st, err := sw.Sweep(ctx)
		if err != nil || st != want {
			t.Fatalf("sweep %d = %+v, %v; want %+v", i, st, err, want)
		}
	}
}

func TestSweeperStop(t *testing.T) {
	// On the fake clock: Stop cancels the timer, and Start after Stop
	// does nothing.
	fc := clock.NewFake(t0)
	st, _ := openStore(t)
	sw := orders.NewSweeper(st, newFakeCatalog(), orders.WithClock(fc))
	sw.Start()
	sw.Stop()
	sw.Stop()
	sw.Start()
	if n := fc.Pending(); n != 0 {
		t.Fatalf("%d timers pending after Stop", n)
	}

	// On the real clock: Stop interrupts a sweep blocked in the catalog
	// and waits for it; goleak (TestMain) checks nothing is left.
	cat := &blockingCatalog{entered: make(chan struct{})}
	if q, err := st.EnqueueOrphanRelease(context.Background(), "ord_x", time.Now().Add(-time.Hour)); err != nil || !q {
		t.Fatal(q, err)
	}
	sw = orders.NewSweeper(st, cat, orders.WithSweepInterval(time.Millisecond), orders.WithLogger(discardLogger()))
	sw.Start()
	<-cat.entered
	sw.Stop()
}

// blockingCatalog's Release blocks until its context ends.
type blockingCatalog struct {
	entered chan struct{}
}

func (c *blockingCatalog) Reserve(context.Context, string, []orders.Item) ([]orders.Line, error) {
	return nil, errors.New("not used")
}

func (c *blockingCatalog) Release(ctx context.Context, _ string) error {
	select {
	case <-c.entered:
	default:
		close(c.entered)
	}
	<-ctx.Done()
	return ctx.Err()
}
