package pg

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"path"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// ErrSchemaTooNew is returned by Open when the schema has been migrated by
// a newer build than this one (it records more migrations than it was
// given).
var ErrSchemaTooNew = errors.New("pg: database schema is newer than this program")

// ErrHistoryMismatch is returned by Open when a migration the schema records
// has another name than the step at its position: the list was reordered
// or edited, or the schema belongs to something else.
var ErrHistoryMismatch = errors.New("pg: database schema history differs from this program's migrations")

// Migration is one step of a schema's history. Steps are numbered by their
// position in the list given to Open, so append new ones and never reorder,
// rename or edit old ones.
type Migration struct {
	// Name identifies the step in schema_migrations, such as the file it
	// came from ("0001_init.sql").
	Name string
	// SQL, when not empty, is executed as one simple-protocol request,
	// so it may hold several statements.
	SQL string
	// Func, when not nil, runs after SQL inside the same transaction; it
	// is for steps that need Go, such as seeding data with generated ids.
	Func func(ctx context.Context, tx pgx.Tx) error
}

// Files returns a Migration for each file whose name ends in ".sql" in dir
// of fsys (an embed.FS, usually), in the lexical order of their names, so
// name them 0001_…, 0002_….
func Files(fsys fs.FS, dir string) ([]Migration, error) {
	entries, err := fs.ReadDir(fsys, dir)
	if err != nil {
		return nil, fmt.Errorf("pg: migrations: %w", err)
	}
	var out []Migration
	for _, e := range entries {
		if e.IsDir() || !strings.HasSuffix(e.Name(), ".sql") {
			continue
		}
		b, err := fs.ReadFile(fsys, path.Join(dir, e.Name()))
		if err != nil {
			return nil, fmt.Errorf("pg: migrations: %w", err)
		}
		out = append(out, Migration{Name: e.Name(), SQL: string(b)})
	}
	slices.SortFunc(out, func(a, b Migration) int { return strings.Compare(a.Name, b.Name) })
	if len(out) == 0 {
		return nil, fmt.Errorf("pg: migrations: no .sql files in %s", dir)
	}
	return out, nil
}

// MustFiles is Files for migrations embedded in the program, where a failure
// is a build mistake: it panics on error.
func MustFiles(fsys fs.FS, dir string) []Migration {
	m, err := Files(fsys, dir)
	if err != nil {
		panic(err)
	}
	return m
}

// schemaName is what Open accepts as a schema: a plain lower-case
// identifier, so it needs no quoting anywhere.
var schemaName = regexp.MustCompile(`^[a-z_][a-z0-9_]{0,62}$`)

// Open connects to the PostgreSQL database at url (a postgres:// URL that
// pgxpool.ParseConfig accepts; see its documentation for the pool settings,
// such as pool_max_conns, that the URL may carry) and brings schema up to
// date with migrations. Every connection of the pool has its search_path set
// to schema alone, replacing any search_path the URL gives, so the
// services' unqualified table names resolve in their own schema and several
// services can share one database.
//
// The migrations run in one transaction that first takes a transaction-level
// advisory lock derived from the schema's name, then creates the schema and
// its schema_migrations table if they are missing and reads how many steps
// are recorded; the steps beyond those run in order and are recorded. Replicas
// starting together therefore apply each step exactly once: the others wait
// for the lock and then find nothing to do. A step that fails rolls the whole
// transaction back (PostgreSQL's DDL is transactional), leaving the schema as
// it was.
//
// The url's password never appears in Open's errors. The caller closes the
// pool.
func Open(ctx context.Context, url, schema string, migrations []Migration) (*pgxpool.Pool, error) {
	if !schemaName.MatchString(schema) {
		return nil, fmt.Errorf("pg: schema name %q: want a lower-case identifier", schema)
	}
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("pg: %w", err) // pgx's parse errors mask the password
	}
	cfg.ConnConfig.RuntimeParams["search_path"] = schema
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("pg: connect: %w", err)
	}
	if err := migrate(ctx, pool, schema, migrations); err != nil {
		pool.Close()
		return nil, fmt.Errorf("pg: migrate schema %s on %s: %w", schema, where(cfg), err)
	}
	return pool, nil
}

// where names the database a pool connects to, without credentials.
func where(cfg *pgxpool.Config) string {
	return fmt.Sprintf("%s:%d/%s", cfg.ConnConfig.Host, cfg.ConnConfig.Port, cfg.ConnConfig.Database)
}

