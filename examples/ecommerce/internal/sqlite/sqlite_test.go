package sqlite_test

import (
	"context"
	"database/sql"
	"errors"
	"path/filepath"
	"sync"
	"testing"

	"github.com/switchyard/switchyard/examples/ecommerce/internal/sqlite"
)

var testMigrations = []sqlite.Migration{
	sqlite.SQL(`CREATE TABLE items (id INTEGER PRIMARY KEY, n INTEGER NOT NULL)`),
	// A seed: must run exactly once, however many processes open the file.
	sqlite.SQL(`INSERT INTO items (n) VALUES (1)`, `INSERT INTO items (n) VALUES (2)`),
}

func count(t *testing.T, db *sqlite.DB) int {
	t.Helper()
	var n int
	if err := db.QueryRow(`SELECT COUNT(*) FROM items`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func TestOpenSettings(t *testing.T) {
	ctx := context.Background()
	db, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "sub", "x.db"), testMigrations...)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for pragma, want := range map[string]string{
		"journal_mode": "wal",
		"foreign_keys": "1",
		"busy_timeout": "10000",
		"synchronous":  "1", // NORMAL
	} {
		var got string
		if err := db.QueryRow("PRAGMA " + pragma).Scan(&got); err != nil {
			t.Fatal(err)
		}
		if got != want {
			t.Errorf("PRAGMA %s = %s, want %s", pragma, got, want)
		}
	}
	if n := count(t, db); n != 2 {
		t.Errorf("rows = %d, want 2", n)
	}
}

func TestOpenMigratesOnce(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "x.db")
	db, err := sqlite.Open(ctx, path, testMigrations[:1]...)
	if err != nil {
		t.Fatal(err)
	}
	if n := count(t, db); n != 0 {
		t.Fatalf("rows = %d after the first migration only", n)
	}
	db.Close()
	for range 2 { // the second migration runs on the first reopen only
		db, err := sqlite.Open(ctx, path, testMigrations...)
		if err != nil {
			t.Fatal(err)
		}
		if n := count(t, db); n != 2 {
			t.Fatalf("rows = %d, want 2", n)
		}
		db.Close()
	}
	if _, err := sqlite.Open(ctx, path, testMigrations[:1]...); !errors.Is(err, sqlite.ErrSchemaTooNew) {
		t.Fatalf("older program: err = %v, want ErrSchemaTooNew", err)
	}
}

// Replicas starting together on a new file: every migration, the seed
// included, is applied once.
func TestOpenConcurrentFirstStart(t *testing.T) {
	ctx := context.Background()
	for round := range 5 {
		path := filepath.Join(t.TempDir(), "x.db")
		var wg sync.WaitGroup
		dbs := make([]*sqlite.DB, 4)
		errs := make([]error, len(dbs))
		for i := range dbs {
			wg.Go(func() { dbs[i], errs[i] = sqlite.Open(ctx, path, testMigrations...) })
		}
		wg.Wait()
		for i, err := range errs {
			if err != nil {
				t.Fatalf("round %d, opener %d: %v", round, i, err)
			}
		}
		for _, db := range dbs {
			if n := count(t, db); n != 2 {
				t.Fatalf("round %d: rows = %d, want 2 (seeded once)", round, n)
			}
			db.Close()
		}
	}
}

func TestMigrationFailureRollsBack(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "x.db")
	boom := errors.New("boom")
	_, err := sqlite.Open(ctx, path, testMigrations[0], func(context.Context, *sql.Tx) error { return boom })
	if !errors.Is(err, boom) {
		t.Fatalf("err = %v, want boom", err)
	}
	db, err := sqlite.Open(ctx, path, testMigrations...)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if n := count(t, db); n != 2 {
		t.Fatalf("rows = %d, want 2", n)
	}
}

func TestOpenBadPath(t *testing.T) {
	if _, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "x.db?mode=ro")); err == nil {
		t.Fatal("a path with '?' was accepted")
	}
}

func TestWriteTx(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "x.db")
	db, err := sqlite.Open(ctx, path, testMigrations...)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	other, err := sqlite.Open(ctx, path, testMigrations...) // another replica
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()

	boom := errors.New("boom")
	err = db.WriteTx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.Exec(`INSERT INTO items (n) VALUES (3)`); err != nil {
			return err
		}
		return boom
	})
	if !errors.Is(err, boom) || count(t, db) != 2 {
		t.Fatalf("failed transaction: err = %v, rows = %d, want boom and 2", err, count(t, db))
	}

	// Increments from two handles and many goroutines are never lost.
	var wg sync.WaitGroup
	for i := range 40 {
		h := db
		if i%2 == 1 {
			h = other
		}
		wg.Go(func() {
			err := h.WriteTx(ctx, func(tx *sql.Tx) error {
				var n int
				if err := tx.QueryRow(`SELECT n FROM items WHERE id = 1`).Scan(&n); err != nil {
					return err
				}
				_, err := tx.Exec(`UPDATE items SET n = ? WHERE id = 1`, n+1)
				return err
			})
			if err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	var n int
	if err := db.QueryRow(`SELECT n FROM items WHERE id = 1`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 41 {
		t.Fatalf("n = %d, want 41: an IMMEDIATE transaction lost an update", n)
	}

	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if err := db.WriteTx(cctx, func(*sql.Tx) error { return nil }); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled: err = %v", err)
	}
}
