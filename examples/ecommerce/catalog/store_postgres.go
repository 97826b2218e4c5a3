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
// explains why that cannot oversell. Deadlocks and serialization failures
// are retried (pg.Tx).
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
// or roll back. Each item is taken with a guarded decrement, UPDATE … SET
// stock = stock - q WHERE id = $id AND stock >= q, in product id order.
// PostgreSQL re-checks the WHERE clause against the newest committed row
// after waiting for a concurrent writer of that row, so a decrement either
// takes the whole quantity from the stock as it is now or matches no row.
// All of it goes to the server as one batch; the transaction commits only
// when the insert landed and every decrement matched. Otherwise it is
// rolled back, whatever it took: an item short of stock fails the call, and
// an order id that already had its row gets that reservation, read in a new
// transaction.
func (s *PostgresStore) Reserve(ctx context.Context, orderID string, items []Item, now time.Time) (Reservation, error) {
	at := pg.Millis(now)
	var r Reservation
	sorted := slices.SortedFunc(slices.Values(items), func(a, b Item) int {
		return strings.Compare(a.ProductID, b.ProductID)
	})
	err := pg.Tx(ctx, s.pool, pgx.ReadCommitted, func(tx pgx.Tx) error {
		// One round trip for every statement: the lock on a product is
		// then held only until the COMMIT that follows the batch's
		// answer, which matters when every order wants the same product.
		b := &pgx.Batch{}
		b.Queue(`INSERT INTO reservations (order_id, created_at) VALUES ($1, $2)
			ON CONFLICT (order_id) DO NOTHING`, orderID, at)
		for _, it := range sorted {
			b.Queue(`UPDATE products SET stock = stock - $1, updated_at = $2
				WHERE id = $3 AND stock >= $1 RETURNING price_cents`, it.Quantity, at, it.ProductID)
		}
		for _, it := range items {
			b.Queue(`INSERT INTO reservation_items (order_id, product_id, quantity, price_cents)
				SELECT $1, id, $3, price_cents FROM products WHERE id = $2
				ON CONFLICT DO NOTHING`, orderID, it.ProductID, it.Quantity) // the replay's rows, when not claimed
		}
		res := tx.SendBatch(ctx, b)
		claimed, failed, prices, err := readReserveBatch(res, sorted)
		if cerr := res.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return err
		}
		if !claimed {
			// The order id has its row: the batch's other statements
			// are rolled back with the transaction, and the reservation
			// is read in a new one.
			return errReplay
		}
		if failed != "" {
			var exists bool
			if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM products WHERE id = $1)`, failed).
				Scan(&exists); err != nil {
				return err
			}
			if !exists {
				return &ProductNotFoundError{ID: failed}
			}
			return &OutOfStockError{ProductID: failed}
		}
		r = Reservation{OrderID: orderID, Items: make([]ReservedItem, 0, len(items))}
		for _, it := range items {
			r.Items = append(r.Items, ReservedItem{ProductID: it.ProductID, Quantity: it.Quantity, PriceCents: prices[it.ProductID]})
		}
		return nil
	})
	if errors.Is(err, errReplay) {
		r, err = s.replay(ctx, orderID)
	}
	if err != nil {
		return Reservation{}, wrapStore("reserve", err)
	}
	return r, nil
}

// errReplay is Reserve's signal to itself that the order id already had a
// reservation (or a released marker).
var errReplay = errors.New("catalog: order id already reserved")

// readReserveBatch reads the answers of Reserve's batch: whether the order
// id's row was inserted, the first product (in id order) whose stock could
// not be taken, and the price of each product taken.
func readReserveBatch(res pgx.BatchResults, sorted []Item) (claimed bool, failed string, prices map[string]int64, err error) {
	tag, err := res.Exec()
	if err != nil {
		return false, "", nil, err
	}
	claimed = tag.RowsAffected() == 1
	prices = make(map[string]int64, len(sorted))
	for _, it := range sorted {
		var price int64
		err := res.QueryRow().Scan(&price)
		if errors.Is(err, pgx.ErrNoRows) {
			if failed == "" {
				failed = it.ProductID
			}
			continue
		}
		if err != nil {
			return false, "", nil, err
		}
		prices[it.ProductID] = price
	}
	return claimed, failed, prices, nil
}

// replay returns the reservation orderID has, or ErrReservationReleased.
func (s *PostgresStore) replay(ctx context.Context, orderID string) (Reservation, error) {
	var r Reservation
	err := pg.Tx(ctx, s.pool, pgx.RepeatableRead, func(tx pgx.Tx) error {
		var released *time.Time
		if err := tx.QueryRow(ctx, `SELECT released_at FROM reservations WHERE order_id = $1`, orderID).
			Scan(&released); err != nil {
			return err
		}
		if released != nil {
			return ErrReservationReleased
		}
		var err error
		r, err = reservationPostgres(ctx, tx, orderID)
		r.Replayed = true
		return err
	})
	return r, err
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

// Release implements Store in one READ COMMITTED transaction, sent as one
// batch. It starts, like Reserve, by inserting the order id's row, here as a
// released marker: if that lands, nothing was reserved and the marker stops
// any later Reserve. If the id has a row — committed, or committed by the
// concurrent Reserve the insert waited for — the guarded UPDATE … SET
// released_at WHERE released_at IS NULL marks it released; of concurrent
// releases only one matches, and the same statement puts back the stock of
// that one only.
func (s *PostgresStore) Release(ctx context.Context, orderID string, now time.Time) error {
	at := pg.Millis(now)
	err := pg.Tx(ctx, s.pool, pgx.ReadCommitted, func(tx pgx.Tx) error {
		b := &pgx.Batch{}
		b.Queue(`INSERT INTO reservations (order_id, created_at, released_at) VALUES ($1, $2, $2)
			ON CONFLICT (order_id) DO NOTHING`, orderID, at)
		b.Queue(`WITH released AS (
				UPDATE reservations SET released_at = $2 WHERE order_id = $1 AND released_at IS NULL
				RETURNING order_id)
			UPDATE products SET stock = products.stock + ri.quantity, updated_at = $2
			FROM reservation_items ri JOIN released ON released.order_id = ri.order_id
			WHERE products.id = ri.product_id`, orderID, at)
		return tx.SendBatch(ctx, b).Close()
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
