package orders

import (
	"context"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/switchyard/switchyard/examples/ecommerce/internal/pg"
)

// Schema is the PostgreSQL schema the orders service keeps its tables in.
const Schema = "orders"

//go:embed migrations/*.sql
var migrationFiles embed.FS

// PostgresMigrations is the orders schema's history, for pg.Open: the
// files under migrations/, in order. Append; never edit.
var PostgresMigrations = pg.MustFiles(migrationFiles, "migrations")

// PostgresStore is the [Store] on a PostgreSQL pool opened with pg.Open,
// [Schema] and [PostgresMigrations]. It is safe for concurrent use, and any
// number of replicas may share the database.
//
// Every method that writes is one READ COMMITTED transaction of guarded
// statements, run again by pg.Tx should it end in a deadlock; the package
// documentation explains why that is enough.
type PostgresStore struct {
	pool *pgxpool.Pool
}

var _ Store = (*PostgresStore)(nil)

// NewPostgresStore returns the store on pool, whose search path must be
// [Schema] migrated with [PostgresMigrations] (as pg.Open leaves it).
func NewPostgresStore(pool *pgxpool.Pool) *PostgresStore { return &PostgresStore{pool: pool} }

// write runs fn in a READ COMMITTED transaction, run again by pg.Tx should
// it end in a deadlock.
func (s *PostgresStore) write(ctx context.Context, fn func(tx pgx.Tx) error) error {
	return pg.Tx(ctx, s.pool, pgx.ReadCommitted, fn)
}

// Claim implements [Store]. It first inserts the claim with ON CONFLICT DO
// NOTHING: the primary key makes that atomic, and an insert that meets a
// concurrent one for the same key waits for it to commit. If the key was
// taken, it locks the row as committed (SELECT … FOR UPDATE) and decides
// from it; should the row have been deleted in between (freed or abandoned),
// it tries again, a bounded number of times.
func (s *PostgresStore) Claim(ctx context.Context, r ClaimRequest) (Claim, error) {
	var c Claim
	err := s.write(ctx, func(tx pgx.Tx) error {
		now := pg.Millis(r.Now)
		for range claimTries {
			tag, err := tx.Exec(ctx,
				`INSERT INTO idempotency_keys (user_id, key, request_hash, order_id, state, attempt, lease_until, created_at, updated_at)
				 VALUES ($1, $2, $3, $4, 'in_flight', 1, $5, $6, $6)
				 ON CONFLICT (user_id, key) DO NOTHING`,
				r.UserID, r.Key, r.RequestHash, r.OrderID, pg.Millis(r.LeaseUntil), now)
			if err != nil {
				return err
			}
			if tag.RowsAffected() == 1 {
				c = Claim{State: ClaimAcquired, RequestHash: r.RequestHash, Ticket: Ticket{
					UserID: r.UserID, Key: r.Key, RequestHash: r.RequestHash, OrderID: r.OrderID, Attempt: 1}}
				return nil
			}
			var (
				state   string
				attempt int64
				lease   time.Time
				orderID string
				answer  []byte
			)
			c = Claim{}
			err = tx.QueryRow(ctx,
				`SELECT request_hash, order_id, state, attempt, lease_until, answer
				   FROM idempotency_keys WHERE user_id = $1 AND key = $2 FOR UPDATE`, r.UserID, r.Key).
				Scan(&c.RequestHash, &orderID, &state, &attempt, &lease, &answer)
			if errors.Is(err, pgx.ErrNoRows) {
				continue // deleted since the insert found it: insert again
			}
			if err != nil {
				return err
			}
			switch {
			case state == "done":
				c.State = ClaimDone
				return decodeAnswer(answer, &c.Answer)
			case !lease.Before(now) || c.RequestHash != r.RequestHash:
				// Only a retry of the same request may take a claim over.
				c.State = ClaimBusy
				return nil
			}
			attempt++
			if _, err := tx.Exec(ctx,
				`UPDATE idempotency_keys SET attempt = $1, lease_until = $2, updated_at = $3
				  WHERE user_id = $4 AND key = $5`,
				attempt, pg.Millis(r.LeaseUntil), now, r.UserID, r.Key); err != nil {
				return err
			}
			c.State = ClaimAcquired
			c.Ticket = Ticket{UserID: r.UserID, Key: r.Key, RequestHash: c.RequestHash,
				OrderID: orderID, Attempt: attempt, TakenOver: true}
			return nil
		}
		return errors.New("the key kept disappearing between insert and read")
	})
	if err != nil {
		return Claim{}, fmt.Errorf("orders: claim: %w", err)
	}
	return c, nil
}

