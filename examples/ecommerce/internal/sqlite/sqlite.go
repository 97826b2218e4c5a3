package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"time"

	sqlitedriver "modernc.org/sqlite" // registers the "sqlite" driver
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/switchyard/switchyard/examples/ecommerce/internal/private"
)

// SQLite settings applied to every connection Open makes.
const (
	// BusyTimeoutMillis is how long a connection waits for another
	// process's write lock before failing with SQLITE_BUSY: 10 s, far
	// longer than any of the shop's write transactions.
	BusyTimeoutMillis = 10000
	// MaxOpenConns bounds the connections of one *sql.DB. Each holds its
	// own page cache; writes are serialised anyway, and a handful of
	// readers keep two cores busy.
	MaxOpenConns = 8
)

// ErrSchemaTooNew is returned by Open when the database has been migrated
// by a newer build than this one (it records more migrations than it was
// given).
var ErrSchemaTooNew = errors.New("sqlite: database schema is newer than this program")

// Migration is one step of a database's schema history, run inside the
// migration transaction. Steps are numbered by their position in the list
// given to Open, so append new ones and never reorder or edit old ones.
type Migration func(ctx context.Context, tx *sql.Tx) error

// SQL returns a Migration that executes stmts in order.
func SQL(stmts ...string) Migration {
	return func(ctx context.Context, tx *sql.Tx) error {
		for _, s := range stmts {
			if _, err := tx.ExecContext(ctx, s); err != nil {
				return fmt.Errorf("%.60q: %w", strings.TrimSpace(s), err)
			}
		}
		return nil
	}
}

// DB is a SQLite database opened by Open. The embedded *sql.DB serves
// reads (outside transactions or in ReadOnly ones, which take no write
// lock); write transactions go through [DB.WriteTx]. A DB is safe for
// concurrent use, and several processes may open the same file.
type DB struct {
	*sql.DB
	// write admits one write transaction of this process at a time, so
	// that writers of one process queue in Go instead of polling SQLite's
	// busy handler; the busy timeout is left to arbitrate between
	// processes (replicas sharing the file).
	write chan struct{}
}

// Open opens (creating it and its directory if needed) the SQLite database
// at path with the "sqlite" driver of modernc.org/sqlite and brings its schema
// up to date. The directory is private.DirMode and the database's files are
// private.FileMode whatever the umask; wider modes found are tightened and
// logged.
//
// Every connection uses WAL journaling (readers never block the writer, and
// replicas of a service in other processes share the file safely), a busy
// timeout of BusyTimeoutMillis, foreign keys, synchronous=NORMAL (in WAL
// mode a process crash loses nothing committed; a power cut may lose the
// last transactions), and BEGIN IMMEDIATE for every transaction that is
// not ReadOnly, so that a write transaction takes the write lock when it
// begins and can never fail half-way with SQLITE_BUSY on lock upgrade.
//
// migrations run in one IMMEDIATE transaction that first creates the table
// schema_version and reads how many steps the database has seen; steps beyond
// that run in order and are recorded. Two processes opening a new database at
// once therefore apply each step exactly once: the second waits for the
// first's transaction and then finds nothing to do. A step that fails rolls
// everything back. Seeding data is a migration step like any other, which is
// how a service seeds exactly once.
func Open(ctx context.Context, path string, migrations ...Migration) (*DB, error) {
	if path == "" || strings.ContainsAny(path, "?#") {
		return nil, fmt.Errorf("sqlite: database path %q: must be a non-empty file name without '?' or '#'", path)
	}
	if err := privateDB(path); err != nil {
		return nil, err
	}
	dsn := fmt.Sprintf("%s?_busy_timeout=%d&_foreign_keys=1&_synchronous=NORMAL&_txlock=immediate", path, BusyTimeoutMillis)
	sdb, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, fmt.Errorf("sqlite: open %s: %w", path, err)
	}
	if err := useWAL(ctx, sdb); err != nil {
		sdb.Close()
		return nil, fmt.Errorf("sqlite: open %s: %w", path, err)
	}
	sdb.SetMaxOpenConns(MaxOpenConns)
	sdb.SetMaxIdleConns(MaxOpenConns)
	db := &DB{DB: sdb, write: make(chan struct{}, 1)}
	if err := db.migrate(ctx, migrations); err != nil {
		sdb.Close()
		return nil, fmt.Errorf("sqlite: migrate %s: %w", path, err)
	}
	return db, nil
}

