package catalog

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/switchyard/switchyard/examples/ecommerce/internal/ids"
	"github.com/switchyard/switchyard/examples/ecommerce/internal/sqlite"
)

// Store keeps products and stock reservations. It is what a PostgreSQL
// implementation would provide beside [SQLiteStore]. Implementations must be
// safe for concurrent use, also across processes sharing the database, and
// must make Reserve and Release atomic.
type Store interface {
	// List returns up to limit products with ids greater than after (""
	// for the first page), ordered by id.
	List(ctx context.Context, after string, limit int) ([]Product, error)
	// Get returns the product with id, or an error wrapping
	// ErrProductNotFound.
	Get(ctx context.Context, id string) (Product, error)
	// Create stores p.
	Create(ctx context.Context, p Product, now time.Time) error
	// Update applies the non-nil fields of patch to the product with id and
	// returns the result, or fails with ErrProductNotFound.
	Update(ctx context.Context, id string, patch Patch, now time.Time) (Product, error)
	// Reserve takes the items (distinct product ids, positive quantities)
	// out of stock for orderID, all or none, and records the reservation
	// with each product's current price. If orderID already has a
	// reservation, it returns that one and changes nothing; if that
	// reservation was released, it fails with ErrReservationReleased.
	// A product without enough stock fails the whole call with an
	// *OutOfStockError; an unknown one with a *ProductNotFoundError.
	Reserve(ctx context.Context, orderID string, items []Item, now time.Time) (Reservation, error)
	// Release returns the stock of orderID's reservation once and marks it
	// released. Releasing again, or releasing an order id that never
	// reserved, changes no stock; the latter leaves a released marker so
	// that a late Reserve for that order id cannot take stock any more.
	Release(ctx context.Context, orderID string, now time.Time) error
}

// Migrations is the catalog database's schema history, for
// sqlite.Open. The last step seeds the catalog, so two replicas starting
// together on an empty database seed it once.
var Migrations = []sqlite.Migration{
	sqlite.SQL(
		`CREATE TABLE products (
			id          TEXT PRIMARY KEY,
			name        TEXT NOT NULL,
			description TEXT NOT NULL,
			price_cents INTEGER NOT NULL CHECK (price_cents >= 0),
			stock       INTEGER NOT NULL CHECK (stock >= 0), -- never negative, whatever a bug tries
			created_at  INTEGER NOT NULL,                    -- Unix milliseconds
			updated_at  INTEGER NOT NULL
		)`,
		`CREATE TABLE reservations (
			order_id    TEXT PRIMARY KEY,
			created_at  INTEGER NOT NULL,
			released_at INTEGER                              -- NULL while the stock is held
		)`,
		`CREATE TABLE reservation_items (
			order_id    TEXT NOT NULL REFERENCES reservations (order_id),
			product_id  TEXT NOT NULL REFERENCES products (id),
			quantity    INTEGER NOT NULL CHECK (quantity > 0),
			price_cents INTEGER NOT NULL,
			PRIMARY KEY (order_id, product_id)
		)`,
	),
	seed,
}

// SQLiteStore is the Store on a sqlite.DB opened with Migrations. It is
// safe for concurrent use, and replicas may share the file.
type SQLiteStore struct {
	db *sqlite.DB
}

var _ Store = (*SQLiteStore)(nil)

// NewSQLiteStore returns a Store on db, which must have been opened with
// Migrations.
func NewSQLiteStore(db *sqlite.DB) *SQLiteStore { return &SQLiteStore{db: db} }

const productColumns = `id, name, description, price_cents, stock`

func scanProduct(row interface{ Scan(...any) error }) (Product, error) {
	var p Product
	err := row.Scan(&p.ID, &p.Name, &p.Description, &p.PriceCents, &p.Stock)
	return p, err
}