// claimTries bounds Claim's insert-or-read rounds; a round repeats only
// when the key's claim is deleted between its two statements.
const claimTries = 5

// Lookup implements [Store].
func (s *PostgresStore) Lookup(ctx context.Context, userID, key string) (Claim, error) {
	var (
		c      Claim
		state  string
		answer []byte
	)
	err := s.pool.QueryRow(ctx,
		`SELECT request_hash, order_id, state, attempt, answer
		   FROM idempotency_keys WHERE user_id = $1 AND key = $2`, userID, key).
		Scan(&c.RequestHash, &c.Ticket.OrderID, &state, &c.Ticket.Attempt, &answer)
	if errors.Is(err, pgx.ErrNoRows) {
		return Claim{}, ErrKeyNotFound
	}
	if err != nil {
		return Claim{}, fmt.Errorf("orders: lookup key: %w", err)
	}
	c.Ticket.UserID, c.Ticket.Key, c.Ticket.RequestHash = userID, key, c.RequestHash
	if state == "done" {
		c.State = ClaimDone
		if err := decodeAnswer(answer, &c.Answer); err != nil {
			return Claim{}, fmt.Errorf("orders: lookup key: %w", err)
		}
	} else {
		c.State = ClaimBusy
	}
	return c, nil
}

// Complete implements [Store].
func (s *PostgresStore) Complete(ctx context.Context, t Ticket, a Answer, now time.Time) error {
	if (a.Order == nil) == !a.OutOfStock {
		return errors.New("orders: complete claim: an answer sets exactly one of Order and OutOfStock")
	}
	answer, err := json.Marshal(a)
	if err != nil {
		return fmt.Errorf("orders: complete claim: %w", err)
	}
	o := a.Order
	err = s.write(ctx, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx,
			`UPDATE idempotency_keys SET state = 'done', answer = $1, updated_at = $2
			  WHERE user_id = $3 AND key = $4 AND attempt = $5 AND state = 'in_flight'`,
			answer, pg.Millis(now), t.UserID, t.Key, t.Attempt)
		if err != nil {
			return err
		}
		if tag.RowsAffected() != 1 {
			return ErrClaimLost
		}
		if o == nil {
			return nil
		}
		created := pg.Millis(o.CreatedAt)
		if _, err := tx.Exec(ctx,
			`INSERT INTO orders (id, user_id, status, total_cents, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $5)`,
			o.ID, o.UserID, o.Status, o.TotalCents, created); err != nil {
			return err
		}
		for i, l := range o.Items {
			if _, err := tx.Exec(ctx,
				`INSERT INTO order_items (order_id, line, product_id, quantity, price_cents) VALUES ($1, $2, $3, $4, $5)`,
				o.ID, i, l.ProductID, l.Quantity, l.PriceCents); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil && !errors.Is(err, ErrClaimLost) {
		return fmt.Errorf("orders: complete claim: %w", err)
	}
	return err
}

// Free implements [Store].
func (s *PostgresStore) Free(ctx context.Context, t Ticket, release bool, now time.Time) error {
	err := s.write(ctx, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx,
			`DELETE FROM idempotency_keys WHERE user_id = $1 AND key = $2 AND attempt = $3 AND state = 'in_flight'`,
			t.UserID, t.Key, t.Attempt)
		if err != nil {
			return err
		}
		if tag.RowsAffected() != 1 {
			return ErrClaimLost
		}
		if release {
			return enqueueReleasePostgres(ctx, tx, t.OrderID, now)
		}
		return nil
	})
	if err != nil && !errors.Is(err, ErrClaimLost) {
		return fmt.Errorf("orders: free claim: %w", err)
	}
	return err
}

