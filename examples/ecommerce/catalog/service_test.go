package catalog_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/switchyard/switchyard/examples/ecommerce/catalog"
)

func TestSeed(t *testing.T) {
	f := newFixture(t)
	page, err := f.svc.List(context.Background(), catalog.MaxLimit, "")
	if err != nil {
		t.Fatal(err)
	}
	if len(page.Products) != len(catalog.SeedProducts) || len(catalog.SeedProducts) < 20 || page.NextCursor != "" {
		t.Fatalf("seeded %d products (cursor %q), want all %d (≥ 20)", len(page.Products), page.NextCursor, len(catalog.SeedProducts))
	}
	for _, p := range page.Products {
		if p.Name == "" || p.Description == "" || p.PriceCents <= 0 || p.Stock <= 0 || !strings.HasPrefix(p.ID, "prd_") {
			t.Errorf("seed product %+v", p)
		}
	}
	// Reopening does not seed again.
	openDB(t, f.path)
	if page, _ := f.svc.List(context.Background(), catalog.MaxLimit, ""); len(page.Products) != len(catalog.SeedProducts) {
		t.Fatalf("%d products after a reopen", len(page.Products))
	}
}

// Two replicas starting together on an empty database seed it once.
func TestSeedOnceConcurrently(t *testing.T) {
	for round := range 4 {
		path := fmt.Sprintf("%s/%d-%s", t.TempDir(), round, catalog.DBFile)
		var wg sync.WaitGroup
		for range 2 {
			wg.Go(func() { openDB(t, path) })
		}
		wg.Wait()
		var n int
		if err := openDB(t, path).QueryRow(`SELECT COUNT(*) FROM products`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n != len(catalog.SeedProducts) {
			t.Fatalf("round %d: %d products, want %d", round, n, len(catalog.SeedProducts))
		}
	}
}

func TestListPagination(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	for i := range 60 { // 24 seeded + 60 = 84
		f.product(t, fmt.Sprintf("extra %d", i), 1)
	}
	total := len(catalog.SeedProducts) + 60

	first, err := f.svc.List(ctx, 0, "")
	if err != nil || len(first.Products) != catalog.DefaultLimit || first.NextCursor == "" {
		t.Fatalf("default limit: %d products, cursor %q, %v", len(first.Products), first.NextCursor, err)
	}

	for _, limit := range []int{1, 7, 50, 83, 84, 200} {
		t.Run(fmt.Sprint("limit ", limit), func(t *testing.T) {
			var ids []string
			cursor, pages := "", 0
			for {
				p, err := f.svc.List(ctx, limit, cursor)
				if err != nil {
					t.Fatal(err)
				}
				pages++
				if len(p.Products) > limit {
					t.Fatalf("page of %d > limit", len(p.Products))
				}
				for _, pr := range p.Products {
					ids = append(ids, pr.ID)
				}
				if p.NextCursor == "" {
					break
				}
				cursor = p.NextCursor
			}
			if len(ids) != total || !slices.IsSorted(ids) || len(slices.Compact(slices.Clone(ids))) != total {
				t.Fatalf("%d ids over %d pages, sorted %v; want %d distinct sorted ids", len(ids), pages, slices.IsSorted(ids), total)
			}
			if want := (total + limit - 1) / limit; pages != want {
				t.Fatalf("%d pages, want %d", pages, want)
			}
		})
	}

	for name, args := range map[string]struct {
		limit  int
		cursor string
		field  string
	}{
		"negative limit":   {-1, "", "limit"},
		"limit above max":  {201, "", "limit"},
		"cursor not b64":   {10, "!!!", "cursor"},
		"cursor padded":    {10, catalog.EncodeCursor("prd_a") + "=", "cursor"},
		"cursor empty id":  {10, "=", "cursor"},
		"cursor too long":  {10, strings.Repeat("A", 300), "cursor"},
		"cursor std alpha": {10, "a+b/", "cursor"},
	} {
		_, err := f.svc.List(ctx, args.limit, args.cursor)
		var inv *catalog.InvalidError
		if !errors.As(err, &inv) || inv.Field != args.field {
			t.Errorf("%s: err = %v, want an InvalidError on %s", name, err, args.field)
		}
	}
}

func TestCreateAndUpdate(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()

	for name, c := range map[string]context.Context{"no token": ctx, "user": user} {
		if _, err := f.svc.Create(c, catalog.NewProduct{Name: "x", PriceCents: ptr[int64](1)}); !errors.Is(err, catalog.ErrForbidden) {
			t.Errorf("create as %s: %v, want ErrForbidden", name, err)
		}
		if _, err := f.svc.Update(c, "prd_x", catalog.Patch{Name: ptr("y")}); !errors.Is(err, catalog.ErrForbidden) {
			t.Errorf("update as %s: %v, want ErrForbidden", name, err)
		}
	}

	long := func(n int) string { return strings.Repeat("é", n) }
	tests := []struct {
		name  string
		p     catalog.NewProduct
		field string
	}{
		{"minimal", catalog.NewProduct{Name: "Mug", PriceCents: ptr[int64](0)}, ""},
		{"full", catalog.NewProduct{Name: long(200), Description: long(2000), PriceCents: ptr[int64](1e12 - 1), Stock: ptr[int64](1e9)}, ""},
		{"no price", catalog.NewProduct{Name: "Mug"}, "price_cents"},
		{"negative price", catalog.NewProduct{Name: "Mug", PriceCents: ptr[int64](-1)}, "price_cents"},
		{"price 10^12", catalog.NewProduct{Name: "Mug", PriceCents: ptr[int64](1e12)}, "price_cents"},
		{"no name", catalog.NewProduct{Name: "  ", PriceCents: ptr[int64](1)}, "name"},
		{"long name", catalog.NewProduct{Name: long(201), PriceCents: ptr[int64](1)}, "name"},
		{"control in name", catalog.NewProduct{Name: "a\nb", PriceCents: ptr[int64](1)}, "name"},
		{"long description", catalog.NewProduct{Name: "Mug", Description: long(2001), PriceCents: ptr[int64](1)}, "description"},
		{"negative stock", catalog.NewProduct{Name: "Mug", PriceCents: ptr[int64](1), Stock: ptr[int64](-1)}, "stock"},
		{"stock above 10^9", catalog.NewProduct{Name: "Mug", PriceCents: ptr[int64](1), Stock: ptr[int64](1e9 + 1)}, "stock"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := f.svc.Create(admin, tt.p)
			if tt.field == "" {
				if err != nil {
					t.Fatal(err)
				}
				got, err := f.svc.Product(ctx, p.ID)
				if err != nil || got != p {
					t.Fatalf("stored %+v, %v; created %+v", got, err, p)
				}
				return
			}
			var inv *catalog.InvalidError
			if !errors.As(err, &inv) || inv.Field != tt.field {
				t.Fatalf("err = %v, want an InvalidError on %s", err, tt.field)
			}
		})
	}

	id := f.product(t, "Kettle", 5)
	p, err := f.svc.Update(admin, id, catalog.Patch{PriceCents: ptr[int64](250), Description: ptr("Boils water.")})
	if err != nil || p.Name != "Kettle" || p.PriceCents != 250 || p.Description != "Boils water." || p.Stock != 5 {
		t.Fatalf("partial update: %+v, %v", p, err)
	}
	if p, err := f.svc.Update(admin, id, catalog.Patch{Name: ptr("  Steel kettle "), Stock: ptr[int64](0)}); err != nil ||
		p.Name != "Steel kettle" || p.PriceCents != 250 || p.Stock != 0 {
		t.Fatalf("second update: %+v, %v", p, err)
	}
	var nf *catalog.ProductNotFoundError
	if _, err := f.svc.Update(admin, "prd_nope", catalog.Patch{Stock: ptr[int64](1)}); !errors.As(err, &nf) {
		t.Fatalf("unknown id: %v", err)
	}
	var inv *catalog.InvalidError
	for name, patch := range map[string]catalog.Patch{
		"empty":       {},
		"bad name":    {Name: ptr("")},
		"bad price":   {PriceCents: ptr[int64](-5)},
		"bad stock":   {Stock: ptr[int64](-5)},
		"description": {Description: ptr(long(2001))},
	} {
		if _, err := f.svc.Update(admin, id, patch); !errors.As(err, &inv) {
			t.Errorf("%s: %v, want InvalidError", name, err)
		}
	}
	if _, err := f.svc.Product(ctx, "prd_nope"); !errors.As(err, &nf) || nf.ID != "prd_nope" {
		t.Fatalf("get unknown: %v", err)
	}
}