// privateDB makes the database at path private to its owner whatever the
// umask: its directory private.DirMode, the file created empty with
// private.FileMode if missing (an empty file is a new SQLite database), and
// an existing file, -wal or -shm with wider modes tightened, logged to
// slog.Default() (Open has no logger of its own; in a service that is its
// log). SQLite gives the -wal and -shm files it creates the mode of the
// database file, so they are private too.
func privateDB(path string) error {
	if err := private.Mkdir(filepath.Dir(path), nil); err != nil {
		return fmt.Errorf("sqlite: database directory: %w", err)
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, private.FileMode)
	if err != nil {
		return fmt.Errorf("sqlite: database %s: %w", path, err)
	}
	f.Close()
	for _, p := range []string{path, path + "-wal", path + "-shm"} {
		if err := private.Tighten(p, nil); err != nil {
			return fmt.Errorf("sqlite: database %s: %w", path, err)
		}
	}
	return nil
}

// WriteTx runs fn in a write transaction (BEGIN IMMEDIATE) and commits it if
// fn returns nil, or rolls it back and returns fn's error. It waits, bounded
// by ctx, for this process's other write transactions and then, bounded by
// the busy timeout, for other processes'. fn must not start other
// transactions on db.
func (db *DB) WriteTx(ctx context.Context, fn func(tx *sql.Tx) error) error {
	select {
	case db.write <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	}
	defer func() { <-db.write }()
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	if err := fn(tx); err != nil {
		_ = tx.Rollback()
		return err
	}
	return tx.Commit()
}

// useWAL switches the file to WAL journaling, which the file remembers, so
// it is done once here rather than by every new connection. The switch needs
// an exclusive lock and SQLite does not run the busy handler for it: when
// several processes open a new file at the same moment, all but one get
// SQLITE_BUSY at once. So it is retried, with a short jittered pause, within
// the busy timeout.
func useWAL(ctx context.Context, db *sql.DB) error {
	deadline := time.Now().Add(BusyTimeoutMillis * time.Millisecond)
	for {
		var mode string
		err := db.QueryRowContext(ctx, `PRAGMA journal_mode = WAL`).Scan(&mode)
		if err == nil {
			if !strings.EqualFold(mode, "wal") {
				return fmt.Errorf("journal mode is %q, want wal", mode)
			}
			return nil
		}
		if !isBusy(err) || time.Now().After(deadline) {
			return err
		}
		t := time.NewTimer(time.Duration(5+rand.IntN(20)) * time.Millisecond)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		}
	}
}

// isBusy reports whether err is SQLITE_BUSY or one of its extended codes.
func isBusy(err error) bool {
	var e *sqlitedriver.Error
	return errors.As(err, &e) && e.Code()&0xff == sqlite3.SQLITE_BUSY
}

func (db *DB) migrate(ctx context.Context, migrations []Migration) error {
	return db.WriteTx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx,
			`CREATE TABLE IF NOT EXISTS schema_version (version INTEGER PRIMARY KEY, applied_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ','now')))`); err != nil {
			return err
		}
		var have int
		if err := tx.QueryRowContext(ctx, `SELECT COALESCE(MAX(version), 0) FROM schema_version`).Scan(&have); err != nil {
			return err
		}
		if have > len(migrations) {
			return fmt.Errorf("%w: it has %d migrations, this program knows %d", ErrSchemaTooNew, have, len(migrations))
		}
		for i := have; i < len(migrations); i++ {
			if err := migrations[i](ctx, tx); err != nil {
				return fmt.Errorf("migration %d: %w", i+1, err)
			}
			if _, err := tx.ExecContext(ctx, `INSERT INTO schema_version (version) VALUES (?)`, i+1); err != nil {
				return err
			}
		}
		return nil
	})
}
