package orders

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/switchyard/switchyard/examples/ecommerce/internal/sqlite"
)

// ErrClaimLost is returned by [Store.Complete] and [Store.Free] when the
// claim is no longer the caller's: another attempt took it over, or the
// sweeper abandoned it.
var ErrClaimLost = errors.New("orders: idempotency claim lost to another attempt")

// ErrKeyNotFound is returned by [Store.Lookup] when nobody holds the key.
var ErrKeyNotFound = errors.New("orders: idempotency key not found")

// ClaimState says what [Store.Claim] found.
type ClaimState int

const (
	// ClaimAcquired: the caller holds the claim (new, or taken over after
	// the lease) and must complete or free it.
	ClaimAcquired ClaimState = iota + 1
	// ClaimBusy: another attempt holds the claim and its lease runs.
	ClaimBusy
	// ClaimDone: the key has its final answer in Answer.
	ClaimDone
)

// ClaimRequest asks [Store.Claim] for the key (UserID, Key).
type ClaimRequest struct {
	UserID, Key string
	// RequestHash identifies the request (see RequestHash).
	RequestHash string
	// OrderID is the order id a new claim gets; a claim taken over keeps
	// its own.
	OrderID string
	// Now is the current time; LeaseUntil the end of the new lease.
	Now, LeaseUntil time.Time
}

// Ticket identifies one attempt's hold on a claim. Writes on the claim name
// the attempt, so that a stale attempt cannot touch a claim taken over.
type Ticket struct {
	UserID, Key, RequestHash, OrderID string
	// Attempt counts the claim's holders: 1 for the first, +1 per takeover.
	Attempt int64
	// TakenOver is true when this attempt took the claim from another
	// whose lease had run out.
	TakenOver bool
}

// Claim is the state of an idempotency key as [Store.Claim] or
// [Store.Lookup] found it. RequestHash is the hash the key was claimed
// with; Ticket is set for ClaimAcquired and Answer for ClaimDone.
type Claim struct {
	State       ClaimState
	RequestHash string
	Ticket      Ticket
	Answer      Answer
}

// PendingRelease is a release of an order's stock waiting to be confirmed
// by the catalog.
type PendingRelease struct {
	OrderID  string
	Attempts int
}

// Store keeps orders, idempotency claims and pending releases. It is the
// seam where a PostgreSQL implementation would go: each method is one
// transaction. Times are passed in, never read from a clock. Implementations
// must be safe for concurrent use, also by several processes sharing the
// data.
type Store interface {
	// Claim atomically claims (UserID, Key): it inserts an in-flight claim
	// when there is none; takes over an in-flight claim whose lease ended
	// before Now (next attempt, new lease, same order id, same hash);
	// and otherwise reports the claim as it is (ClaimBusy or ClaimDone),
	// whatever its hash. The caller compares RequestHash.
	Claim(ctx context.Context, r ClaimRequest) (Claim, error)
	// Lookup reports the key's claim, or ErrKeyNotFound.
	Lookup(ctx context.Context, userID, key string) (Claim, error)
	// Complete marks t's claim done with answer a and, when a.Order is not
	// nil, inserts the order, in one transaction. ErrClaimLost if t no
	// longer holds it.
	Complete(ctx context.Context, t Ticket, a Answer, now time.Time) error
	// Free deletes t's claim, and when release is set enqueues the release
	// of its order id in the same transaction. ErrClaimLost if t no longer
	// holds it.
	Free(ctx context.Context, t Ticket, release bool, now time.Time) error
	// EnqueueOrphanRelease enqueues the release of orderID unless an order
	// with that id exists or an in-flight claim still uses it, and reports
	// whether it did.
	EnqueueOrphanRelease(ctx context.Context, orderID string, now time.Time) (bool, error)
	// AbandonStale deletes up to limit in-flight claims whose lease ended
	// before staleBefore, enqueueing the release of each one's order id,
	// and returns how many it abandoned.
	AbandonStale(ctx context.Context, staleBefore, now time.Time, limit int) (int, error)
	// DueReleases returns up to limit pending releases due at now, oldest
	// first.
	DueReleases(ctx context.Context, now time.Time, limit int) ([]PendingRelease, error)
	// ReleaseDone removes the pending release of orderID (no error if none).
	ReleaseDone(ctx context.Context, orderID string) error
	// ReleaseFailed records a failed attempt and when to try again.
	ReleaseFailed(ctx context.Context, orderID string, next time.Time) error
	// Order returns userID's order id, or ErrOrderNotFound (also when the
	// order is another user's).
	Order(ctx context.Context, userID, id string) (Order, error)
	// Orders returns up to limit of userID's orders, newest first (by
	// creation time, then id, descending), after the cursor when not nil.
	Orders(ctx context.Context, userID string, after *Cursor, limit int) ([]Order, error)
	// Cancel marks userID's order id cancelled (a cancelled order stays as
	// it is) and returns it, or ErrOrderNotFound.
	Cancel(ctx context.Context, userID, id string, now time.Time) (Order, error)
}