func enqueueReleasePostgres(ctx context.Context, tx pgx.Tx, orderID string, now time.Time) error {
	_, err := tx.Exec(ctx,
		`INSERT INTO pending_releases (order_id, attempts, next_at, created_at) VALUES ($1, 0, $2, $2)
		 ON CONFLICT (order_id) DO UPDATE SET next_at = LEAST(pending_releases.next_at, excluded.next_at)`,
		orderID, pg.Millis(now))
	return err
}

// EnqueueOrphanRelease implements [Store].
func (s *PostgresStore) EnqueueOrphanRelease(ctx context.Context, orderID string, now time.Time) (bool, error) {
	var queued bool
	err := s.write(ctx, func(tx pgx.Tx) error {
		queued = false
		var used bool
		if err := tx.QueryRow(ctx,
			`SELECT EXISTS (SELECT 1 FROM orders WHERE id = $1)
			     OR EXISTS (SELECT 1 FROM idempotency_keys WHERE order_id = $1 AND state = 'in_flight')`,
			orderID).Scan(&used); err != nil {
			return err
		}
		if used {
			return nil
		}
		queued = true
		return enqueueReleasePostgres(ctx, tx, orderID, now)
	})
	if err != nil {
		return false, fmt.Errorf("orders: enqueue release: %w", err)
	}
	return queued, nil
}

