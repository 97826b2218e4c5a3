package pgtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"os"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

const (
	// ServerEnv names the environment variable holding the URL of a
	// PostgreSQL server tests may create databases on, as a user allowed
	// to (CREATEDB), e.g. postgres://postgres@127.0.0.1:5432/postgres.
	ServerEnv = "SWITCHYARD_TEST_POSTGRES"
	// RequireEnv, when set, turns a missing ServerEnv from a skip into a
	// failure.
	RequireEnv = "SWITCHYARD_REQUIRE_POSTGRES"
)

// Server returns the URL in ServerEnv, or skips t (fails it when RequireEnv
// is set) when there is none.
func Server(t testing.TB) string {
	t.Helper()
	u := os.Getenv(ServerEnv)
	if u != "" {
		return u
	}
	msg := "no PostgreSQL server: " + ServerEnv + " is not set"
	if _, set := os.LookupEnv(RequireEnv); set {
		t.Fatalf("%s, and %s is set", msg, RequireEnv)
	}
	t.Skipf("%s; set it to a postgres:// URL (and %s=1 to make this a failure)", msg, RequireEnv)
	return ""
}

// NewDatabase creates a database with a random name on the server of
// [Server] and returns its URL; the database is dropped, with any
// connections still open to it, when t ends. Tests that each take their
// own database can run in parallel.
func NewDatabase(t testing.TB) string {
	t.Helper()
	server := Server(t)
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	name := "switchyard_test_" + hex.EncodeToString(b)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := connect(ctx, server)
	if err != nil {
		t.Fatalf("pgtest: connect to %s: %v", ServerEnv, err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, `CREATE DATABASE `+name); err != nil {
		t.Fatalf("pgtest: create database: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		conn, err := connect(ctx, server)
		if err != nil {
			t.Errorf("pgtest: connect to drop %s: %v", name, err)
			return
		}
		defer conn.Close(ctx)
		if _, err := conn.Exec(ctx, `DROP DATABASE IF EXISTS `+name+` WITH (FORCE)`); err != nil {
			t.Errorf("pgtest: drop database %s: %v", name, err)
		}
	})
	u, err := url.Parse(server)
	if err != nil {
		t.Fatalf("pgtest: %s is not a URL: %v", ServerEnv, err)
	}
	u.Path = "/" + name
	return u.String()
}

// connect opens one connection to url, which may carry pgxpool's settings
// (pool_max_conns and the like) for the stores' pools.
func connect(ctx context.Context, url string) (*pgx.Conn, error) {
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, err
	}
	return pgx.ConnectConfig(ctx, cfg.ConnConfig)
}
