package users

import (
	"context"
	"crypto/ed25519"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"

	"github.com/switchyard/switchyard/examples/ecommerce/internal/authn"
	"github.com/switchyard/switchyard/examples/ecommerce/internal/instance"
	"github.com/switchyard/switchyard/examples/ecommerce/internal/pg"
	"github.com/switchyard/switchyard/examples/ecommerce/internal/registry"
	"github.com/switchyard/switchyard/examples/ecommerce/internal/secure"
	"github.com/switchyard/switchyard/examples/ecommerce/internal/settings"
	"github.com/switchyard/switchyard/examples/ecommerce/internal/sqlite"
	"github.com/switchyard/switchyard/middleware/auth"
	shttp "github.com/switchyard/switchyard/transport/http"
)

// DBFile is the name of the users database in the data directory.
const DBFile = "users.db"

// Run runs one instance of the users service ("ecommerce serve users")
// until ctx ends or SIGINT/SIGTERM arrives: it opens its store (schema
// users of the PostgreSQL database cfg.DB, or else cfg.Data/users.db) and
// the signing key in cfg.Data (creating both on first start), creates or
// updates the admin account from cfg.AdminEmail and the password that
// cfg.ReadAdminPassword returns ([EnsureAdmin]), joins the registry at
// cfg.Registry and serves on cfg.Listen as "users" through instance.Run.
// Every replica pointed at the same data directory shares the database and
// the key. With an admin e-mail address but no password it fails before
// opening anything. Logins are throttled by the X-Forwarded-For client only
// when the peer is loopback ([DefaultTrustedProxies]), as the gateway is
// when "ecommerce up" runs the shop; any other peer is the client itself.
func Run(ctx context.Context, cfg settings.Service) error { return RunWith(ctx, cfg) }

// openStore opens the store cfg names and brings its schema up to date: the
// [PostgresStore] in schema [Schema] of the PostgreSQL database cfg.DB when
// it is set, else the [SQLiteStore] in cfg.Data/[DBFile]. It returns the
// store, the readiness check of its database (a ping) and the function that
// closes it.
func openStore(ctx context.Context, cfg settings.Service) (Store, shttp.CheckFunc, func(), error) {
	if cfg.DB != "" {
		pool, err := pg.Open(ctx, cfg.DB, Schema, PostgresMigrations)
		if err != nil {
			return nil, nil, nil, fmt.Errorf("users: database (--db): %w", err)
		}
		return NewPostgresStore(pool), pool.Ping, pool.Close, nil
	}
	db, err := sqlite.Open(ctx, filepath.Join(cfg.Data, DBFile), Migrations...)
	if err != nil {
		return nil, nil, nil, err
	}
	return NewSQLiteStore(db), db.PingContext, func() { db.Close() }, nil
}

// RunWith is Run with opts passed to EnsureAdmin and NewService after the
// admin address and the logger (tests use WithArgon2 with cheap
// parameters).
func RunWith(ctx context.Context, cfg settings.Service, opts ...Option) error {
	if err := cfg.Validate(); err != nil {
		return err
	}
	adminPassword, err := cfg.ReadAdminPassword()
	if err != nil {
		return fmt.Errorf("users: %w", err)
	}
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	if cfg.AdminEmail != "" {
		from := settings.EnvName("admin-password")
		if cfg.AdminPasswordFile != "" {
			from = "--admin-password-file " + cfg.AdminPasswordFile
			if cfg.AdminPassword != "" {
				log.Warn("users: both --admin-password-file and "+settings.EnvName("admin-password")+" are set; using the file",
					"file", cfg.AdminPasswordFile)
			}
		}
		if err := checkPassword(adminPassword); err != nil {
			return fmt.Errorf("users: the admin password (%s): %w", from, err)
		}
	}
	if err := os.MkdirAll(cfg.Data, 0o700); err != nil {
		return fmt.Errorf("users: data directory (--data): %w", err)
	}
	store, ping, closeStore, err := openStore(ctx, cfg)
	if err != nil {
		return err
	}
	defer closeStore()
	key, err := LoadOrCreateKey(cfg.Data)
	if err != nil {
		return err
	}
	opts = append([]Option{WithAdminEmail(cfg.AdminEmail), WithLogger(log)}, opts...)
	if cfg.AdminEmail != "" {
		admin, err := EnsureAdmin(ctx, store, cfg.AdminEmail, adminPassword, opts...)
		if err != nil {
			return err
		}
		log.Info("users: admin account ready", "email", admin.Email, "id", admin.ID)
	}
	svc, err := NewService(store, key, opts...)
	if err != nil {
		return err
	}
	h, err := NewHandler(svc, key)
	if err != nil {
		return err
	}
	id, err := secure.Load(cfg.TLS, ServiceName, log)
	if err != nil {
		return err
	}
	access, err := id.Access(Policy(), log)
	if err != nil {
		return err
	}
	reg, err := registry.Connect(ctx, cfg.Registry, id.Registry())
	if err != nil {
		return err
	}
	defer reg.Close()
	return instance.Run(ctx, instance.Config{
		Service:    ServiceName,
		Handler:    h,
		Listen:     cfg.Listen,
		Registrar:  reg.Registrar,
		Resolver:   reg.Resolver,
		Logger:     log,
		DrainDelay: cfg.DrainDelay,
		Checks:     map[string]shttp.CheckFunc{"db": ping},
		TLS:        id.Server(),
		Access:     access,
	})
}

// NewHandler returns the HTTP handler of svc, checking the bearer tokens of
// GET /v1/me against key's own public key (this service signs them, so it
// needs no JWKS fetch). opts are passed to [NewHTTPHandler].
func NewHandler(svc Service, key ed25519.PrivateKey, opts ...HandlerOption) (*http.ServeMux, error) {
	pub := key.Public().(ed25519.PublicKey)
	v, err := authn.NewValidator(auth.StaticKeys(auth.Key{ID: authn.KeyID(pub), Alg: authn.Algorithm, Public: pub}))
	if err != nil {
		return nil, err
	}
	return NewHTTPHandler(MakeEndpoints(svc), v, opts...), nil
}