// Migrations is the schema history of the orders database, for
// sqlite.Open. Append; never edit.
var Migrations = []sqlite.Migration{
	sqlite.SQL(
		`CREATE TABLE orders (
			id          TEXT PRIMARY KEY,
			user_id     TEXT NOT NULL,
			status      TEXT NOT NULL CHECK (status IN ('confirmed', 'cancelled')),
			total_cents INTEGER NOT NULL CHECK (total_cents >= 0),
			created_at  INTEGER NOT NULL, -- unix milliseconds
			updated_at  INTEGER NOT NULL
		) STRICT`,
		`CREATE INDEX orders_by_user ON orders (user_id, created_at DESC, id DESC)`,
		`CREATE TABLE order_items (
			order_id    TEXT NOT NULL REFERENCES orders (id) ON DELETE CASCADE,
			line        INTEGER NOT NULL,
			product_id  TEXT NOT NULL,
			quantity    INTEGER NOT NULL CHECK (quantity > 0),
			price_cents INTEGER NOT NULL CHECK (price_cents >= 0),
			PRIMARY KEY (order_id, line)
		) STRICT, WITHOUT ROWID`,
		// One row per (user, key). state in_flight: held by attempt until
		// lease_until; done: response_status and response_body are the
		// key's final answer. order_id is chosen when the key is first
		// claimed and kept by takeovers.
		`CREATE TABLE idempotency_keys (
			user_id         TEXT NOT NULL,
			key             TEXT NOT NULL,
			request_hash    TEXT NOT NULL,
			order_id        TEXT NOT NULL UNIQUE,
			state           TEXT NOT NULL CHECK (state IN ('in_flight', 'done')),
			attempt         INTEGER NOT NULL,
			lease_until     INTEGER NOT NULL, -- unix milliseconds
			response_status INTEGER,
			response_body   BLOB,
			created_at      INTEGER NOT NULL,
			updated_at      INTEGER NOT NULL,
			PRIMARY KEY (user_id, key)
		) STRICT, WITHOUT ROWID`,
		`CREATE INDEX idempotency_in_flight ON idempotency_keys (lease_until) WHERE state = 'in_flight'`,
		// Releases of stock to send to the catalog: written in the same
		// transaction that gives up the order id, deleted once the catalog
		// confirms.
		`CREATE TABLE pending_releases (
			order_id   TEXT PRIMARY KEY,
			attempts   INTEGER NOT NULL DEFAULT 0,
			next_at    INTEGER NOT NULL,
			created_at INTEGER NOT NULL
		) STRICT`,
		`CREATE INDEX pending_releases_due ON pending_releases (next_at)`,
	),
	// A done key keeps its answer as the service knows it (the Answer as
	// JSON: the order as placed, or the refusal), not as an HTTP status
	// and body: the transport writes it, first time and replays alike.
	sqlite.SQL(
		`UPDATE idempotency_keys SET response_body = CASE response_status
			WHEN 201 THEN CAST('{"order":' || CAST(response_body AS TEXT) || '}' AS BLOB)
			ELSE CAST('{"out_of_stock":true}' AS BLOB) END
		  WHERE state = 'done'`,
		`ALTER TABLE idempotency_keys DROP COLUMN response_status`,
		`ALTER TABLE idempotency_keys RENAME COLUMN response_body TO answer`,
	),
}

// SQLiteStore is the [Store] on a SQLite database opened with sqlite.Open
// and [Migrations]. Write methods run in IMMEDIATE transactions, so claims
// are atomic across the replicas that share the file. It is safe for
// concurrent use.
type SQLiteStore struct {
	db *sqlite.DB
}

var _ Store = (*SQLiteStore)(nil)

