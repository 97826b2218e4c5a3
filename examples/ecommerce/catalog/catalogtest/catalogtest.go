package catalogtest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/switchyard/switchyard/examples/ecommerce/catalog"
)

// Open returns n stores on one new database, migrated (and therefore
// seeded) as the service does it, each with its own connections, as n
// replicas of the catalog service would have. It closes them when t ends.
type Open func(t *testing.T, n int) []catalog.Store

var t0 = time.Date(2031, 5, 6, 7, 8, 9, 0, time.UTC)

// Run runs the suite against the stores open makes, each case on a new
// database and in parallel with the others.
func Run(t *testing.T, open Open) {
	for _, c := range []struct {
		name string
		fn   func(*testing.T, Open)
	}{
		{"Seeded", testSeeded},
		{"CreateGetUpdate", testCreateGetUpdate},
		{"ListPages", testListPages},
		{"ReserveAndRelease", testReserveAndRelease},
		{"ReserveIsAllOrNothing", testAllOrNothing},
		{"ReleaseBeforeReserve", testReleaseBeforeReserve},
		{"NoOversellAcrossReplicas", testNoOversell},
		{"OverlappingReservationsAcrossReplicas", testOverlapping},
		{"OneReservationPerOrderAcrossReplicas", testOnePerOrder},
		{"ReserveRacesReleaseAcrossReplicas", testReserveRacesRelease},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			c.fn(t, open)
		})
	}
}

func create(t *testing.T, st catalog.Store, id string, price, stock int64) {
	t.Helper()
	p := catalog.Product{ID: id, Name: "Name " + id, Description: "About " + id, PriceCents: price, Stock: stock}
	if err := st.Create(context.Background(), p, t0); err != nil {
		t.Fatal(err)
	}
}