func TestReserveAllOrNothing(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	a, b := f.product(t, "A", 10), f.product(t, "B", 3)

	var oos *catalog.OutOfStockError
	_, err := f.svc.Reserve(ctx, "ord_1", []catalog.Item{{a, 5}, {b, 4}})
	if !errors.As(err, &oos) || oos.ProductID != b {
		t.Fatalf("err = %v, want OutOfStock on %s", err, b)
	}
	var nf *catalog.ProductNotFoundError
	_, err = f.svc.Reserve(ctx, "ord_1", []catalog.Item{{a, 5}, {"prd_zzz", 1}})
	if !errors.As(err, &nf) || nf.ID != "prd_zzz" {
		t.Fatalf("err = %v, want ProductNotFound prd_zzz", err)
	}
	if f.stock(t, a) != 10 || f.stock(t, b) != 3 || f.reserved(t, a) != 0 {
		t.Fatalf("a failed reservation changed stock: a %d, b %d", f.stock(t, a), f.stock(t, b))
	}

	// The failed attempts left no reservation: the same order id may reserve.
	r, err := f.svc.Reserve(ctx, "ord_1", []catalog.Item{{a, 2}, {b, 3}, {a, 3}})
	if err != nil {
		t.Fatal(err)
	}
	want := []catalog.ReservedItem{{ProductID: a, Quantity: 5, PriceCents: 100}, {ProductID: b, Quantity: 3, PriceCents: 100}}
	slices.SortFunc(want, func(x, y catalog.ReservedItem) int { return strings.Compare(x.ProductID, y.ProductID) })
	if r.OrderID != "ord_1" || !slices.Equal(r.Items, want) || r.Replayed {
		t.Fatalf("reservation %+v, want items %+v (duplicates merged)", r, want)
	}
	if f.stock(t, a) != 5 || f.stock(t, b) != 0 || f.reserved(t, a) != 5 || f.reserved(t, b) != 3 {
		t.Fatalf("stock a %d b %d", f.stock(t, a), f.stock(t, b))
	}
}

