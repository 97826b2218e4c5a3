package catalog_test

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/switchyard/switchyard/examples/ecommerce/catalog"
	"github.com/switchyard/switchyard/examples/ecommerce/internal/authn"
	"github.com/switchyard/switchyard/examples/ecommerce/internal/sqlite"
	"github.com/switchyard/switchyard/middleware/auth"
)

type fixture struct {
	path string
	db   *sqlite.DB
	svc  catalog.Service
}

func newFixture(t testing.TB) *fixture {
	t.Helper()
	path := filepath.Join(t.TempDir(), catalog.DBFile)
	return &fixture{path: path, db: openDB(t, path), svc: catalog.NewService(catalog.NewSQLiteStore(openDB(t, path)))}
}

func openDB(t testing.TB, path string) *sqlite.DB {
	t.Helper()
	db, err := sqlite.Open(context.Background(), path, catalog.Migrations...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// asRole returns a context carrying the claims of a validated token with
// role, as the auth middleware leaves them.
func asRole(role string) context.Context {
	return auth.NewClaimsContext(context.Background(), &auth.Claims{
		Subject: "usr_" + role, Raw: map[string]any{"sub": "usr_" + role, "role": role},
	})
}

var (
	admin = asRole(authn.RoleAdmin)
	user  = asRole(authn.RoleUser)
)

func ptr[T any](v T) *T { return &v }

// product creates a product with stock and price 100 and returns its id.
func (f *fixture) product(t testing.TB, name string, stock int64) string {
	t.Helper()
	p, err := f.svc.Create(admin, catalog.NewProduct{Name: name, PriceCents: ptr[int64](100), Stock: &stock})
	if err != nil {
		t.Fatal(err)
	}
	return p.ID
}

func (f *fixture) stock(t testing.TB, id string) int64 {
	t.Helper()
	p, err := f.svc.Product(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	return p.Stock
}

// reserved sums the quantities held by unreleased reservations of product id.
func (f *fixture) reserved(t testing.TB, id string) int64 {
	t.Helper()
	var n int64
	err := f.db.QueryRow(`SELECT COALESCE(SUM(ri.quantity), 0) FROM reservation_items ri
		JOIN reservations r ON r.order_id = ri.order_id
		WHERE ri.product_id = ? AND r.released_at IS NULL`, id).Scan(&n)
	if err != nil {
		t.Fatal(err)
	}
	return n
}
