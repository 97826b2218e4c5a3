package users

import (
	"context"
	"crypto/ed25519"
	"fmt"
	"net/http"
	"os"
	"path/filepath"

	"github.com/switchyard/switchyard/examples/ecommerce/internal/platform"
	"github.com/switchyard/switchyard/middleware/auth"
	shttp "github.com/switchyard/switchyard/transport/http"
)

// DBFile is the name of the users database in the data directory.
const DBFile = "users.db"

// Run runs one instance of the users service ("ecommerce serve users")
// until ctx ends or SIGINT/SIGTERM arrives: it opens cfg.Data/users.db and
// the signing key in cfg.Data (creating both on first start), joins the
// registry at cfg.Registry and serves on cfg.Listen as "users" through
// platform.Serve. Every replica pointed at the same data directory shares the
// database and the key.
func Run(ctx context.Context, cfg platform.ServiceConfig) error { return RunWith(ctx, cfg) }

// RunWith is Run with opts passed to NewService after the admin address
// (tests use WithArgon2 with cheap parameters).
func RunWith(ctx context.Context, cfg platform.ServiceConfig, opts ...Option) error {
	if err := cfg.Validate(); err != nil {
		return err
	}
	if err := os.MkdirAll(cfg.Data, 0o700); err != nil {
		return fmt.Errorf("users: data directory (--data): %w", err)
	}
	db, err := platform.OpenDB(ctx, filepath.Join(cfg.Data, DBFile), Migrations...)
	if err != nil {
		return err
	}
	defer db.Close()
	key, err := LoadOrCreateKey(cfg.Data)
	if err != nil {
		return err
	}
	svc, err := NewService(NewSQLiteStore(db), key, append([]Option{WithAdminEmail(cfg.AdminEmail)}, opts...)...)
	if err != nil {
		return err
	}
	h, err := NewHandler(svc, key)
	if err != nil {
		return err
	}
	reg, err := platform.Connect(ctx, cfg.Registry)
	if err != nil {
		return err
	}
	defer reg.Close()
	return platform.Serve(ctx, platform.ServeOptions{
		Service:    ServiceName,
		Handler:    h,
		Listen:     cfg.Listen,
		Registrar:  reg.Registrar,
		Resolver:   reg.Resolver,
		Logger:     cfg.Logger,
		DrainDelay: cfg.DrainDelay,
		Checks:     map[string]shttp.CheckFunc{"db": db.PingContext},
	})
}

// NewHandler returns the HTTP handler of svc, checking the bearer tokens of
// GET /v1/me against key's own public key (this service signs them, so it
// needs no JWKS fetch).
func NewHandler(svc Service, key ed25519.PrivateKey) (*http.ServeMux, error) {
	pub := key.Public().(ed25519.PublicKey)
	v, err := platform.NewValidator(auth.StaticKeys(auth.Key{ID: platform.KeyID(pub), Alg: platform.Algorithm, Public: pub}))
	if err != nil {
		return nil, err
	}
	return NewHTTPHandler(MakeEndpoints(svc), v), nil
}
