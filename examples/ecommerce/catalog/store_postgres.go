package catalog

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/switchyard/switchyard/examples/ecommerce/internal/ids"
	"github.com/switchyard/switchyard/examples/ecommerce/internal/pg"
)

// Schema is the PostgreSQL schema the catalog service keeps its tables in.
const Schema = "catalog"

//go:embed migrations/*.sql
var migrationFiles embed.FS

// PostgresMigrations is the catalog schema's history, for pg.Open: the
// files under migrations/, in order, and then the seed, so that replicas
// starting together on an empty database seed it once.
var PostgresMigrations = append(pg.MustFiles(migrationFiles, "migrations"),
	pg.Migration{Name: "seed", Func: seedPostgres})

// PostgresStore is the [Store] on a PostgreSQL pool opened with pg.Open,
// [Schema] and [PostgresMigrations]. It is safe for concurrent use, and any
// number of replicas may share the database.
//
// Its transactions run at READ COMMITTED and rely on guarded statements
// rather than on a stronger isolation level; the package documentation
// explains why that cannot oversell. Deadlocks are avoided by locking
// products in id order, and retried (pg.Tx) should one happen anyway.
type PostgresStore struct {
	pool *pgxpool.Pool
}

var _ Store = (*PostgresStore)(nil)

// NewPostgresStore returns a Store on pool, whose search path must be
// [Schema] migrated with [PostgresMigrations] (as pg.Open leaves it).
func NewPostgresStore(pool *pgxpool.Pool) *PostgresStore { return &PostgresStore{pool: pool} }

