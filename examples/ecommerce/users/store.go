package users

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/switchyard/switchyard/examples/ecommerce/internal/sqlite"
)

// Record is a user as stored: the public fields and the password hash.
type Record struct {
	User
	PasswordHash string
	CreatedAt    time.Time
}

// Store keeps users. It is what a PostgreSQL implementation would provide
// beside [SQLiteStore]. Implementations must be safe for concurrent use,
// also across processes sharing the same database.
type Store interface {
	// Create stores r. It fails with ErrEmailTaken if a user with r.Email
	// exists, atomically: of two concurrent creates with one e-mail
	// address exactly one succeeds.
	Create(ctx context.Context, r Record) error
	// ByEmail returns the user with the (normalised) e-mail address, or an
	// error wrapping ErrNotFound.
	ByEmail(ctx context.Context, email string) (Record, error)
	// ByID returns the user with id, or an error wrapping ErrNotFound.
	ByID(ctx context.Context, id string) (Record, error)
	// PutAdmin stores r, whose Role is admin, or, if a user with r.Email
	// exists, gives that user role admin and r.PasswordHash, keeping its
	// id, name and creation time; it returns the record as stored. It is
	// one atomic step: of concurrent calls with one address, one inserts
	// and the others update.
	PutAdmin(ctx context.Context, r Record) (Record, error)
	// RememberSource records that userID logged in from the client
	// address source at at. It keeps the MaxKnownSources most recent
	// addresses of each user.
	RememberSource(ctx context.Context, userID, source string, at time.Time) error
	// KnownSource reports whether the user with the (normalised) e-mail
	// address logged in from source at or after since.
	KnownSource(ctx context.Context, email, source string, since time.Time) (bool, error)
}

// MaxKnownSources is how many client addresses [Store.RememberSource]
// keeps per user.
const MaxKnownSources = 20

// Migrations is the users database's schema history, for sqlite.Open.
var Migrations = []sqlite.Migration{
	sqlite.SQL(`CREATE TABLE users (
		id            TEXT PRIMARY KEY,
		email         TEXT NOT NULL UNIQUE,
		name          TEXT NOT NULL,
		role          TEXT NOT NULL CHECK (role IN ('user', 'admin')),
		password_hash TEXT NOT NULL,
		created_at    INTEGER NOT NULL -- Unix milliseconds
	)`),
	sqlite.SQL(`CREATE TABLE login_sources (
		user_id         TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
		source          TEXT NOT NULL, -- ClientAddr
		last_success_at INTEGER NOT NULL, -- Unix milliseconds
		PRIMARY KEY (user_id, source)
	) WITHOUT ROWID`),
}

// SQLiteStore is the Store on a sqlite.DB opened with Migrations.
// It is safe for concurrent use, and replicas may share the file.
type SQLiteStore struct {
	db *sqlite.DB
}

var _ Store = (*SQLiteStore)(nil)

// NewSQLiteStore returns a Store on db, which must have been opened with
// Migrations.
func NewSQLiteStore(db *sqlite.DB) *SQLiteStore { return &SQLiteStore{db: db} }

// Create implements Store. The UNIQUE constraint on email, checked with ON
// CONFLICT DO NOTHING, makes the duplicate check and the insert one atomic
// step.
func (s *SQLiteStore) Create(ctx context.Context, r Record) error {
	return s.db.WriteTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `INSERT INTO users (id, email, name, role, password_hash, created_at)
			VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (email) DO NOTHING`,
			r.ID, r.Email, r.Name, r.Role, r.PasswordHash, r.CreatedAt.UnixMilli())
		if err != nil {
			return fmt.Errorf("users: insert: %w", err)
		}
		if n, err := res.RowsAffected(); err != nil {
			return fmt.Errorf("users: insert: %w", err)
		} else if n == 0 {
			return ErrEmailTaken
		}
		return nil
	})
}

// ByEmail implements Store.
func (s *SQLiteStore) ByEmail(ctx context.Context, email string) (Record, error) {
	return s.one(ctx, `SELECT id, email, name, role, password_hash, created_at FROM users WHERE email = ?`, email)
}

// ByID implements Store.
func (s *SQLiteStore) ByID(ctx context.Context, id string) (Record, error) {
	return s.one(ctx, `SELECT id, email, name, role, password_hash, created_at FROM users WHERE id = ?`, id)
}

// PutAdmin implements Store with one INSERT … ON CONFLICT (email) DO
// UPDATE, which SQLite runs atomically under the write lock.
func (s *SQLiteStore) PutAdmin(ctx context.Context, r Record) (Record, error) {
	var out Record
	var created int64
	err := s.db.WriteTx(ctx, func(tx *sql.Tx) error {
		return tx.QueryRowContext(ctx, `INSERT INTO users (id, email, name, role, password_hash, created_at)
			VALUES (?, ?, ?, ?, ?, ?)
			ON CONFLICT (email) DO UPDATE SET role = excluded.role, password_hash = excluded.password_hash
			RETURNING id, email, name, role, password_hash, created_at`,
			r.ID, r.Email, r.Name, r.Role, r.PasswordHash, r.CreatedAt.UnixMilli()).
			Scan(&out.ID, &out.Email, &out.Name, &out.Role, &out.PasswordHash, &created)
	})
	if err != nil {
		return Record{}, fmt.Errorf("users: put admin: %w", err)
	}
	out.CreatedAt = time.UnixMilli(created).UTC()
	return out, nil
}

// RememberSource implements Store.
func (s *SQLiteStore) RememberSource(ctx context.Context, userID, source string, at time.Time) error {
	err := s.db.WriteTx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `INSERT INTO login_sources (user_id, source, last_success_at) VALUES (?, ?, ?)
			ON CONFLICT (user_id, source) DO UPDATE SET last_success_at = MAX(last_success_at, excluded.last_success_at)`,
			userID, source, at.UnixMilli()); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `DELETE FROM login_sources WHERE user_id = ? AND source NOT IN
			(SELECT source FROM login_sources WHERE user_id = ? ORDER BY last_success_at DESC LIMIT ?)`,
			userID, userID, MaxKnownSources)
		return err
	})
	if err != nil {
		return fmt.Errorf("users: remember login source: %w", err)
	}
	return nil
}

// KnownSource implements Store.
func (s *SQLiteStore) KnownSource(ctx context.Context, email, source string, since time.Time) (bool, error) {
	var n int
	err := s.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM login_sources s JOIN users u ON u.id = s.user_id
		WHERE u.email = ? AND s.source = ? AND s.last_success_at >= ?`, email, source, since.UnixMilli()).Scan(&n)
	if err != nil {
		return false, fmt.Errorf("users: known login source: %w", err)
	}
	return n > 0, nil
}

func (s *SQLiteStore) one(ctx context.Context, query, arg string) (Record, error) {
	var r Record
	var created int64
	err := s.db.QueryRowContext(ctx, query, arg).Scan(&r.ID, &r.Email, &r.Name, &r.Role, &r.PasswordHash, &created)
	if errors.Is(err, sql.ErrNoRows) {
		return Record{}, ErrNotFound
	}
	if err != nil {
		return Record{}, fmt.Errorf("users: query: %w", err)
	}
	r.CreatedAt = time.UnixMilli(created).UTC()
	return r, nil
}
