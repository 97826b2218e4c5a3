package users_test

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/switchyard/switchyard/examples/ecommerce/internal/pg"
	"github.com/switchyard/switchyard/examples/ecommerce/internal/pg/pgtest"
	"github.com/switchyard/switchyard/examples/ecommerce/internal/sqlite"
	"github.com/switchyard/switchyard/examples/ecommerce/users"
	"github.com/switchyard/switchyard/examples/ecommerce/users/userstest"
)

func TestSQLiteStoreConformance(t *testing.T) {
	userstest.Run(t, func(t *testing.T, n int) []users.Store {
		path := filepath.Join(t.TempDir(), "data", users.DBFile)
		var out []users.Store
		for range n {
			db, err := sqlite.Open(context.Background(), path, users.Migrations...)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { db.Close() })
			out = append(out, users.NewSQLiteStore(db))
		}
		return out
	})
}

func TestPostgresStoreConformance(t *testing.T) {
	pgtest.Server(t)
	userstest.Run(t, func(t *testing.T, n int) []users.Store {
		url := pgtest.NewDatabase(t)
		var out []users.Store
		for range n {
			pool, err := pg.Open(context.Background(), url, users.Schema, users.PostgresMigrations)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(pool.Close)
			out = append(out, users.NewPostgresStore(pool))
		}
		return out
	})
}