// List implements Store.
func (s *PostgresStore) List(ctx context.Context, after string, limit int) ([]Product, error) {
	rows, err := s.pool.Query(ctx,
		`SELECT `+productColumns+` FROM products WHERE id > $1 ORDER BY id LIMIT $2`, after, limit)
	if err != nil {
		return nil, fmt.Errorf("catalog: list: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (Product, error) { return scanProduct(row) })
	if err != nil {
		return nil, fmt.Errorf("catalog: list: %w", err)
	}
	if out == nil {
		out = []Product{}
	}
	return out, nil
}

// Get implements Store.
func (s *PostgresStore) Get(ctx context.Context, id string) (Product, error) {
	p, err := scanProduct(s.pool.QueryRow(ctx, `SELECT `+productColumns+` FROM products WHERE id = $1`, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return Product{}, &ProductNotFoundError{ID: id}
	}
	if err != nil {
		return Product{}, fmt.Errorf("catalog: get: %w", err)
	}
	return p, nil
}

// Create implements Store.
func (s *PostgresStore) Create(ctx context.Context, p Product, now time.Time) error {
	return insertProductPostgres(ctx, s.pool, p, now)
}

// execer is what a pool and a transaction have in common.
type execer interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
}

func insertProductPostgres(ctx context.Context, db execer, p Product, now time.Time) error {
	at := pg.Millis(now)
	if _, err := db.Exec(ctx, `INSERT INTO products (id, name, description, price_cents, stock, created_at, updated_at)
		VALUES ($1, $2, $3, $4, $5, $6, $6)`, p.ID, p.Name, p.Description, p.PriceCents, p.Stock, at); err != nil {
		return fmt.Errorf("catalog: insert: %w", err)
	}
	return nil
}

// Update implements Store with one statement: COALESCE keeps the fields the
// patch leaves out, and the row lock the UPDATE takes orders concurrent
// patches, so patches of different fields do not undo each other.
func (s *PostgresStore) Update(ctx context.Context, id string, patch Patch, now time.Time) (Product, error) {
	p, err := scanProduct(s.pool.QueryRow(ctx, `UPDATE products SET
			name        = COALESCE($1::text, name),
			description = COALESCE($2::text, description),
			price_cents = COALESCE($3::bigint, price_cents),
			stock       = COALESCE($4::bigint, stock),
			updated_at  = $5
		WHERE id = $6 RETURNING `+productColumns,
		patch.Name, patch.Description, patch.PriceCents, patch.Stock, pg.Millis(now), id))
	if errors.Is(err, pgx.ErrNoRows) {
		return Product{}, &ProductNotFoundError{ID: id}
	}
	if err != nil {
		return Product{}, wrapStore("update", err)
	}
	return p, nil
}

// Reserve implements Store in one READ COMMITTED transaction.
//
// It first inserts the reservation's row with ON CONFLICT DO NOTHING: the
// primary key on order_id makes that the claim of the order id, and an
// insert that meets a concurrent one for the same id waits for it to commit
// or roll back. Only the caller whose insert lands takes stock; the others
// read the reservation it committed. Each item is then taken with a guarded
// decrement, UPDATE … SET stock = stock - q WHERE id = $id AND stock >= q,
// in product id order. PostgreSQL re-checks the WHERE clause against the
// newest committed row after waiting for a concurrent writer of that row,
// so a decrement either takes the whole quantity from the stock as it is
// now or matches no row; the first item that cannot be taken rolls
// everything back, the reservation's row included.
func (s *PostgresStore) Reserve(ctx context.Context, orderID string, items []Item, now time.Time) (Reservation, error) {
	at := pg.Millis(now)
	var r Reservation
	err := pg.Tx(ctx, s.pool, pgx.ReadCommitted, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `INSERT INTO reservations (order_id, created_at) VALUES ($1, $2)
			ON CONFLICT (order_id) DO NOTHING`, orderID, at)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			var released *time.Time
			if err := tx.QueryRow(ctx, `SELECT released_at FROM reservations WHERE order_id = $1`, orderID).
				Scan(&released); err != nil {
				return err
			}
			if released != nil {
				return ErrReservationReleased
			}
			r, err = reservationPostgres(ctx, tx, orderID)
			r.Replayed = true
			return err
		}

		prices := make(map[string]int64, len(items))
		for _, it := range slices.SortedFunc(slices.Values(items), func(a, b Item) int {
			return strings.Compare(a.ProductID, b.ProductID)
		}) {
			var price int64
			err := tx.QueryRow(ctx, `UPDATE products SET stock = stock - $1, updated_at = $2
				WHERE id = $3 AND stock >= $1 RETURNING price_cents`, it.Quantity, at, it.ProductID).Scan(&price)
			if errors.Is(err, pgx.ErrNoRows) {
				var exists bool
				if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM products WHERE id = $1)`, it.ProductID).
					Scan(&exists); err != nil {
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
			prices[it.ProductID] = price
		}
		r = Reservation{OrderID: orderID, Items: make([]ReservedItem, 0, len(items))}
		for _, it := range items {
			ri := ReservedItem{ProductID: it.ProductID, Quantity: it.Quantity, PriceCents: prices[it.ProductID]}
			if _, err := tx.Exec(ctx, `INSERT INTO reservation_items (order_id, product_id, quantity, price_cents)
				VALUES ($1, $2, $3, $4)`, orderID, ri.ProductID, ri.Quantity, ri.PriceCents); err != nil {
				return err
			}
			r.Items = append(r.Items, ri)
		}
		return nil
	})
	if err != nil {
		return Reservation{}, wrapStore("reserve", err)
	}
	return r, nil
}

func reservationPostgres(ctx context.Context, tx pgx.Tx, orderID string) (Reservation, error) {
	rows, err := tx.Query(ctx, `SELECT product_id, quantity, price_cents FROM reservation_items
		WHERE order_id = $1 ORDER BY product_id`, orderID)
	if err != nil {
		return Reservation{}, err
	}
	items, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (ReservedItem, error) {
		var it ReservedItem
		err := row.Scan(&it.ProductID, &it.Quantity, &it.PriceCents)
		return it, err
	})
	if err != nil {
		return Reservation{}, err
	}
	if items == nil {
		items = []ReservedItem{}
	}
	return Reservation{OrderID: orderID, Items: items}, nil
}

// Release implements Store in one READ COMMITTED transaction. It starts,
// like Reserve, by inserting the order id's row, here as a released marker:
// if that lands, nothing was reserved and the marker stops any later
// Reserve. If the id has a row — committed, or committed by the concurrent
// Reserve the insert waited for — a guarded UPDATE … SET released_at WHERE
// released_at IS NULL marks it released; of concurrent releases only one
// matches, and only that one puts the stock back, locking the products in
// id order as Reserve does.
func (s *PostgresStore) Release(ctx context.Context, orderID string, now time.Time) error {
	at := pg.Millis(now)
	err := pg.Tx(ctx, s.pool, pgx.ReadCommitted, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `INSERT INTO reservations (order_id, created_at, released_at) VALUES ($1, $2, $2)
			ON CONFLICT (order_id) DO NOTHING`, orderID, at)
		if err != nil || tag.RowsAffected() == 1 {
			return err
		}
		tag, err = tx.Exec(ctx, `UPDATE reservations SET released_at = $2 WHERE order_id = $1 AND released_at IS NULL`,
			orderID, at)
		if err != nil || tag.RowsAffected() == 0 {
			return err // or released before: the stock went back then
		}
		if _, err := tx.Exec(ctx, `SELECT p.id FROM products p JOIN reservation_items ri ON ri.product_id = p.id
			WHERE ri.order_id = $1 ORDER BY p.id FOR NO KEY UPDATE OF p`, orderID); err != nil {
			return err
		}
		_, err = tx.Exec(ctx, `UPDATE products SET stock = products.stock + ri.quantity, updated_at = $2
			FROM reservation_items ri WHERE ri.order_id = $1 AND products.id = ri.product_id`, orderID, at)
		return err
	})
	return wrapStore("release", err)
}

// seedPostgres is seed for PostgreSQL, run once as the last migration step.
func seedPostgres(ctx context.Context, tx pgx.Tx) error {
	var n int
	if err := tx.QueryRow(ctx, `SELECT COUNT(*) FROM products`).Scan(&n); err != nil || n > 0 {
		return err
	}
	now := time.Now()
	for _, p := range SeedProducts {
		p.ID = ids.New(productIDPrefix)
		p.Description = strings.TrimSpace(p.Description)
		if err := insertProductPostgres(ctx, tx, p, now); err != nil {
			return err
		}
	}
	return nil
}