func stock(t *testing.T, st catalog.Store, id string) int64 {
	t.Helper()
	p, err := st.Get(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	return p.Stock
}

func sorted(items []catalog.ReservedItem) []catalog.ReservedItem {
	return slices.SortedFunc(slices.Values(items), func(a, b catalog.ReservedItem) int {
		return strings.Compare(a.ProductID, b.ProductID)
	})
}

// A new database holds the seed once, however many replicas opened it.
func testSeeded(t *testing.T, open Open) {
	stores := open(t, 2)
	list, err := stores[1].List(context.Background(), "", 1000)
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != len(catalog.SeedProducts) {
		t.Fatalf("%d products after two replicas opened a new database, want the %d seeded once",
			len(list), len(catalog.SeedProducts))
	}
}

func testCreateGetUpdate(t *testing.T, open Open) {
	st := open(t, 1)[0]
	ctx := context.Background()
	create(t, st, "t_1", 1999, 5)
	p, err := st.Get(ctx, "t_1")
	want := catalog.Product{ID: "t_1", Name: "Name t_1", Description: "About t_1", PriceCents: 1999, Stock: 5}
	if err != nil || p != want {
		t.Fatalf("Get = %+v, %v; want %+v", p, err, want)
	}
	var nf *catalog.ProductNotFoundError
	if _, err := st.Get(ctx, "t_nope"); !errors.As(err, &nf) || nf.ID != "t_nope" {
		t.Fatalf("Get of an unknown id = %v, want a ProductNotFoundError", err)
	}
	if err := st.Create(ctx, want, t0); err == nil {
		t.Fatal("Create of an existing id: no error")
	}
	name, price := "Renamed", int64(2500)
	p, err = st.Update(ctx, "t_1", catalog.Patch{Name: &name, PriceCents: &price}, t0.Add(time.Minute))
	want.Name, want.PriceCents = name, price
	if err != nil || p != want {
		t.Fatalf("Update = %+v, %v; want %+v", p, err, want)
	}
	zero := int64(0)
	p, err = st.Update(ctx, "t_1", catalog.Patch{Stock: &zero}, t0.Add(time.Minute))
	want.Stock = 0
	if err != nil || p != want {
		t.Fatalf("Update of the stock alone = %+v, %v; want %+v", p, err, want)
	}
	if _, err := st.Update(ctx, "t_nope", catalog.Patch{Name: &name}, t0); !errors.As(err, &nf) {
		t.Fatalf("Update of an unknown id = %v, want a ProductNotFoundError", err)
	}
}

// Pages follow the ids' byte order (upper case before lower case), visit
// every product once, and end with an empty page.
func testListPages(t *testing.T, open Open) {
	st := open(t, 1)[0]
	ctx := context.Background()
	for _, id := range []string{"zz_b", "zz_B", "zz_a", "zz_A", "zz_0", "zz__"} {
		create(t, st, id, 100, 1)
	}
	var all []string
	after := ""
	for {
		page, err := st.List(ctx, after, 4)
		if err != nil {
			t.Fatal(err)
		}
		if len(page) > 4 {
			t.Fatalf("page of %d products with limit 4", len(page))
		}
		if len(page) == 0 {
			break
		}
		for _, p := range page {
			all = append(all, p.ID)
		}
		after = page[len(page)-1].ID
	}
	if !slices.IsSorted(all) || len(slices.Compact(slices.Clone(all))) != len(all) {
		t.Fatalf("ids not in strictly increasing byte order: %v", all)
	}
	if n := len(catalog.SeedProducts) + 6; len(all) != n {
		t.Fatalf("listed %d products, want %d", len(all), n)
	}
	tail := all[len(all)-6:]
	if want := []string{"zz_0", "zz_A", "zz_B", "zz__", "zz_a", "zz_b"}; !slices.Equal(tail, want) {
		t.Fatalf("last ids %v, want %v", tail, want)
	}
}

func testReserveAndRelease(t *testing.T, open Open) {
	st := open(t, 1)[0]
	ctx := context.Background()
	create(t, st, "t_a", 300, 10)
	create(t, st, "t_b", 500, 4)
	items := []catalog.Item{{ProductID: "t_b", Quantity: 4}, {ProductID: "t_a", Quantity: 3}}
	r, err := st.Reserve(ctx, "ord_1", items, t0)
	wantItems := []catalog.ReservedItem{{ProductID: "t_a", Quantity: 3, PriceCents: 300}, {ProductID: "t_b", Quantity: 4, PriceCents: 500}}
	if err != nil || r.OrderID != "ord_1" || r.Replayed || !slices.Equal(sorted(r.Items), wantItems) {
		t.Fatalf("Reserve = %+v, %v", r, err)
	}
	if a, b := stock(t, st, "t_a"), stock(t, st, "t_b"); a != 7 || b != 0 {
		t.Fatalf("stock after reserving = %d, %d; want 7, 0", a, b)
	}
	// A price change after the reservation does not change what it holds.
	newPrice := int64(999)
	if _, err := st.Update(ctx, "t_a", catalog.Patch{PriceCents: &newPrice}, t0); err != nil {
		t.Fatal(err)
	}
	again, err := st.Reserve(ctx, "ord_1", []catalog.Item{{ProductID: "t_a", Quantity: 1}}, t0)
	if err != nil || !again.Replayed || !slices.Equal(sorted(again.Items), wantItems) {
		t.Fatalf("Reserve again = %+v, %v; want the first reservation, replayed", again, err)
	}
	if a := stock(t, st, "t_a"); a != 7 {
		t.Fatalf("a replayed reservation took stock: %d left, want 7", a)
	}
	for range 2 { // releasing twice returns the stock once
		if err := st.Release(ctx, "ord_1", t0); err != nil {
			t.Fatal(err)
		}
		if a, b := stock(t, st, "t_a"), stock(t, st, "t_b"); a != 10 || b != 4 {
			t.Fatalf("stock after release = %d, %d; want 10, 4", a, b)
		}
	}
	if _, err := st.Reserve(ctx, "ord_1", items, t0); !errors.Is(err, catalog.ErrReservationReleased) {
		t.Fatalf("Reserve after release = %v, want ErrReservationReleased", err)
	}
}

func testAllOrNothing(t *testing.T, open Open) {
	st := open(t, 1)[0]
	ctx := context.Background()
	create(t, st, "t_a", 100, 5)
	create(t, st, "t_b", 100, 1)
	var oos *catalog.OutOfStockError
	_, err := st.Reserve(ctx, "ord_1", []catalog.Item{{ProductID: "t_a", Quantity: 5}, {ProductID: "t_b", Quantity: 2}}, t0)
	if !errors.As(err, &oos) || oos.ProductID != "t_b" {
		t.Fatalf("Reserve beyond stock = %v, want OutOfStockError for t_b", err)
	}
	var nf *catalog.ProductNotFoundError
	_, err = st.Reserve(ctx, "ord_2", []catalog.Item{{ProductID: "t_a", Quantity: 1}, {ProductID: "t_nope", Quantity: 1}}, t0)
	if !errors.As(err, &nf) || nf.ID != "t_nope" {
		t.Fatalf("Reserve of an unknown product = %v, want ProductNotFoundError", err)
	}
	if a, b := stock(t, st, "t_a"), stock(t, st, "t_b"); a != 5 || b != 1 {
		t.Fatalf("refused reservations took stock: %d, %d left; want 5, 1", a, b)
	}
	// A refused reservation leaves nothing behind: the order id is free.
	r, err := st.Reserve(ctx, "ord_1", []catalog.Item{{ProductID: "t_a", Quantity: 5}}, t0)
	if err != nil || r.Replayed || len(r.Items) != 1 {
		t.Fatalf("Reserve after a refusal = %+v, %v", r, err)
	}
}

// Releasing an order id that never reserved leaves a marker: the late
// reservation is refused and takes nothing.
func testReleaseBeforeReserve(t *testing.T, open Open) {
	st := open(t, 1)[0]
	ctx := context.Background()
	create(t, st, "t_a", 100, 5)
	if err := st.Release(ctx, "ord_late", t0); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Reserve(ctx, "ord_late", []catalog.Item{{ProductID: "t_a", Quantity: 1}}, t0); !errors.Is(err, catalog.ErrReservationReleased) {
		t.Fatalf("Reserve after a release = %v, want ErrReservationReleased", err)
	}
	if a := stock(t, st, "t_a"); a != 5 {
		t.Fatalf("stock %d, want 5", a)
	}
}

// Many single-unit reservations of one product over two replicas: exactly
// the stock is sold, never more.
func testNoOversell(t *testing.T, open Open) {
	stores := open(t, 2)
	create(t, stores[0], "t_hot", 100, 10)
	const n = 40
	var (
		wg       sync.WaitGroup
		reserved atomic.Int32
	)
	for i := range n {
		wg.Go(func() {
			_, err := stores[i%2].Reserve(context.Background(), fmt.Sprint("ord_", i),
				[]catalog.Item{{ProductID: "t_hot", Quantity: 1}}, t0)
			var oos *catalog.OutOfStockError
			switch {
			case err == nil:
				reserved.Add(1)
			case !errors.As(err, &oos):
				t.Errorf("Reserve: %v", err)
			}
		})
	}
	wg.Wait()
	if reserved.Load() != 10 {
		t.Fatalf("%d reservations of 1 succeeded on a stock of 10, want exactly 10", reserved.Load())
	}
	if s := stock(t, stores[1], "t_hot"); s != 0 {
		t.Fatalf("stock %d after selling out, want 0", s)
	}
}

// Reservations naming the same products in opposite orders, with releases
// mixed in, over two replicas: none fails for any reason but stock, and the
// stock taken equals the items of the reservations still held.
func testOverlapping(t *testing.T, open Open) {
	stores := open(t, 2)
	const start = 30
	for _, id := range []string{"t_a", "t_b", "t_c"} {
		create(t, stores[0], id, 100, start)
	}
	const n = 60
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		held = map[string][]catalog.ReservedItem{}
	)
	for i := range n {
		wg.Go(func() {
			ctx := context.Background()
			st := stores[i%2]
			items := []catalog.Item{{ProductID: "t_a", Quantity: 1}, {ProductID: "t_b", Quantity: 2}, {ProductID: "t_c", Quantity: 1}}
			if i%2 == 1 {
				slices.Reverse(items)
			}
			id := fmt.Sprint("ord_", i)
			r, err := st.Reserve(ctx, id, items, t0)
			var oos *catalog.OutOfStockError
			if errors.As(err, &oos) {
				return
			}
			if err != nil {
				t.Errorf("Reserve: %v", err)
				return
			}
			if i%3 == 0 { // some are cancelled at once
				if err := stores[(i+1)%2].Release(ctx, id, t0); err != nil {
					t.Errorf("Release: %v", err)
				}
				return
			}
			mu.Lock()
			held[id] = r.Items
			mu.Unlock()
		})
	}
	wg.Wait()
	taken := map[string]int64{}
	for _, items := range held {
		for _, it := range items {
			taken[it.ProductID] += it.Quantity
		}
	}
	for _, id := range []string{"t_a", "t_b", "t_c"} {
		if s := stock(t, stores[1], id); s < 0 || start-s != taken[id] {
			t.Errorf("%s: stock %d, so %d taken; the held reservations have %d", id, s, start-s, taken[id])
		}
	}
	if len(held) == 0 {
		t.Fatal("no reservation held: the test checked nothing")
	}
}

