package orders_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/switchyard/switchyard/examples/ecommerce/internal/sqlite"
	"github.com/switchyard/switchyard/examples/ecommerce/orders"
	"github.com/switchyard/switchyard/internal/clock"
)

// t0 is the fake clock's start in every test.
var t0 = time.Date(2031, 5, 6, 7, 8, 9, 0, time.UTC)

// openStore opens a fresh SQLite orders database in a temporary directory.
func openStore(t testing.TB) (*orders.SQLiteStore, *sqlite.DB) {
	t.Helper()
	db, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "orders.db"), orders.Migrations...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return orders.NewSQLiteStore(db), db
}

// fakeUsers knows a fixed set of users; err, when set, is returned for
// everybody.
type fakeUsers struct {
	mu    sync.Mutex
	known map[string]bool
	err   error
	calls int
}

func newFakeUsers(ids ...string) *fakeUsers {
	u := &fakeUsers{known: map[string]bool{}}
	for _, id := range ids {
		u.known[id] = true
	}
	return u
}

func (u *fakeUsers) Get(_ context.Context, id string) (orders.User, error) {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.calls++
	if u.err != nil {
		return orders.User{}, u.err
	}
	if !u.known[id] {
		return orders.User{}, fmt.Errorf("fake users: %w", orders.ErrUserNotFound)
	}
	return orders.User{ID: id, Role: "user"}, nil
}

func (u *fakeUsers) setErr(err error) {
	u.mu.Lock()
	u.err = err
	u.mu.Unlock()
}

// fakeCatalog keeps stock and reservations the way the catalog contract
// says: a reservation is all or nothing and idempotent per order id while
// it is held; a release returns the stock once. A reservation released and
// then asked for again takes stock again (the least forgiving reading of
// the contract, so that the tests catch a reused order id).
type fakeCatalog struct {
	mu       sync.Mutex // guards everything below
	price    map[string]int64
	stock    map[string]int
	held     map[string][]orders.Line // order id → reservation
	reserves []string                 // order ids, one per Reserve call
	releases []string                 // order ids, one per Release call
	// beforeReserve, when set, runs (without the lock) at the start of
	// every Reserve; an error it returns is Reserve's.
	beforeReserve func(ctx context.Context, orderID string) error
	// afterReserve, when set, runs (without the lock) after a successful
	// reservation; an error it returns replaces the answer (the stock
	// stays reserved, as when an answer is lost on the way).
	afterReserve func(orderID string) error
	releaseErr   error
}

func newFakeCatalog() *fakeCatalog {
	return &fakeCatalog{
		price: map[string]int64{"prd_apple": 125, "prd_pear": 990, "prd_plum": 5},
		stock: map[string]int{"prd_apple": 100, "prd_pear": 10, "prd_plum": 3},
		held:  map[string][]orders.Line{},
	}
}

func (c *fakeCatalog) Reserve(ctx context.Context, orderID string, items []orders.Item) ([]orders.Line, error) {
	c.mu.Lock()
	c.reserves = append(c.reserves, orderID)
	hook := c.beforeReserve
	c.mu.Unlock()
	if hook != nil {
		if err := hook(ctx, orderID); err != nil {
			return nil, err
		}
	}
	lines, err := c.reserve(orderID, items)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	after := c.afterReserve
	c.mu.Unlock()
	if after != nil {
		if err := after(orderID); err != nil {
			return nil, err
		}
	}
	return lines, nil
}

func (c *fakeCatalog) reserve(orderID string, items []orders.Item) ([]orders.Line, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if l, ok := c.held[orderID]; ok {
		return slices.Clone(l), nil
	}
	for _, it := range items {
		if _, ok := c.price[it.ProductID]; !ok {
			return nil, fmt.Errorf("fake catalog: %q: %w", it.ProductID, orders.ErrProductNotFound)
		}
		if c.stock[it.ProductID] < it.Quantity {
			return nil, fmt.Errorf("fake catalog: %q: %w", it.ProductID, orders.ErrOutOfStock)
		}
	}
	var lines []orders.Line
	for _, it := range items {
		c.stock[it.ProductID] -= it.Quantity
		lines = append(lines, orders.Line{ProductID: it.ProductID, Quantity: it.Quantity, PriceCents: c.price[it.ProductID]})
	}
	c.held[orderID] = lines
	return slices.Clone(lines), nil
}