func migrate(ctx context.Context, pool *pgxpool.Pool, schema string, migrations []Migration) error {
	return pgx.BeginTxFunc(ctx, pool, pgx.TxOptions{}, func(tx pgx.Tx) error {
		// hashtext gives a stable 32-bit key per schema name; another
		// program's advisory lock colliding with it merely waits.
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtext('switchyard migrations ' || $1))`, schema); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `CREATE SCHEMA IF NOT EXISTS `+schema); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `CREATE TABLE IF NOT EXISTS `+schema+`.schema_migrations (
				version    integer PRIMARY KEY,
				name       text NOT NULL,
				applied_at timestamptz NOT NULL DEFAULT now()
			)`); err != nil {
			return err
		}
		rows, err := tx.Query(ctx, `SELECT version, name FROM `+schema+`.schema_migrations ORDER BY version`)
		if err != nil {
			return err
		}
		type step struct {
			version int
			name    string
		}
		have, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (step, error) {
			var s step
			err := row.Scan(&s.version, &s.name)
			return s, err
		})
		if err != nil {
			return err
		}
		if len(have) > len(migrations) {
			return fmt.Errorf("%w: it has %d migrations, this program knows %d", ErrSchemaTooNew, len(have), len(migrations))
		}
		for i, h := range have {
			if h.version != i+1 || h.name != migrations[i].Name {
				return fmt.Errorf("%w: step %d is recorded as %d %q, this program has %q",
					ErrHistoryMismatch, i+1, h.version, h.name, migrations[i].Name)
			}
		}
		for i := len(have); i < len(migrations); i++ {
			m := migrations[i]
			if m.SQL != "" {
				// Exec with no arguments uses the simple protocol,
				// which runs a multi-statement file as one request.
				if _, err := tx.Exec(ctx, m.SQL); err != nil {
					return fmt.Errorf("migration %d (%s): %w", i+1, m.Name, err)
				}
			}
			if m.Func != nil {
				if err := m.Func(ctx, tx); err != nil {
					return fmt.Errorf("migration %d (%s): %w", i+1, m.Name, err)
				}
			}
			if _, err := tx.Exec(ctx, `INSERT INTO `+schema+`.schema_migrations (version, name) VALUES ($1, $2)`,
				i+1, m.Name); err != nil {
				return err
			}
		}
		return nil
	})
}

// MaxAttempts bounds how many times Tx runs a transaction that keeps failing
// with a serialization failure or a deadlock.
const MaxAttempts = 10

// Backoff bounds of Tx's pause between attempts: full jitter over an
// exponentially growing window from minBackoff, capped at maxBackoff.
const (
	minBackoff = 2 * time.Millisecond
	maxBackoff = 100 * time.Millisecond
)

// Tx runs fn in a transaction with isolation level iso on pool and commits
// it if fn returns nil, or rolls it back and returns fn's error. When the
// transaction fails with an error for which [Retryable] is true — at any
// statement or at commit — it is rolled back and run again from the start,
// after a jittered pause, up to MaxAttempts times in all; fn must therefore
// be safe to run several times (keep its results in variables it sets, not
// appends to). Context errors are never retried. The error after the last
// attempt wraps the database's.
func Tx(ctx context.Context, pool *pgxpool.Pool, iso pgx.TxIsoLevel, fn func(tx pgx.Tx) error) error {
	var err error
	for attempt := 1; ; attempt++ {
		err = pgx.BeginTxFunc(ctx, pool, pgx.TxOptions{IsoLevel: iso}, fn)
		if err == nil || !Retryable(err) || ctx.Err() != nil {
			return err
		}
		if attempt == MaxAttempts {
			return fmt.Errorf("pg: transaction failed %d times: %w", attempt, err)
		}
		window := min(maxBackoff, minBackoff<<(attempt-1))
		t := time.NewTimer(rand.N(window) + time.Millisecond)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return err
		}
	}
}

// SQLSTATE codes of the failures that a transaction may simply run again.
const (
	serializationFailure = "40001"
	deadlockDetected     = "40P01"
)

// Retryable reports whether err is a PostgreSQL serialization failure
// (SQLSTATE 40001, which SERIALIZABLE and REPEATABLE READ transactions get
// when they cannot be ordered) or a detected deadlock (40P01): errors that
// roll the transaction back and that running it again can cure.
func Retryable(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && (pe.Code == serializationFailure || pe.Code == deadlockDetected)
}

// IsUniqueViolation reports whether err is a unique-constraint violation
// (SQLSTATE 23505).
func IsUniqueViolation(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && pe.Code == "23505"
}

// Millis returns t rounded down to the millisecond, in UTC. The stores keep
// times at that precision, as the SQLite stores do (Unix milliseconds), so
// that a time read back equals the one written and both stores answer alike.
func Millis(t time.Time) time.Time { return time.UnixMilli(t.UnixMilli()).UTC() }
