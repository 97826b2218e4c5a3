package users

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/switchyard/switchyard/examples/ecommerce/internal/platform"
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
}

// Migrations is the users database's schema history, for platform.OpenDB.
var Migrations = []platform.Migration{
	platform.SQL(`CREATE TABLE users (
		id            TEXT PRIMARY KEY,
		email         TEXT NOT NULL UNIQUE,
		name          TEXT NOT NULL,
		role          TEXT NOT NULL CHECK (role IN ('user', 'admin')),
		password_hash TEXT NOT NULL,
		created_at    INTEGER NOT NULL -- Unix milliseconds
	)`),
}

// SQLiteStore is the Store on a platform.DB opened with Migrations.
// It is safe for concurrent use, and replicas may share the file.
type SQLiteStore struct {
	db *platform.DB
}

var _ Store = (*SQLiteStore)(nil)

// NewSQLiteStore returns a Store on db, which must have been opened with
// Migrations.
func NewSQLiteStore(db *platform.DB) *SQLiteStore { return &SQLiteStore{db: db} }

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
