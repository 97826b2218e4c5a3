package e2e_test

import (
	"context"
	"database/sql"
	"fmt"
	"maps"
	"path/filepath"
	"slices"
	"testing"
	"time"

	_ "modernc.org/sqlite" // read the shop's databases for the invariant
)

// lines maps an order id to the quantity of each of its products.
type lines map[string]map[string]int64

func (l lines) add(orderID, productID string, q int64) {
	if l[orderID] == nil {
		l[orderID] = map[string]int64{}
	}
	l[orderID][productID] += q
}

// diff describes how got differs from want, or returns "".
func (l lines) diff(other lines, name, otherName string) string {
	var out string
	ids := slices.Sorted(maps.Keys(l))
	for _, id := range slices.Sorted(maps.Keys(other)) {
		if _, ok := l[id]; !ok {
			ids = append(ids, id)
		}
	}
	for _, id := range ids {
		if !maps.Equal(l[id], other[id]) {
			out += fmt.Sprintf("\n  order %s: %s %v, %s %v", id, name, l[id], otherName, other[id])
			if len(out) > 2000 {
				return out + "\n  …"
			}
		}
	}
	return out
}

// invariantState is what the two databases say at one moment.
type invariantState struct {
	reserved  lines // catalog: reservations not released
	confirmed lines // orders: items of confirmed orders
	inFlight  int   // orders: idempotency claims still in flight
	pending   int   // orders: releases the catalog has not confirmed yet
}

func (s invariantState) problem() string {
	if d := s.reserved.diff(s.confirmed, "reserved", "confirmed"); d != "" {
		return "stock reserved in the catalog differs from the items of confirmed orders:" + d
	}
	if s.inFlight != 0 || s.pending != 0 {
		return fmt.Sprintf("%d idempotency claims still in flight and %d releases pending", s.inFlight, s.pending)
	}
	return ""
}

// checkInvariant checks the shop's central invariant on its databases:
// the stock the catalog holds reserved (reservations not released) equals,
// order by order and product by product, the items of confirmed orders;
// and once the shop is quiet no claim is in flight and no release is
// pending. Call it when no request is running. It waits up to 20 s for the
// shop to settle (a release that failed is retried by the orders service's
// sweeper), then fails the test with the last difference.
func checkInvariant(t *testing.T, data string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		st, err := readInvariant(data)
		if err != nil {
			t.Fatalf("invariant: %v", err)
		}
		p := st.problem()
		if p == "" {
			t.Logf("invariant holds: %d confirmed orders, each with exactly its items reserved", len(st.confirmed))
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("invariant broken: %s", p)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func readInvariant(data string) (invariantState, error) {
	if url, ok := postgresShops.Load(data); ok {
		return readInvariantPostgres(url.(string))
	}
	st := invariantState{reserved: lines{}, confirmed: lines{}}
	err := readDB(filepath.Join(data, "catalog.db"), func(tx *sql.Tx) error {
		rows, err := tx.Query(`SELECT ri.order_id, ri.product_id, ri.quantity
			FROM reservation_items ri JOIN reservations r ON r.order_id = ri.order_id
			WHERE r.released_at IS NULL`)
		if err != nil {
			return err
		}
		return scanLines(rows, st.reserved)
	})
	if err != nil {
		return st, fmt.Errorf("catalog.db: %w", err)
	}
	err = readDB(filepath.Join(data, "orders.db"), func(tx *sql.Tx) error {
		rows, err := tx.Query(`SELECT oi.order_id, oi.product_id, oi.quantity
			FROM order_items oi JOIN orders o ON o.id = oi.order_id
			WHERE o.status = 'confirmed'`)
		if err != nil {
			return err
		}
		if err := scanLines(rows, st.confirmed); err != nil {
			return err
		}
		if err := tx.QueryRow(`SELECT count(*) FROM idempotency_keys WHERE state = 'in_flight'`).Scan(&st.inFlight); err != nil {
			return err
		}
		return tx.QueryRow(`SELECT count(*) FROM pending_releases`).Scan(&st.pending)
	})
	if err != nil {
		return st, fmt.Errorf("orders.db: %w", err)
	}
	return st, nil
}

// readDB runs fn in one read transaction (one snapshot) of the SQLite file
// at path, which the shop's services may have open.
func readDB(path string, fn func(*sql.Tx) error) error {
	db, err := sql.Open("sqlite", path+"?_busy_timeout=10000")
	if err != nil {
		return err
	}
	defer db.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	tx, err := db.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return err
	}
	defer tx.Rollback()
	return fn(tx)
}

func scanLines(rows *sql.Rows, into lines) error {
	defer rows.Close()
	for rows.Next() {
		var o, p string
		var q int64
		if err := rows.Scan(&o, &p, &q); err != nil {
			return err
		}
		into.add(o, p, q)
	}
	return rows.Err()
}

// checkStock checks, through the API, that a product's stock went down by
// exactly the quantities of the confirmed orders for it placed by accounts
// (the only ones who ordered it): initial − stock = Σ quantities.
func (c *client) checkStock(ctx context.Context, t *testing.T, productID string, initial int64, accounts ...*account) {
	t.Helper()
	var sold int64
	for _, a := range accounts {
		for _, o := range c.orders(ctx, t, a) {
			if o.Status != "confirmed" {
				continue
			}
			for _, it := range o.Items {
				if it.ProductID == productID {
					sold += it.Quantity
				}
			}
		}
	}
	p := c.product(ctx, t, productID)
	if p.Stock < 0 || initial-p.Stock != sold {
		t.Fatalf("product %s: initial stock %d, confirmed orders hold %d units, so the stock should be %d; it is %d",
			productID, initial, sold, initial-sold, p.Stock)
	}
}
