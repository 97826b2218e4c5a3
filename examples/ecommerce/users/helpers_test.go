package users_test

import (
	"context"
	"crypto/ed25519"
	"path/filepath"
	"testing"

	"github.com/switchyard/switchyard/examples/ecommerce/internal/sqlite"
	"github.com/switchyard/switchyard/examples/ecommerce/users"
)

// cheap keeps the KDF fast in tests; production uses users.DefaultArgon2.
var cheap = users.Argon2Params{Time: 1, MemoryKiB: 64, Threads: 1}

const adminEmail = "root@shop.example"

type fixture struct {
	path  string
	db    *sqlite.DB
	store *users.SQLiteStore
	key   ed25519.PrivateKey
	svc   users.Service
}

func newFixture(t testing.TB, opts ...users.Option) *fixture {
	t.Helper()
	dir := t.TempDir()
	path := filepath.Join(dir, users.DBFile)
	db, err := sqlite.Open(context.Background(), path, users.Migrations...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	key, err := users.LoadOrCreateKey(dir)
	if err != nil {
		t.Fatal(err)
	}
	store := users.NewSQLiteStore(db)
	all := append([]users.Option{users.WithArgon2(cheap), users.WithAdminEmail(adminEmail)}, opts...)
	svc, err := users.NewService(store, key, all...)
	if err != nil {
		t.Fatal(err)
	}
	return &fixture{path: path, db: db, store: store, key: key, svc: svc}
}
