package users

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/switchyard/switchyard/examples/ecommerce/internal/pg"
)

// Schema is the PostgreSQL schema the users service keeps its tables in.
const Schema = "users"

//go:embed migrations/*.sql
var migrationFiles embed.FS

// PostgresMigrations is the users schema's history, for pg.Open: the
// files under migrations/, in order.
var PostgresMigrations = pg.MustFiles(migrationFiles, "migrations")

// PostgresStore is the [Store] on a PostgreSQL pool opened with pg.Open,
// [Schema] and [PostgresMigrations]. It is safe for concurrent use, and
// replicas may share the database.
//
// Every method is one statement or one READ COMMITTED transaction: the
// uniqueness rules are the database's UNIQUE constraints, checked by INSERT …
// ON CONFLICT, which PostgreSQL resolves atomically against concurrent
// inserts (the later one waits for the earlier to commit), so no
// check-then-write race exists for a stronger isolation level to prevent.
type PostgresStore struct {
	pool *pgxpool.Pool
}

var _ Store = (*PostgresStore)(nil)

// NewPostgresStore returns a Store on pool, whose search path must be
// [Schema] migrated with [PostgresMigrations] (as pg.Open leaves it).
func NewPostgresStore(pool *pgxpool.Pool) *PostgresStore { return &PostgresStore{pool: pool} }

const userColumns = `id, email, name, role, password_hash, created_at`

// Create implements Store.
func (s *PostgresStore) Create(ctx context.Context, r Record) error {
	tag, err := s.pool.Exec(ctx, `INSERT INTO users (`+userColumns+`)
		VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (email) DO NOTHING`,
		r.ID, r.Email, r.Name, r.Role, r.PasswordHash, pg.Millis(r.CreatedAt))
	if err != nil {
		return fmt.Errorf("users: insert: %w", err)
	}
	if tag.RowsAffected() == 0 {
		return ErrEmailTaken
	}
	return nil
}

// ByEmail implements Store.
func (s *PostgresStore) ByEmail(ctx context.Context, email string) (Record, error) {
	return s.one(ctx, `SELECT `+userColumns+` FROM users WHERE email = $1`, email)
}

// ByID implements Store.
func (s *PostgresStore) ByID(ctx context.Context, id string) (Record, error) {
	return s.one(ctx, `SELECT `+userColumns+` FROM users WHERE id = $1`, id)
}

// PutAdmin implements Store with one INSERT … ON CONFLICT (email) DO
// UPDATE: of concurrent calls, one inserts and the others update the row it
// inserted.
func (s *PostgresStore) PutAdmin(ctx context.Context, r Record) (Record, error) {
	out, err := scanRecord(s.pool.QueryRow(ctx, `INSERT INTO users (`+userColumns+`)
		VALUES ($1, $2, $3, $4, $5, $6)
		ON CONFLICT (email) DO UPDATE SET role = excluded.role, password_hash = excluded.password_hash
		RETURNING `+userColumns,
		r.ID, r.Email, r.Name, r.Role, r.PasswordHash, pg.Millis(r.CreatedAt)))
	if err != nil {
		return Record{}, fmt.Errorf("users: put admin: %w", err)
	}
	return out, nil
}

// RememberSource implements Store. It first locks the user's row, so that
// one user's concurrent logins trim the list one after the other instead
// of deadlocking on each other's new rows.
func (s *PostgresStore) RememberSource(ctx context.Context, userID, source string, at time.Time) error {
	err := pg.Tx(ctx, s.pool, pgx.ReadCommitted, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT 1 FROM users WHERE id = $1 FOR NO KEY UPDATE`, userID); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `INSERT INTO login_sources (user_id, source, last_success_at) VALUES ($1, $2, $3)
			ON CONFLICT (user_id, source) DO UPDATE
			SET last_success_at = GREATEST(login_sources.last_success_at, excluded.last_success_at)`,
			userID, source, pg.Millis(at)); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `DELETE FROM login_sources WHERE user_id = $1 AND source NOT IN
			(SELECT source FROM login_sources WHERE user_id = $1 ORDER BY last_success_at DESC LIMIT $2)`,
			userID, MaxKnownSources)
		return err
	})
	if err != nil {
		return fmt.Errorf("users: remember login source: %w", err)
	}
	return nil
}

// KnownSource implements Store.
func (s *PostgresStore) KnownSource(ctx context.Context, email, source string, since time.Time) (bool, error) {
	var known bool
	err := s.pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM login_sources s JOIN users u ON u.id = s.user_id
		WHERE u.email = $1 AND s.source = $2 AND s.last_success_at >= $3)`, email, source, pg.Millis(since)).Scan(&known)
	if err != nil {
		return false, fmt.Errorf("users: known login source: %w", err)
	}
	return known, nil
}

func (s *PostgresStore) one(ctx context.Context, query, arg string) (Record, error) {
	r, err := scanRecord(s.pool.QueryRow(ctx, query, arg))
	if errors.Is(err, pgx.ErrNoRows) {
		return Record{}, ErrNotFound
	}
	if err != nil {
		return Record{}, fmt.Errorf("users: query: %w", err)
	}
	return r, nil
}

func scanRecord(row pgx.Row) (Record, error) {
	var r Record
	err := row.Scan(&r.ID, &r.Email, &r.Name, &r.Role, &r.PasswordHash, &r.CreatedAt)
	r.CreatedAt = r.CreatedAt.UTC()
	return r, err
}
