package catalog_test

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/switchyard/switchyard/examples/ecommerce/catalog"
	"github.com/switchyard/switchyard/examples/ecommerce/catalog/catalogtest"
	"github.com/switchyard/switchyard/examples/ecommerce/internal/pg"
	"github.com/switchyard/switchyard/examples/ecommerce/internal/pg/pgtest"
)

func TestSQLiteStoreConformance(t *testing.T) {
	catalogtest.Run(t, func(t *testing.T, n int) []catalog.Store {
		path := filepath.Join(t.TempDir(), "data", catalog.DBFile)
		var out []catalog.Store
		for range n {
			out = append(out, catalog.NewSQLiteStore(openDB(t, path)))
		}
		return out
	})
}

func TestPostgresStoreConformance(t *testing.T) {
	pgtest.Server(t)
	catalogtest.Run(t, func(t *testing.T, n int) []catalog.Store {
		url := pgtest.NewDatabase(t)
		var out []catalog.Store
		for range n {
			pool, err := pg.Open(context.Background(), url, catalog.Schema, catalog.PostgresMigrations)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(pool.Close)
			out = append(out, catalog.NewPostgresStore(pool))
		}
		return out
	})
}