// List implements Store.
func (s *SQLiteStore) List(ctx context.Context, after string, limit int) ([]Product, error) {
	rows, err := s.db.QueryContext(ctx,
		`SELECT `+productColumns+` FROM products WHERE id > ? ORDER BY id LIMIT ?`, after, limit)
	if err != nil {
		return nil, fmt.Errorf("catalog: list: %w", err)
	}
	defer rows.Close()
	out := make([]Product, 0, limit)
	for rows.Next() {
		p, err := scanProduct(rows)
		if err != nil {
			return nil, fmt.Errorf("catalog: list: %w", err)
		}
		out = append(out, p)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("catalog: list: %w", err)
	}
	return out, nil
}

// Get implements Store.
func (s *SQLiteStore) Get(ctx context.Context, id string) (Product, error) {
	p, err := scanProduct(s.db.QueryRowContext(ctx, `SELECT `+productColumns+` FROM products WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return Product{}, &ProductNotFoundError{ID: id}
	}
	if err != nil {
		return Product{}, fmt.Errorf("catalog: get: %w", err)
	}
	return p, nil
}

// Create implements Store.
func (s *SQLiteStore) Create(ctx context.Context, p Product, now time.Time) error {
	return s.db.WriteTx(ctx, func(tx *sql.Tx) error {
		return insertProduct(ctx, tx, p, now)
	})
}

func insertProduct(ctx context.Context, tx *sql.Tx, p Product, now time.Time) error {
	_, err := tx.ExecContext(ctx, `INSERT INTO products (id, name, description, price_cents, stock, created_at, updated_at)
		VALUES (?, ?, ?, ?, ?, ?, ?)`, p.ID, p.Name, p.Description, p.PriceCents, p.Stock, now.UnixMilli(), now.UnixMilli())
	if err != nil {
		return fmt.Errorf("catalog: insert: %w", err)
	}
	return nil
}

// Update implements Store. One statement sets every given field; COALESCE
// keeps the others, so concurrent patches of different fields do not undo
// each other.
func (s *SQLiteStore) Update(ctx context.Context, id string, patch Patch, now time.Time) (Product, error) {
	var p Product
	err := s.db.WriteTx(ctx, func(tx *sql.Tx) error {
		var err error
		p, err = scanProduct(tx.QueryRowContext(ctx, `UPDATE products SET
				name        = COALESCE(?, name),
				description = COALESCE(?, description),
				price_cents = COALESCE(?, price_cents),
				stock       = COALESCE(?, stock),
				updated_at  = ?
			WHERE id = ? RETURNING `+productColumns,
			patch.Name, patch.Description, patch.PriceCents, patch.Stock, now.UnixMilli(), id))
		if errors.Is(err, sql.ErrNoRows) {
			return &ProductNotFoundError{ID: id}
		}
		return err
	})
	if err != nil {
		return Product{}, wrapStore("update", err)
	}
	return p, nil
}

// Reserve implements Store in one IMMEDIATE transaction. Each item is taken
// with a guarded decrement, UPDATE … SET stock = stock - q WHERE id = ? AND
// stock >= q, which either takes the whole quantity or matches no row; it
// never reads the stock first and writes it back, so no interleaving can
// oversell. The first item that cannot be taken rolls back the items taken
// before it.
func (s *SQLiteStore) Reserve(ctx context.Context, orderID string, items []Item, now time.Time) (Reservation, error) {
	var r Reservation
	err := s.db.WriteTx(ctx, func(tx *sql.Tx) error {
		var released sql.NullInt64
		err := tx.QueryRowContext(ctx, `SELECT released_at FROM reservations WHERE order_id = ?`, orderID).Scan(&released)
		switch {
		case err == nil && released.Valid:
			return ErrReservationReleased
		case err == nil:
			r, err = reservation(ctx, tx, orderID)
			r.Replayed = true
			return err
		case !errors.Is(err, sql.ErrNoRows):
			return err
		}

		r = Reservation{OrderID: orderID, Items: make([]ReservedItem, 0, len(items))}
		for _, it := range items {
			var price int64
			err := tx.QueryRowContext(ctx, `UPDATE products SET stock = stock - ?, updated_at = ?
				WHERE id = ? AND stock >= ? RETURNING price_cents`,
				it.Quantity, now.UnixMilli(), it.ProductID, it.Quantity).Scan(&price)
			if errors.Is(err, sql.ErrNoRows) {
				var exists bool
				if err := tx.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM products WHERE id = ?)`, it.ProductID).Scan(&exists); err != nil {
					return err
				}
				if !exists {
					return &ProductNotFoundError{ID: it.ProductID}
				}
				return &OutOfStockError{ProductID: it.ProductID}
			}
			if err != nil {
				return err
			}
			r.Items = append(r.Items, ReservedItem{ProductID: it.ProductID, Quantity: it.Quantity, PriceCents: price})
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO reservations (order_id, created_at) VALUES (?, ?)`,
			orderID, now.UnixMilli()); err != nil {
			return err
		}
		for _, it := range r.Items {
			if _, err := tx.ExecContext(ctx, `INSERT INTO reservation_items (order_id, product_id, quantity, price_cents)
				VALUES (?, ?, ?, ?)`, orderID, it.ProductID, it.Quantity, it.PriceCents); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return Reservation{}, wrapStore("reserve", err)
	}
	return r, nil
}

func reservation(ctx context.Context, tx *sql.Tx, orderID string) (Reservation, error) {
	rows, err := tx.QueryContext(ctx, `SELECT product_id, quantity, price_cents FROM reservation_items
		WHERE order_id = ? ORDER BY product_id`, orderID)
	if err != nil {
		return Reservation{}, err
	}
	defer rows.Close()
	r := Reservation{OrderID: orderID, Items: []ReservedItem{}}
	for rows.Next() {
		var it ReservedItem
		if err := rows.Scan(&it.ProductID, &it.Quantity, &it.PriceCents); err != nil {
			return Reservation{}, err
		}
		r.Items = append(r.Items, it)
	}
	return r, rows.Err()
}

// Release implements Store in one IMMEDIATE transaction.
func (s *SQLiteStore) Release(ctx context.Context, orderID string, now time.Time) error {
	err := s.db.WriteTx(ctx, func(tx *sql.Tx) error {
		var released sql.NullInt64
		err := tx.QueryRowContext(ctx, `SELECT released_at FROM reservations WHERE order_id = ?`, orderID).Scan(&released)
		switch {
		case errors.Is(err, sql.ErrNoRows):
			// Nothing was reserved (or the reservation has not arrived
			// yet): leave a released marker so it never takes stock.
			_, err := tx.ExecContext(ctx, `INSERT INTO reservations (order_id, created_at, released_at) VALUES (?, ?, ?)`,
				orderID, now.UnixMilli(), now.UnixMilli())
			return err
		case err != nil:
			return err
		case released.Valid:
			return nil // released before: the stock went back then
		}
		if _, err := tx.ExecContext(ctx, `UPDATE products SET stock = stock + ri.quantity, updated_at = ?
			FROM (SELECT product_id, quantity FROM reservation_items WHERE order_id = ?) AS ri
			WHERE products.id = ri.product_id`, now.UnixMilli(), orderID); err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, `UPDATE reservations SET released_at = ? WHERE order_id = ?`, now.UnixMilli(), orderID)
		return err
	})
	return wrapStore("release", err)
}

// wrapStore prefixes database errors and passes the service's own errors
// through unchanged.
func wrapStore(op string, err error) error {
	var nf *ProductNotFoundError
	var oos *OutOfStockError
	if err == nil || errors.As(err, &nf) || errors.As(err, &oos) || errors.Is(err, ErrReservationReleased) ||
		errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	return fmt.Errorf("catalog: %s: %w", op, err)
}

// seed fills an empty catalog with the shop's products. As a migration step
// it runs once per database, inside the migration transaction; the emptiness
// check keeps it from adding products to a catalog someone filled by other
// means.
func seed(ctx context.Context, tx *sql.Tx) error {
	var n int
	if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM products`).Scan(&n); err != nil {
		return err
	}
	if n > 0 {
		return nil
	}
	now := time.Now()
	for _, p := range SeedProducts {
		p.ID = ids.New(productIDPrefix)
		p.Description = strings.TrimSpace(p.Description)
		if err := insertProduct(ctx, tx, p, now); err != nil {
			return err
		}
	}
	return nil
}
