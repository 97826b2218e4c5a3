package orders

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/switchyard/switchyard/client"
	"github.com/switchyard/switchyard/discovery"

	"github.com/switchyard/switchyard/examples/ecommerce/internal/authn"
	"github.com/switchyard/switchyard/examples/ecommerce/internal/call"
	"github.com/switchyard/switchyard/examples/ecommerce/internal/instance"
	"github.com/switchyard/switchyard/examples/ecommerce/internal/pg"
	"github.com/switchyard/switchyard/examples/ecommerce/internal/registry"
	"github.com/switchyard/switchyard/examples/ecommerce/internal/secure"
	"github.com/switchyard/switchyard/examples/ecommerce/internal/settings"
	"github.com/switchyard/switchyard/examples/ecommerce/internal/sqlite"
	"github.com/switchyard/switchyard/examples/ecommerce/internal/telemetry"
	shttp "github.com/switchyard/switchyard/transport/http"
)

// ServiceName is the name orders registers under.
const ServiceName = "orders"

// DBFile is the name of the orders database in the data directory.
const DBFile = "orders.db"

// Run runs one orders instance, as "ecommerce serve orders" does: it opens
// schema orders of the PostgreSQL database cfg.DB when it is set, else
// [DBFile] in cfg.Data (creating the directory and the database), migrating
// it, joins the registry, follows users and catalog through the
// client chain, verifies tokens with
// the users service's JWKS (fetched through discovery), starts the
// [Sweeper], and serves the API with instance.Run until ctx ends or the
// process is signalled; then it drains, stops the sweeper and returns nil.
// Replicas share the database.
func Run(ctx context.Context, cfg settings.Service) error { return RunWith(ctx, cfg) }

// RunWith is Run with opts passed to NewService and NewSweeper after the
// defaults (tests shorten the lease or the sweep interval).
func RunWith(ctx context.Context, cfg settings.Service, opts ...Option) (err error) {
	if err := cfg.Validate(); err != nil {
		return err
	}
	logger := cfg.Logger
	if logger == nil {
		logger = slog.Default()
	}
	if err := os.MkdirAll(cfg.Data, 0o700); err != nil {
		return fmt.Errorf("orders: data directory (--data): %w", err)
	}
	store, ping, closeStore, err := openStore(ctx, cfg)
	if err != nil {
		return err
	}
	defer closeStore()
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
	defer func() { err = errors.Join(err, reg.Close()) }()

	tel, err := telemetry.New(ServiceName)
	if err != nil {
		return err
	}
	defer tel.Prometheus.Shutdown(context.WithoutCancel(ctx))

	h, cleanup, err := NewHandler(ctx, HandlerConfig{
		Store:     store,
		Resolver:  reg.Resolver,
		Telemetry: tel,
		Logger:    logger,
		Options:   opts,
		Peers:     id.Peers(),
	})
	if err != nil {
		return err
	}
	defer cleanup()

	return instance.Run(ctx, instance.Config{
		Service:    ServiceName,
		Handler:    h,
		Listen:     cfg.Listen,
		Registrar:  reg.Registrar,
		Resolver:   reg.Resolver,
		Logger:     logger,
		Telemetry:  tel,
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
			return nil, nil, nil, fmt.Errorf("orders: database (--db): %w", err)
		}
		return NewPostgresStore(pool), pool.Ping, pool.Close, nil
	}
	db, err := sqlite.Open(ctx, filepath.Join(cfg.Data, DBFile), Migrations...)
	if err != nil {
		return nil, nil, nil, err
	}
	return NewSQLiteStore(db), db.PingContext, func() { db.Close() }, nil
}