// One order id reserved at once on both replicas, many times: stock is
// taken once, and every call returns that reservation.
func testOnePerOrder(t *testing.T, open Open) {
	stores := open(t, 2)
	create(t, stores[0], "t_a", 100, 1000)
	const orders, tries = 10, 6
	var wg sync.WaitGroup
	results := make([][]catalog.Reservation, orders)
	for o := range orders {
		results[o] = make([]catalog.Reservation, tries)
		for i := range tries {
			wg.Go(func() {
				r, err := stores[i%2].Reserve(context.Background(), fmt.Sprint("ord_", o),
					[]catalog.Item{{ProductID: "t_a", Quantity: 3}}, t0)
				if err != nil {
					t.Errorf("Reserve: %v", err)
				}
				results[o][i] = r
			})
		}
	}
	wg.Wait()
	for o, rs := range results {
		fresh := 0
		for _, r := range rs {
			if !r.Replayed {
				fresh++
			}
			if len(r.Items) != 1 || r.Items[0].Quantity != 3 {
				t.Errorf("order %d: reservation %+v", o, r)
			}
		}
		if fresh != 1 {
			t.Errorf("order %d: %d of %d calls made a reservation, want exactly 1", o, fresh, tries)
		}
	}
	if s := stock(t, stores[1], "t_a"); s != 1000-3*orders {
		t.Fatalf("stock %d, want %d: one reservation per order", s, 1000-3*orders)
	}
}

