package catalog

import (
	"context"
	"fmt"
	"log/slog"
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

// DBFile is the name of the catalog database in the data directory.
const DBFile = "catalog.db"

// Run runs one instance of the catalog service ("ecommerce serve catalog")
// until ctx ends or SIGINT/SIGTERM arrives: it opens schema catalog of the
// PostgreSQL database cfg.DB when it is set, else cfg.Data/catalog.db
// (creating and seeding it on first start), joins the registry at
// cfg.Registry, verifies admin tokens with the keys the users service
// publishes (fetched through the registry), and serves on cfg.Listen as
// "catalog" through instance.Run.
func Run(ctx context.Context, cfg settings.Service) error {
	if err := cfg.Validate(); err != nil {
		return err
	}
	if err := os.MkdirAll(cfg.Data, 0o700); err != nil {
		return fmt.Errorf("catalog: data directory (--data): %w", err)
	}
	store, ping, closeStore, err := openStore(ctx, cfg)
	if err != nil {
		return err
	}
	defer closeStore()
	logger := cfg.Logger
	if logger == nil {
		logger = slog.Default()
	}
	id, err := secure.Load(cfg.TLS, ServiceName, logger)
	if err != nil {
		return err
	}
	access, err := id.Access(Policy(), logger)
	if err != nil {
		return err
	}
	reg, err := registry.Connect(ctx, cfg.Registry, id.Registry())
	if err != nil {
		return err
	}
	defer reg.Close()
	v, err := authn.NewVerifier(ctx, reg.Resolver, id.Peers(), auth.Hooks{OnReject: func(_ context.Context, err error) {
		logger.Info("catalog: token rejected", "err", err)
	}})
	if err != nil {
		return err
	}
	defer v.Close()
	h := NewHTTPHandler(MakeEndpoints(NewService(store)), v)
	return instance.Run(ctx, instance.Config{
		Service:    ServiceName,
		Handler:    h,
		Listen:     cfg.Listen,
		Registrar:  reg.Registrar,
		Resolver:   reg.Resolver,
		Logger:     cfg.Logger,
		DrainDelay: cfg.DrainDelay,
		Checks:     map[string]shttp.CheckFunc{"db": ping},
		TLS:        id.Server(),
		Access:     access,
	})
}

// openStore opens the store cfg names and brings its schema up to date: the
// [PostgresStore] in schema [Schema] of the PostgreSQL database cfg.DB when
// it is set, else the [SQLiteStore] in cfg.Data/[DBFile]. It returns the
// store, the readiness check of its database (a ping) and the function that
// closes it.
func openStore(ctx context.Context, cfg settings.Service) (Store, shttp.CheckFunc, func(), error) {
	if cfg.DB != "" {
		pool, err := pg.Open(ctx, cfg.DB, Schema, PostgresMigrations)
		if err != nil {
			return nil, nil, nil, fmt.Errorf("catalog: database (--db): %w", err)
		}
		return NewPostgresStore(pool), pool.Ping, pool.Close, nil
	}
	db, err := sqlite.Open(ctx, filepath.Join(cfg.Data, DBFile), Migrations...)
	if err != nil {
		return nil, nil, nil, err
	}
	return NewSQLiteStore(db), db.PingContext, func() { db.Close() }, nil
}