// HandlerConfig is what [NewHandler] wires together. Store and Resolver are
// required; every other field has the default written beside it.
type HandlerConfig struct {
	// Store keeps orders and idempotency claims.
	Store Store
	// Resolver finds the users and catalog instances.
	Resolver discovery.Resolver
	// Authenticator checks bearer tokens. Nil means an authn.Verifier
	// with the keys of the users service, found through Resolver.
	Authenticator Authenticator
	// Telemetry records the calls to users and catalog. Nil means they
	// are not recorded.
	Telemetry *telemetry.Instruments
	// Logger receives the service's and the sweeper's warnings. Nil means
	// slog.Default().
	Logger *slog.Logger
	// Options are passed to NewService and NewSweeper (a clock, the lease,
	// the sweep interval).
	Options []Option
	// Peers, when set, makes every call to users and catalog (and the
	// JWKS fetch) use mutual TLS, refusing instances that do not hold
	// the called service's identity. Nil means plain HTTP.
	Peers *call.Peers
}

func (c HandlerConfig) callOptions() []call.Option {
	if c.Peers == nil {
		return nil
	}
	return []call.Option{call.WithTLS(c.Peers)}
}

// NewHandler builds the orders API of [NewHTTPHandler] on a [Service] that
// calls users and catalog through [UsersClient] and [CatalogClient], and
// starts a [Sweeper]. The returned cleanup stops the sweeper and closes the
// clients; call it after the server has stopped. ctx bounds only the wait
// for the first view of each dependency.
func NewHandler(ctx context.Context, c HandlerConfig) (h *http.ServeMux, cleanup func(), err error) {
	if c.Store == nil || c.Resolver == nil {
		return nil, nil, errors.New("orders: HandlerConfig needs a Store and a Resolver")
	}
	var closers []func() error
	cleanup = func() {
		for i := len(closers) - 1; i >= 0; i-- {
			_ = closers[i]()
		}
	}
	defer func() {
		if err != nil {
			cleanup()
		}
	}()
	clientConfig := func(op string) client.Config {
		if c.Telemetry == nil {
			return client.Config{Operation: op}
		}
		return c.Telemetry.ClientConfig(op)
	}
	users, err := NewUsersClient(ctx, c.Resolver, clientConfig("users.get"), c.callOptions()...)
	if err != nil {
		return nil, nil, err
	}
	closers = append(closers, users.Close)
	catalog, err := NewCatalogClient(ctx, c.Resolver, clientConfig("catalog.reserve"), clientConfig("catalog.release"), c.callOptions()...)
	if err != nil {
		return nil, nil, err
	}
	closers = append(closers, catalog.Close)
	guard := c.Authenticator
	if guard == nil {
		v, err := authn.NewVerifier(ctx, c.Resolver, c.Peers)
		if err != nil {
			return nil, nil, err
		}
		closers = append(closers, v.Close)
		guard = v
	}
	opts := c.Options
	if c.Logger != nil {
		opts = append([]Option{WithLogger(c.Logger)}, opts...)
	}
	// Take no traffic before the clients know where users and catalog
	// are: replicas started together with them would otherwise answer
	// their first calls with 503 no_instances, or leave a cancel's stock
	// release to the sweeper.
	waitForInstances(ctx, c.Logger, dependencyWait, users.Endpoint(), catalog.reserve.Endpoint(), catalog.release.Endpoint())
	svc := NewService(c.Store, users, catalog, opts...)
	sw := NewSweeper(c.Store, catalog, opts...)
	sw.Start()
	closers = append(closers, func() error { sw.Stop(); return nil })
	return NewHTTPHandler(MakeEndpoints(svc), guard), cleanup, nil
}

// dependencyWait bounds how long Run waits for its dependencies to appear
// in the registry before it serves anyway.
const dependencyWait = 15 * time.Second

// waitForInstances waits until every endpoint has an instance to call
// (client.Endpoint.WaitHosts: no polling), ctx ends, or max passes; in the
// last case it logs and returns, since a dependency that is down must not
// keep the service from starting.
func waitForInstances(ctx context.Context, logger *slog.Logger, max time.Duration, eps ...*client.Endpoint) {
	wctx, cancel := context.WithTimeout(ctx, max)
	defer cancel()
	for _, ep := range eps {
		if err := ep.WaitHosts(wctx); err != nil {
			if logger != nil {
				logger.WarnContext(ctx, "orders: starting before every dependency is in the registry", "err", err)
			}
			return
		}
	}
}