// A reservation and a release of the same order id, sent at once to the two
// replicas (a compensation racing a retry): whichever wins, once both have
// answered the order id is released for good and the stock is whole.
func testReserveRacesRelease(t *testing.T, open Open) {
	stores := open(t, 2)
	create(t, stores[0], "t_a", 100, 500)
	const n = 50
	var wg sync.WaitGroup
	for i := range n {
		id := fmt.Sprint("ord_", i)
		wg.Go(func() {
			_, err := stores[i%2].Reserve(context.Background(), id, []catalog.Item{{ProductID: "t_a", Quantity: 2}}, t0)
			if err != nil && !errors.Is(err, catalog.ErrReservationReleased) {
				t.Errorf("Reserve: %v", err)
			}
		})
		wg.Go(func() {
			if err := stores[(i+1)%2].Release(context.Background(), id, t0); err != nil {
				t.Errorf("Release: %v", err)
			}
		})
	}
	wg.Wait()
	if s := stock(t, stores[0], "t_a"); s != 500 {
		t.Errorf("stock %d once every order id was released, want 500", s)
	}
	for i := range n {
		_, err := stores[i%2].Reserve(context.Background(), fmt.Sprint("ord_", i), []catalog.Item{{ProductID: "t_a", Quantity: 2}}, t0)
		if !errors.Is(err, catalog.ErrReservationReleased) {
			t.Errorf("ord_%d: Reserve after its release answered = %v, want ErrReservationReleased", i, err)
		}
	}
}