func TestReserveIdempotent(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	a := f.product(t, "A", 10)
	first, err := f.svc.Reserve(ctx, "ord_1", []catalog.Item{{a, 4}})
	if err != nil {
		t.Fatal(err)
	}
	// A price change after the reservation does not change it, and
	// neither does a retry with other items.
	if _, err := f.svc.Update(admin, a, catalog.Patch{PriceCents: ptr[int64](999)}); err != nil {
		t.Fatal(err)
	}
	for _, items := range [][]catalog.Item{{{a, 4}}, {{a, 1}}} {
		again, err := f.svc.Reserve(ctx, "ord_1", items)
		if err != nil || !again.Replayed || !slices.Equal(again.Items, first.Items) {
			t.Fatalf("replay: %+v, %v; want %+v", again, err, first)
		}
	}
	if f.stock(t, a) != 6 {
		t.Fatalf("stock %d after a reservation and two replays, want 6", f.stock(t, a))
	}
}

func TestReserveValidation(t *testing.T) {
	f := newFixture(t)
	a := f.product(t, "A", 10)
	many := make([]catalog.Item, catalog.MaxItems+1)
	for i := range many {
		many[i] = catalog.Item{ProductID: fmt.Sprint("prd_", i), Quantity: 1}
	}
	for name, args := range map[string]struct {
		order string
		items []catalog.Item
		field string
	}{
		"no order id":     {"", []catalog.Item{{a, 1}}, "order_id"},
		"space":           {"ord 1", []catalog.Item{{a, 1}}, "order_id"},
		"long order id":   {strings.Repeat("o", 101), []catalog.Item{{a, 1}}, "order_id"},
		"no items":        {"o", nil, "items"},
		"too many items":  {"o", many, "items"},
		"zero quantity":   {"o", []catalog.Item{{a, 0}}, "quantity"},
		"quantity > 1000": {"o", []catalog.Item{{a, 1001}}, "quantity"},
		"no product":      {"o", []catalog.Item{{"", 1}}, "product_id"},
	} {
		_, err := f.svc.Reserve(context.Background(), args.order, args.items)
		var inv *catalog.InvalidError
		if !errors.As(err, &inv) || inv.Field != args.field {
			t.Errorf("%s: %v, want InvalidError on %s", name, err, args.field)
		}
	}
	if f.stock(t, a) != 10 {
		t.Fatal("an invalid reservation took stock")
	}
}