// NewSQLiteStore returns the store on db, which must have been opened with
// [Migrations].
func NewSQLiteStore(db *sqlite.DB) *SQLiteStore { return &SQLiteStore{db: db} }

func ms(t time.Time) int64 { return t.UnixMilli() }

// Claim implements [Store].
func (s *SQLiteStore) Claim(ctx context.Context, r ClaimRequest) (Claim, error) {
	var c Claim
	err := s.db.WriteTx(ctx, func(tx *sql.Tx) error {
		var (
			state   string
			attempt int64
			lease   int64
			orderID string
			answer  []byte
		)
		err := tx.QueryRowContext(ctx,
			`SELECT request_hash, order_id, state, attempt, lease_until, answer
			   FROM idempotency_keys WHERE user_id = ? AND key = ?`, r.UserID, r.Key).
			Scan(&c.RequestHash, &orderID, &state, &attempt, &lease, &answer)
		switch {
		case errors.Is(err, sql.ErrNoRows):
			_, err := tx.ExecContext(ctx,
				`INSERT INTO idempotency_keys (user_id, key, request_hash, order_id, state, attempt, lease_until, created_at, updated_at)
				 VALUES (?, ?, ?, ?, 'in_flight', 1, ?, ?, ?)`,
				r.UserID, r.Key, r.RequestHash, r.OrderID, ms(r.LeaseUntil), ms(r.Now), ms(r.Now))
			if err != nil {
				return err
			}
			c = Claim{State: ClaimAcquired, RequestHash: r.RequestHash, Ticket: Ticket{
				UserID: r.UserID, Key: r.Key, RequestHash: r.RequestHash, OrderID: r.OrderID, Attempt: 1}}
			return nil
		case err != nil:
			return err
		}
		switch {
		case state == "done":
			c.State = ClaimDone
			return decodeAnswer(answer, &c.Answer)
		case lease >= ms(r.Now) || c.RequestHash != r.RequestHash:
			// Only a retry of the same request may take a claim over.
			c.State = ClaimBusy
		default:
			attempt++
			if _, err := tx.ExecContext(ctx,
				`UPDATE idempotency_keys SET attempt = ?, lease_until = ?, updated_at = ?
				  WHERE user_id = ? AND key = ?`,
				attempt, ms(r.LeaseUntil), ms(r.Now), r.UserID, r.Key); err != nil {
				return err
			}
			c.State = ClaimAcquired
			c.Ticket = Ticket{UserID: r.UserID, Key: r.Key, RequestHash: c.RequestHash,
				OrderID: orderID, Attempt: attempt, TakenOver: true}
		}
		return nil
	})
	if err != nil {
		return Claim{}, fmt.Errorf("orders: claim: %w", err)
	}
	return c, nil
}