// AbandonStale implements [Store].
func (s *PostgresStore) AbandonStale(ctx context.Context, staleBefore, now time.Time, limit int) (int, error) {
	var n int
	err := s.write(ctx, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx,
			`DELETE FROM idempotency_keys WHERE (user_id, key) IN (
				SELECT user_id, key FROM idempotency_keys
				 WHERE state = 'in_flight' AND lease_until < $1 ORDER BY lease_until LIMIT $2)
			 RETURNING order_id`, pg.Millis(staleBefore), limit)
		if err != nil {
			return err
		}
		stale, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			return err
		}
		for _, orderID := range stale {
			// An in-flight claim never has its order (they are written
			// together), but check rather than release a live order's stock.
			var exists bool
			if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM orders WHERE id = $1)`, orderID).Scan(&exists); err != nil {
				return err
			}
			if !exists {
				if err := enqueueReleasePostgres(ctx, tx, orderID, now); err != nil {
					return err
				}
			}
		}
		n = len(stale)
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("orders: abandon stale claims: %w", err)
	}
	return n, nil
}

// DueReleases implements [Store].
func (s *PostgresStore) DueReleases(ctx context.Context, now time.Time, limit int) ([]PendingRelease, error) {
	rows, err := s.pool.Query(ctx,
		`SELECT order_id, attempts FROM pending_releases WHERE next_at <= $1 ORDER BY next_at, order_id LIMIT $2`,
		pg.Millis(now), limit)
	if err != nil {
		return nil, fmt.Errorf("orders: due releases: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (PendingRelease, error) {
		var p PendingRelease
		err := row.Scan(&p.OrderID, &p.Attempts)
		return p, err
	})
	if err != nil {
		return nil, fmt.Errorf("orders: due releases: %w", err)
	}
	return out, nil
}

// ReleaseDone implements [Store].
func (s *PostgresStore) ReleaseDone(ctx context.Context, orderID string) error {
	if _, err := s.pool.Exec(ctx, `DELETE FROM pending_releases WHERE order_id = $1`, orderID); err != nil {
		return fmt.Errorf("orders: release done: %w", err)
	}
	return nil
}

// ReleaseFailed implements [Store].
func (s *PostgresStore) ReleaseFailed(ctx context.Context, orderID string, next time.Time) error {
	if _, err := s.pool.Exec(ctx,
		`UPDATE pending_releases SET attempts = attempts + 1, next_at = $1 WHERE order_id = $2`,
		pg.Millis(next), orderID); err != nil {
		return fmt.Errorf("orders: release failed: %w", err)
	}
	return nil
}

// Order implements [Store].
func (s *PostgresStore) Order(ctx context.Context, userID, id string) (Order, error) {
	list, err := s.query(ctx,
		`SELECT id, user_id, status, total_cents, created_at FROM orders WHERE id = $1 AND user_id = $2`, id, userID)
	if err != nil {
		return Order{}, err
	}
	if len(list) == 0 {
		return Order{}, ErrOrderNotFound
	}
	return list[0], nil
}

// Orders implements [Store].
func (s *PostgresStore) Orders(ctx context.Context, userID string, after *Cursor, limit int) ([]Order, error) {
	if after == nil {
		return s.query(ctx,
			`SELECT id, user_id, status, total_cents, created_at FROM orders WHERE user_id = $1
			  ORDER BY created_at DESC, id DESC LIMIT $2`, userID, limit)
	}
	return s.query(ctx,
		`SELECT id, user_id, status, total_cents, created_at FROM orders
		  WHERE user_id = $1 AND (created_at, id) < ($2, $3)
		  ORDER BY created_at DESC, id DESC LIMIT $4`, userID, pg.Millis(after.CreatedAt), after.ID, limit)
}

// Cancel implements [Store]. The release of the order's stock is queued in
// the transaction that cancels it, so no crash can leave a cancelled order
// holding stock, or a confirmed one without it.
func (s *PostgresStore) Cancel(ctx context.Context, userID, id string, now time.Time) (Order, error) {
	err := s.write(ctx, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx,
			`UPDATE orders SET status = 'cancelled', updated_at = $1 WHERE id = $2 AND user_id = $3 AND status = 'confirmed'`,
			pg.Millis(now), id, userID)
		if err != nil || tag.RowsAffected() == 0 {
			return err
		}
		return enqueueReleasePostgres(ctx, tx, id, now)
	})
	if err != nil {
		return Order{}, fmt.Errorf("orders: cancel: %w", err)
	}
	return s.Order(ctx, userID, id)
}

// query runs a query for orders' own columns and loads their items.
func (s *PostgresStore) query(ctx context.Context, q string, args ...any) ([]Order, error) {
	rows, err := s.pool.Query(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("orders: query orders: %w", err)
	}
	list, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (Order, error) {
		var o Order
		err := row.Scan(&o.ID, &o.UserID, &o.Status, &o.TotalCents, &o.CreatedAt)
		o.CreatedAt = o.CreatedAt.UTC()
		o.Items = []Line{}
		return o, err
	})
	if err != nil {
		return nil, fmt.Errorf("orders: query orders: %w", err)
	}
	if len(list) == 0 {
		return []Order{}, nil
	}
	index := make(map[string]int, len(list))
	ids := make([]string, len(list))
	for i, o := range list {
		index[o.ID] = i
		ids[i] = o.ID
	}
	items, err := s.pool.Query(ctx,
		`SELECT order_id, product_id, quantity, price_cents FROM order_items
		  WHERE order_id = ANY($1) ORDER BY order_id, line`, ids)
	if err != nil {
		return nil, fmt.Errorf("orders: query items: %w", err)
	}
	defer items.Close()
	for items.Next() {
		var (
			id string
			l  Line
		)
		if err := items.Scan(&id, &l.ProductID, &l.Quantity, &l.PriceCents); err != nil {
			return nil, fmt.Errorf("orders: query items: %w", err)
		}
		o := &list[index[id]]
		o.Items = append(o.Items, l)
	}
	if err := items.Err(); err != nil {
		return nil, fmt.Errorf("orders: query items: %w", err)
	}
	return list, nil
}
