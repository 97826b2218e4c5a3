package orders_test

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/switchyard/switchyard/examples/ecommerce/internal/pg"
	"github.com/switchyard/switchyard/examples/ecommerce/internal/pg/pgtest"
	"github.com/switchyard/switchyard/examples/ecommerce/internal/sqlite"
	"github.com/switchyard/switchyard/examples/ecommerce/orders"
	"github.com/switchyard/switchyard/examples/ecommerce/orders/orderstest"
)

func claimReq(user, key, hash, orderID string, now time.Time) orders.ClaimRequest {
	return orders.ClaimRequest{UserID: user, Key: key, RequestHash: hash, OrderID: orderID, Now: now, LeaseUntil: now.Add(orders.DefaultLease)}
}

func TestSQLiteStoreConformance(t *testing.T) {
	orderstest.Run(t, func(t *testing.T, n int) []orders.Store {
		path := filepath.Join(t.TempDir(), "data", orders.DBFile)
		var out []orders.Store
		for range n {
			db, err := sqlite.Open(context.Background(), path, orders.Migrations...)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { db.Close() })
			out = append(out, orders.NewSQLiteStore(db))
		}
		return out
	})
}

func TestPostgresStoreConformance(t *testing.T) {
	pgtest.Server(t)
	orderstest.Run(t, func(t *testing.T, n int) []orders.Store {
		url := pgtest.NewDatabase(t)
		var out []orders.Store
		for range n {
			pool, err := pg.Open(context.Background(), url, orders.Schema, orders.PostgresMigrations)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(pool.Close)
			out = append(out, orders.NewPostgresStore(pool))
		}
		return out
	})
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