// 200 concurrent reservations of one unit each against stock 50, through
// two database handles (two replicas): exactly 50 succeed.
func TestReserveConcurrentNeverOversells(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	id := f.product(t, "Hot item", 50)
	replica2 := catalog.NewService(catalog.NewSQLiteStore(openDB(t, f.path)))

	var ok, oos atomic.Int32
	var wg sync.WaitGroup
	for i := range 200 {
		svc := f.svc
		if i%2 == 1 {
			svc = replica2
		}
		wg.Go(func() {
			_, err := svc.Reserve(ctx, fmt.Sprint("ord_", i), []catalog.Item{{id, 1}})
			var e *catalog.OutOfStockError
			switch {
			case err == nil:
				ok.Add(1)
			case errors.As(err, &e):
				oos.Add(1)
			default:
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if ok.Load() != 50 || oos.Load() != 150 || f.stock(t, id) != 0 || f.reserved(t, id) != 50 {
		t.Fatalf("%d reserved, %d out of stock, stock %d, held %d; want 50, 150, 0, 50",
			ok.Load(), oos.Load(), f.stock(t, id), f.reserved(t, id))
	}
}

func TestRelease(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	a, b := f.product(t, "A", 10), f.product(t, "B", 10)
	if _, err := f.svc.Reserve(ctx, "ord_1", []catalog.Item{{a, 4}, {b, 1}}); err != nil {
		t.Fatal(err)
	}
	// Concurrent releases, from two replicas, return the stock once.
	replica2 := catalog.NewService(catalog.NewSQLiteStore(openDB(t, f.path)))
	var wg sync.WaitGroup
	for i := range 10 {
		svc := f.svc
		if i%2 == 1 {
			svc = replica2
		}
		wg.Go(func() {
			if err := svc.Release(ctx, "ord_1"); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if f.stock(t, a) != 10 || f.stock(t, b) != 10 || f.reserved(t, a) != 0 {
		t.Fatalf("after release: a %d, b %d", f.stock(t, a), f.stock(t, b))
	}
	// A released order id cannot reserve again.
	if _, err := f.svc.Reserve(ctx, "ord_1", []catalog.Item{{a, 1}}); !errors.Is(err, catalog.ErrReservationReleased) {
		t.Fatalf("reserve after release: %v", err)
	}
	// Releasing an order id that never reserved blocks a late reservation.
	if err := f.svc.Release(ctx, "ord_2"); err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.Reserve(ctx, "ord_2", []catalog.Item{{a, 1}}); !errors.Is(err, catalog.ErrReservationReleased) {
		t.Fatalf("late reserve: %v", err)
	}
	if f.stock(t, a) != 10 {
		t.Fatalf("stock %d, want 10", f.stock(t, a))
	}
	if err := f.svc.Release(ctx, ""); err == nil {
		t.Fatal("empty order id accepted")
	}
}

func TestMergeItems(t *testing.T) {
	got, err := catalog.MergeItems([]catalog.Item{{"b", 1}, {"a", 2}, {"b", 1000}, {"a", 1}})
	if want := []catalog.Item{{"a", 3}, {"b", 1001}}; err != nil || !slices.Equal(got, want) {
		t.Fatalf("MergeItems = %v, %v; want %v", got, err, want)
	}
}
