package pg_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/fstest"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/switchyard/switchyard/examples/ecommerce/internal/pg"
	"github.com/switchyard/switchyard/examples/ecommerce/internal/pg/pgtest"
)

var steps = []pg.Migration{
	{Name: "0001_notes.sql", SQL: `CREATE TABLE notes (id text PRIMARY KEY, body text NOT NULL);
		CREATE INDEX notes_by_body ON notes (body);`},
	{Name: "seed", Func: func(ctx context.Context, tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `INSERT INTO notes VALUES ('n1', 'hello')`)
		return err
	}},
}

func TestFiles(t *testing.T) {
	fsys := fstest.MapFS{
		"m/0002_b.sql": {Data: []byte("B")},
		"m/0001_a.sql": {Data: []byte("A")},
		"m/README":     {Data: []byte("not a step")},
	}
	got, err := pg.Files(fsys, "m")
	if err != nil || len(got) != 2 || got[0].Name != "0001_a.sql" || got[0].SQL != "A" || got[1].Name != "0002_b.sql" {
		t.Fatalf("Files = %+v, %v", got, err)
	}
	if _, err := pg.Files(fstest.MapFS{"m/README": {}}, "m"); err == nil {
		t.Fatal("Files of a directory without .sql files: no error")
	}
}

// Replicas starting together on an empty database apply each step once.
func TestOpenConcurrentlyMigratesOnce(t *testing.T) {
	t.Parallel()
	url := pgtest.NewDatabase(t)
	ctx := context.Background()
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	for range 4 {
		wg.Go(func() {
			pool, err := pg.Open(ctx, url, "notes", steps)
			if err != nil {
				errs <- err
				return
			}
			pool.Close()
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	pool, err := pg.Open(ctx, url, "notes", steps)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	var notes, recorded int
	if err := pool.QueryRow(ctx, `SELECT (SELECT COUNT(*) FROM notes), (SELECT COUNT(*) FROM schema_migrations)`).
		Scan(&notes, &recorded); err != nil {
		t.Fatal(err)
	}
	if notes != 1 || recorded != 2 {
		t.Fatalf("notes = %d, recorded steps = %d; want 1 and 2", notes, recorded)
	}
	// The tables are in the schema, not in public.
	var schema string
	if err := pool.QueryRow(ctx, `SELECT table_schema FROM information_schema.tables WHERE table_name = 'notes'`).
		Scan(&schema); err != nil || schema != "notes" {
		t.Fatalf("notes is in schema %q (%v), want notes", schema, err)
	}
}

// Two schemas of one database are separate: the same table name in each.
func TestOpenSchemasAreSeparate(t *testing.T) {
	t.Parallel()
	url := pgtest.NewDatabase(t)
	ctx := context.Background()
	a, err := pg.Open(ctx, url, "a", steps[:1])
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	b, err := pg.Open(ctx, url, "b", steps)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	var na, nb int
	if err := a.QueryRow(ctx, `SELECT COUNT(*) FROM notes`).Scan(&na); err != nil {
		t.Fatal(err)
	}
	if err := b.QueryRow(ctx, `SELECT COUNT(*) FROM notes`).Scan(&nb); err != nil {
		t.Fatal(err)
	}
	if na != 0 || nb != 1 {
		t.Fatalf("a has %d notes, b %d; want 0 and 1", na, nb)
	}
}

func TestOpenRefusesOtherHistories(t *testing.T) {
	t.Parallel()
	url := pgtest.NewDatabase(t)
	ctx := context.Background()
	pool, err := pg.Open(ctx, url, "notes", steps)
	if err != nil {
		t.Fatal(err)
	}
	pool.Close()
	if _, err := pg.Open(ctx, url, "notes", steps[:1]); !errors.Is(err, pg.ErrSchemaTooNew) {
		t.Errorf("Open with fewer steps = %v, want ErrSchemaTooNew", err)
	}
	renamed := []pg.Migration{{Name: "0001_other.sql", SQL: steps[0].SQL}, steps[1]}
	if _, err := pg.Open(ctx, url, "notes", renamed); !errors.Is(err, pg.ErrHistoryMismatch) {
		t.Errorf("Open with a renamed step = %v, want ErrHistoryMismatch", err)
	}
	// A failing step rolls back everything it did, the record included.
	broken := append(steps[:2:2], pg.Migration{Name: "0003_broken.sql",
		SQL: `CREATE TABLE tags (id text); INSERT INTO nowhere VALUES (1);`})
	if _, err := pg.Open(ctx, url, "notes", broken); err == nil || !strings.Contains(err.Error(), "0003_broken.sql") {
		t.Fatalf("Open with a broken step = %v, want an error naming it", err)
	}
	pool, err = pg.Open(ctx, url, "notes", steps)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	var tags bool
	if err := pool.QueryRow(ctx, `SELECT to_regclass('tags') IS NOT NULL`).Scan(&tags); err != nil || tags {
		t.Fatalf("table of the failed step exists: %v %v", tags, err)
	}
}

func TestOpenErrorsHidePassword(t *testing.T) {
	for _, url := range []string{
		"postgres://u:s3cret@127.0.0.1:1/db?sslmode=disable&connect_timeout=1",
		"postgres://u:s3cret@127.0.0.1:1/db?sslmode=sometimes",
	} {
		_, err := pg.Open(context.Background(), url, "x", steps)
		if err == nil || strings.Contains(err.Error(), "s3cret") {
			t.Errorf("Open(%q) = %v: want an error without the password", url, err)
		}
	}
	if _, err := pg.Open(context.Background(), "postgres://127.0.0.1/db", "Bad-Name", steps); err == nil {
		t.Error("Open with schema Bad-Name: no error")
	}
}

// Write skew between two SERIALIZABLE transactions: each reads both rows and
// moves one; PostgreSQL fails one of them with 40001, and Tx runs it again,
// so both moves happen and the total is kept.
func TestTxRetriesSerializationFailures(t *testing.T) {
	t.Parallel()
	url := pgtest.NewDatabase(t)
	ctx := context.Background()
	pool, err := pg.Open(ctx, url, "bank", []pg.Migration{{Name: "1", SQL: `
		CREATE TABLE accounts (id int PRIMARY KEY, balance int NOT NULL);
		INSERT INTO accounts VALUES (1, 100), (2, 100);`}})
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()

	// Both transactions read before either writes: the first attempt of
	// each waits at the barrier, later attempts do not.
	var (
		barrier  sync.WaitGroup
		attempts atomic.Int32
		failures atomic.Int32
	)
	barrier.Add(2)
	move := func(from, to int) error {
		first := true
		return pg.Tx(ctx, pool, pgx.Serializable, func(tx pgx.Tx) error {
			attempts.Add(1)
			var total int
			if err := tx.QueryRow(ctx, `SELECT SUM(balance) FROM accounts`).Scan(&total); err != nil {
				return err
			}
			if first {
				first = false
				barrier.Done()
				barrier.Wait()
			}
			if total < 200 {
				return errors.New("money vanished")
			}
			_, err := tx.Exec(ctx, `UPDATE accounts SET balance = balance - 10 WHERE id = $1`, from)
			if err == nil {
				_, err = tx.Exec(ctx, `UPDATE accounts SET balance = balance + 10 WHERE id = $1`, to)
			}
			if pg.Retryable(err) {
				failures.Add(1)
			}
			return err
		})
	}
	var wg sync.WaitGroup
	errs := make([]error, 2)
	wg.Go(func() { errs[0] = move(1, 2) })
	wg.Go(func() { errs[1] = move(2, 1) })
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
	var a, b int
	if err := pool.QueryRow(ctx, `SELECT (SELECT balance FROM accounts WHERE id = 1), (SELECT balance FROM accounts WHERE id = 2)`).
		Scan(&a, &b); err != nil {
		t.Fatal(err)
	}
	if a != 100 || b != 100 {
		t.Fatalf("balances %d and %d, want 100 and 100", a, b)
	}
	if attempts.Load() < 3 {
		t.Fatalf("%d attempts for two transactions: no conflict happened, so nothing was retried", attempts.Load())
	}
	t.Logf("attempts %d, serialization failures seen inside the transaction %d", attempts.Load(), failures.Load())
}

func TestTxGivesUpAfterMaxAttempts(t *testing.T) {
	t.Parallel()
	url := pgtest.NewDatabase(t)
	ctx := context.Background()
	pool, err := pg.Open(ctx, url, "x", steps[:1])
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	n := 0
	fail := &pgconn.PgError{Code: "40001", Message: "could not serialize access"}
	err = pg.Tx(ctx, pool, pgx.ReadCommitted, func(pgx.Tx) error { n++; return fail })
	if !errors.Is(err, fail) || n != pg.MaxAttempts {
		t.Fatalf("Tx = %v after %d attempts, want the failure after %d", err, n, pg.MaxAttempts)
	}
	n = 0
	other := errors.New("not retryable")
	if err := pg.Tx(ctx, pool, pgx.ReadCommitted, func(pgx.Tx) error { n++; return other }); !errors.Is(err, other) || n != 1 {
		t.Fatalf("Tx = %v after %d attempts, want the error after 1", err, n)
	}
}

func TestRetryable(t *testing.T) {
	for code, want := range map[string]bool{"40001": true, "40P01": true, "23505": false, "57014": false} {
		err := error(&pgconn.PgError{Code: code})
		if got := pg.Retryable(fmtWrap(err)); got != want {
			t.Errorf("Retryable(%s) = %v, want %v", code, got, want)
		}
	}
	if pg.Retryable(context.Canceled) {
		t.Error("Retryable(context.Canceled) = true")
	}
}

func fmtWrap(err error) error { return errors.Join(errors.New("context"), err) }