// Lookup implements [Store].
func (s *SQLiteStore) Lookup(ctx context.Context, userID, key string) (Claim, error) {
	var (
		c      Claim
		state  string
		answer []byte
	)
	err := s.db.QueryRowContext(ctx,
		`SELECT request_hash, order_id, state, attempt, answer
		   FROM idempotency_keys WHERE user_id = ? AND key = ?`, userID, key).
		Scan(&c.RequestHash, &c.Ticket.OrderID, &state, &c.Ticket.Attempt, &answer)
	if errors.Is(err, sql.ErrNoRows) {
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
func (s *SQLiteStore) Complete(ctx context.Context, t Ticket, a Answer, now time.Time) error {
	if (a.Order == nil) == !a.OutOfStock {
		return errors.New("orders: complete claim: an answer sets exactly one of Order and OutOfStock")
	}
	answer, err := json.Marshal(a)
	if err != nil {
		return fmt.Errorf("orders: complete claim: %w", err)
	}
	o := a.Order
	err = s.db.WriteTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx,
			`UPDATE idempotency_keys SET state = 'done', answer = ?, updated_at = ?
			  WHERE user_id = ? AND key = ? AND attempt = ? AND state = 'in_flight'`,
			answer, ms(now), t.UserID, t.Key, t.Attempt)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil {
			return err
		} else if n != 1 {
			return ErrClaimLost
		}
		if o == nil {
			return nil
		}
		if _, err := tx.ExecContext(ctx,
			`INSERT INTO orders (id, user_id, status, total_cents, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?)`,
			o.ID, o.UserID, o.Status, o.TotalCents, ms(o.CreatedAt), ms(o.CreatedAt)); err != nil {
			return err
		}
		for i, l := range o.Items {
			if _, err := tx.ExecContext(ctx,
				`INSERT INTO order_items (order_id, line, product_id, quantity, price_cents) VALUES (?, ?, ?, ?, ?)`,
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

// decodeAnswer reads a done key's stored answer into a.
func decodeAnswer(b []byte, a *Answer) error {
	if err := json.Unmarshal(b, a); err != nil || (a.Order == nil) == !a.OutOfStock {
		return fmt.Errorf("orders: stored answer %.40q is not an answer (%v)", b, err)
	}
	return nil
}

// Free implements [Store].
func (s *SQLiteStore) Free(ctx context.Context, t Ticket, release bool, now time.Time) error {
	err := s.db.WriteTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx,
			`DELETE FROM idempotency_keys WHERE user_id = ? AND key = ? AND attempt = ? AND state = 'in_flight'`,
			t.UserID, t.Key, t.Attempt)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil {
			return err
		} else if n != 1 {
			return ErrClaimLost
		}
		if release {
			return enqueueRelease(ctx, tx, t.OrderID, now)
		}
		return nil
	})
	if err != nil && !errors.Is(err, ErrClaimLost) {
		return fmt.Errorf("orders: free claim: %w", err)
	}
	return err
}

func enqueueRelease(ctx context.Context, tx *sql.Tx, orderID string, now time.Time) error {
	_, err := tx.ExecContext(ctx,
		`INSERT INTO pending_releases (order_id, attempts, next_at, created_at) VALUES (?, 0, ?, ?)
		 ON CONFLICT (order_id) DO UPDATE SET next_at = MIN(next_at, excluded.next_at)`,
		orderID, ms(now), ms(now))
	return err
}

// EnqueueOrphanRelease implements [Store].
func (s *SQLiteStore) EnqueueOrphanRelease(ctx context.Context, orderID string, now time.Time) (bool, error) {
	var queued bool
	err := s.db.WriteTx(ctx, func(tx *sql.Tx) error {
		var used bool
		if err := tx.QueryRowContext(ctx,
			`SELECT EXISTS (SELECT 1 FROM orders WHERE id = ?)
			     OR EXISTS (SELECT 1 FROM idempotency_keys WHERE order_id = ? AND state = 'in_flight')`,
			orderID, orderID).Scan(&used); err != nil {
			return err
		}
		if used {
			return nil
		}
		queued = true
		return enqueueRelease(ctx, tx, orderID, now)
	})
	if err != nil {
		return false, fmt.Errorf("orders: enqueue release: %w", err)
	}
	return queued, nil
}

// AbandonStale implements [Store].
func (s *SQLiteStore) AbandonStale(ctx context.Context, staleBefore, now time.Time, limit int) (int, error) {
	var n int
	err := s.db.WriteTx(ctx, func(tx *sql.Tx) error {
		rows, err := tx.QueryContext(ctx,
			`SELECT user_id, key, order_id FROM idempotency_keys
			  WHERE state = 'in_flight' AND lease_until < ? ORDER BY lease_until LIMIT ?`,
			ms(staleBefore), limit)
		if err != nil {
			return err
		}
		var stale [][3]string
		for rows.Next() {
			var r [3]string
			if err := rows.Scan(&r[0], &r[1], &r[2]); err != nil {
				rows.Close()
				return err
			}
			stale = append(stale, r)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		for _, r := range stale {
			if _, err := tx.ExecContext(ctx,
				`DELETE FROM idempotency_keys WHERE user_id = ? AND key = ? AND state = 'in_flight'`, r[0], r[1]); err != nil {
				return err
			}
			// An in-flight claim never has its order (they are written
			// together), but check rather than release a live order's stock.
			var exists bool
			if err := tx.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM orders WHERE id = ?)`, r[2]).Scan(&exists); err != nil {
				return err
			}
			if !exists {
				if err := enqueueRelease(ctx, tx, r[2], now); err != nil {
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
func (s *SQLiteStore) DueReleases(ctx context.Context, now time.Time, limit int) ([]PendingRelease, error) {
	rows, err := s.db.QueryContext(ctx,
		`SELECT order_id, attempts FROM pending_releases WHERE next_at <= ? ORDER BY next_at, order_id LIMIT ?`,
		ms(now), limit)
	if err != nil {
		return nil, fmt.Errorf("orders: due releases: %w", err)
	}
	defer rows.Close()
	var out []PendingRelease
	for rows.Next() {
		var p PendingRelease
		if err := rows.Scan(&p.OrderID, &p.Attempts); err != nil {
			return nil, fmt.Errorf("orders: due releases: %w", err)
		}
		out = append(out, p)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("orders: due releases: %w", err)
	}
	return out, nil
}

// ReleaseDone implements [Store].
func (s *SQLiteStore) ReleaseDone(ctx context.Context, orderID string) error {
	err := s.db.WriteTx(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `DELETE FROM pending_releases WHERE order_id = ?`, orderID)
		return err
	})
	if err != nil {
		return fmt.Errorf("orders: release done: %w", err)
	}
	return nil
}

// ReleaseFailed implements [Store].
func (s *SQLiteStore) ReleaseFailed(ctx context.Context, orderID string, next time.Time) error {
	err := s.db.WriteTx(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx,
			`UPDATE pending_releases SET attempts = attempts + 1, next_at = ? WHERE order_id = ?`, ms(next), orderID)
		return err
	})
	if err != nil {
		return fmt.Errorf("orders: release failed: %w", err)
	}
	return nil
}

// Order implements [Store].
func (s *SQLiteStore) Order(ctx context.Context, userID, id string) (Order, error) {
	list, err := s.query(ctx,
		`SELECT id, user_id, status, total_cents, created_at FROM orders WHERE id = ? AND user_id = ?`, id, userID)
	if err != nil {
		return Order{}, err
	}
	if len(list) == 0 {
		return Order{}, ErrOrderNotFound
	}
	return list[0], nil
}

// Orders implements [Store].
func (s *SQLiteStore) Orders(ctx context.Context, userID string, after *Cursor, limit int) ([]Order, error) {
	if after == nil {
		return s.query(ctx,
			`SELECT id, user_id, status, total_cents, created_at FROM orders WHERE user_id = ?
			  ORDER BY created_at DESC, id DESC LIMIT ?`, userID, limit)
	}
	at := ms(after.CreatedAt)
	return s.query(ctx,
		`SELECT id, user_id, status, total_cents, created_at FROM orders
		  WHERE user_id = ? AND (created_at < ? OR (created_at = ? AND id < ?))
		  ORDER BY created_at DESC, id DESC LIMIT ?`, userID, at, at, after.ID, limit)
}

// Cancel implements [Store].
func (s *SQLiteStore) Cancel(ctx context.Context, userID, id string, now time.Time) (Order, error) {
	err := s.db.WriteTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx,
			`UPDATE orders SET status = 'cancelled', updated_at = ? WHERE id = ? AND user_id = ? AND status = 'confirmed'`,
			ms(now), id, userID)
		if err != nil {
			return err
		}
		// The release of the order's stock is queued in the same
		// transaction, so no crash can leave a cancelled order holding
		// stock, or a confirmed one without it.
		if n, err := res.RowsAffected(); err != nil || n == 0 {
			return err
		}
		return enqueueRelease(ctx, tx, id, now)
	})
	if err != nil {
		return Order{}, fmt.Errorf("orders: cancel: %w", err)
	}
	return s.Order(ctx, userID, id)
}

// query runs a query for orders' own columns and loads their items.
func (s *SQLiteStore) query(ctx context.Context, q string, args ...any) ([]Order, error) {
	rows, err := s.db.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("orders: query orders: %w", err)
	}
	var list []Order
	for rows.Next() {
		var (
			o       Order
			created int64
		)
		if err := rows.Scan(&o.ID, &o.UserID, &o.Status, &o.TotalCents, &created); err != nil {
			rows.Close()
			return nil, fmt.Errorf("orders: query orders: %w", err)
		}
		o.CreatedAt = time.UnixMilli(created).UTC()
		o.Items = []Line{}
		list = append(list, o)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("orders: query orders: %w", err)
	}
	if len(list) == 0 {
		return list, nil
	}
	index := make(map[string]int, len(list))
	ids := make([]any, len(list))
	for i, o := range list {
		index[o.ID] = i
		ids[i] = o.ID
	}
	items, err := s.db.QueryContext(ctx,
		`SELECT order_id, product_id, quantity, price_cents FROM order_items
		  WHERE order_id IN (?`+strings.Repeat(", ?", len(ids)-1)+`) ORDER BY order_id, line`, ids...)
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