func (c *fakeCatalog) Release(_ context.Context, orderID string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.releases = append(c.releases, orderID)
	if c.releaseErr != nil {
		return c.releaseErr
	}
	for _, l := range c.held[orderID] {
		c.stock[l.ProductID] += l.Quantity
	}
	delete(c.held, orderID)
	return nil
}

func (c *fakeCatalog) setReleaseErr(err error) {
	c.mu.Lock()
	c.releaseErr = err
	c.mu.Unlock()
}

func (c *fakeCatalog) counts() (reserves, releases []string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.reserves), slices.Clone(c.releases)
}

func (c *fakeCatalog) stockOf(id string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.stock[id]
}

// heldOrders returns the order ids holding stock, sorted.
func (c *fakeCatalog) heldOrders() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var ids []string
	for id := range c.held {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return ids
}

// checkConsistent fails t unless the catalog holds stock exactly for the
// confirmed orders in st of the given users, with the same items.
func checkConsistent(t *testing.T, st orders.Store, cat *fakeCatalog, users ...string) {
	t.Helper()
	var confirmed []string
	for _, u := range users {
		list, err := st.Orders(context.Background(), u, nil, 10000)
		if err != nil {
			t.Fatal(err)
		}
		for _, o := range list {
			if o.Status != orders.StatusConfirmed {
				continue
			}
			confirmed = append(confirmed, o.ID)
			cat.mu.Lock()
			held := slices.Clone(cat.held[o.ID])
			cat.mu.Unlock()
			if !slices.Equal(held, o.Items) {
				t.Errorf("order %s: catalog holds %v, order has %v", o.ID, held, o.Items)
			}
		}
	}
	slices.Sort(confirmed)
	if got := cat.heldOrders(); !slices.Equal(got, confirmed) {
		t.Errorf("catalog holds stock for %v; confirmed orders are %v", got, confirmed)
	}
}

// failingStore fails Complete with errStore while failComplete is set.
type failingStore struct {
	orders.Store
	mu           sync.Mutex
	failComplete bool
}

var errStore = errors.New("test: store failure")

func (s *failingStore) Complete(ctx context.Context, t orders.Ticket, a orders.Answer, now time.Time) error {
	s.mu.Lock()
	fail := s.failComplete
	s.mu.Unlock()
	if fail {
		return errStore
	}
	return s.Store.Complete(ctx, t, a, now)
}

// sequentialIDs returns an order id generator: ord_1, ord_2, …
func sequentialIDs() func() string {
	var mu sync.Mutex
	n := 0
	return func() string {
		mu.Lock()
		defer mu.Unlock()
		n++
		return fmt.Sprintf("ord_%d", n)
	}
}

// env is a service on a temp-dir store with fake users and catalog and a
// fake clock.
type env struct {
	store   orders.Store
	sql     *orders.SQLiteStore
	users   *fakeUsers
	catalog *fakeCatalog
	clock   *clock.Fake
	svc     orders.Service
	opts    []orders.Option
}

func newEnv(t testing.TB, wrap func(orders.Store) orders.Store, opts ...orders.Option) *env {
	t.Helper()
	st, _ := openStore(t)
	e := &env{sql: st, store: st, users: newFakeUsers("usr_a", "usr_b"), catalog: newFakeCatalog(), clock: clock.NewFake(t0)}
	if wrap != nil {
		e.store = wrap(st)
	}
	e.opts = append([]orders.Option{orders.WithClock(e.clock), orders.WithOrderIDs(sequentialIDs()),
		orders.WithLogger(discardLogger())}, opts...)
	e.svc = orders.NewService(e.store, e.users, e.catalog, e.opts...)
	return e
}

func discardLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }
