package gateway

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/netip"
	"os"
	"time"

	"golang.org/x/time/rate"

	"github.com/switchyard/switchyard/discovery"
	"github.com/switchyard/switchyard/examples/ecommerce/internal/authn"
	"github.com/switchyard/switchyard/examples/ecommerce/internal/call"
	"github.com/switchyard/switchyard/examples/ecommerce/internal/instance"
	"github.com/switchyard/switchyard/examples/ecommerce/internal/registry"
	"github.com/switchyard/switchyard/examples/ecommerce/internal/secure"
	"github.com/switchyard/switchyard/examples/ecommerce/internal/telemetry"
	"github.com/switchyard/switchyard/middleware/circuitbreaker"
	"github.com/switchyard/switchyard/middleware/deadline"
	"github.com/switchyard/switchyard/middleware/ratelimit"
	"github.com/switchyard/switchyard/middleware/retry"
	"github.com/switchyard/switchyard/middleware/tracing"
	tgw "github.com/switchyard/switchyard/transport/gateway"
	shttp "github.com/switchyard/switchyard/transport/http"
)

// Upstream service names.
const (
	UsersService   = "users"
	CatalogService = "catalog"
	OrdersService  = "orders"
)

// RouteTimeout bounds every proxied request, retries included.
const RouteTimeout = 10 * time.Second

// ErrOptions is wrapped by the error New returns for unusable Options.
var ErrOptions = errors.New("gateway: invalid options")

// Authenticator guards a handler: it calls next only for requests with a
// valid token, with the token's claims in the request context (see
// middleware/auth), and answers 401 otherwise. *authn.Verifier and
// *auth.Validator are Authenticators.
type Authenticator interface {
	Handler(next http.Handler) http.Handler
}

// Options configures [New]. Resolver is required; every other field has the
// default written beside it.
type Options struct {
	// Resolver finds the users, catalog and orders instances.
	Resolver discovery.Resolver
	// Authenticator checks bearer tokens on protected routes. Nil means a
	// authn.Verifier following the users service through Resolver
	// (closed by Gateway.Close).
	Authenticator Authenticator
	// Login and Signup limit those routes per client IP. A zero Limit
	// means DefaultLoginRate/Burst and DefaultSignupRate/Burst.
	Login, Signup Limit
	// Telemetry's metrics feed the dashboard's route counts and the
	// upstream pool gauges. Nil means the dashboard shows no route counts.
	Telemetry *telemetry.Instruments
	// Logger receives upstream errors. Nil means slog.Default().
	Logger *slog.Logger
	// Transport is the innermost upstream transport, under the tracing,
	// deadline, breaker and counting layers. With UpstreamTLS it must be
	// an *http.Transport (or nil), which each service gets a TLS clone of;
	// New fails otherwise. Nil means transport/gateway's
	// NewTransport(256).
	Transport http.RoundTripper
	// ProbeClient probes the instances' /readyz for the dashboard. Nil
	// means a client with a 500 ms timeout, over TLS with ProbeTLS if set.
	ProbeClient *http.Client
	// ProbeTLS, when set, makes the dashboard probe the instances over
	// HTTPS: the client configuration of the probes (with package mtls,
	// the gateway's src.ClientConfig(), which presents its certificate
	// and accepts any ID of the trust domain — a probe only reads
	// readiness). It is used for the default ProbeClient; a ProbeClient
	// of the caller's must carry its own. Nil means plain HTTP probes.
	ProbeTLS *tls.Config
	// TrustedProxies are the proxies in front of the gateway whose
	// X-Forwarded-For names the client that Login and Signup limit (see
	// transport/gateway's WithTrustedProxies). Nil means none: the
	// connection's peer is the client.
	TrustedProxies []netip.Prefix
	// RouteTimeout bounds every proxied request, retries included. Zero
	// means the package's RouteTimeout.
	RouteTimeout time.Duration
	// Peers, when set, makes the gateway call the services over mutual
	// TLS: the JWKS fetch goes through it (unless Authenticator is set),
	// and UpstreamTLS must be set too — New fails with one of the two
	// alone. Nil means plain HTTP.
	Peers *call.Peers
	// UpstreamTLS gives the TLS configuration of each upstream service
	// (transport/gateway's Config.UpstreamTLS): HTTPS to every instance,
	// refused during the handshake unless it holds that service's
	// identity, with a transport of its own per service. Nil means plain
	// HTTP.
	UpstreamTLS func(service string) *tls.Config
}

// Gateway is the shop's HTTP front: API routes, pages and the dashboard's
// data. Create it with [New]; it is safe for concurrent use; Close it when
// done.
type Gateway struct {
	mux      *http.ServeMux
	gw       *tgw.Gateway
	hosts    *hostTable
	tel      *telemetry.Instruments
	probe    *prober
	routes   []string
	closers  []func() error
	started  time.Time
	services []string
}

// New builds the gateway: it starts following every upstream service
// through o.Resolver and, unless o.Authenticator is set, the users
// service's keys. ctx bounds only the set-up.
func New(ctx context.Context, o Options) (_ *Gateway, err error) {
	if o.Resolver == nil {
		return nil, fmt.Errorf("%w: Resolver is required", ErrOptions)
	}
	if (o.Peers == nil) != (o.UpstreamTLS == nil) {
		// One without the other would send tokens' keys or requests over
		// plain HTTP while the rest is verified.
		return nil, fmt.Errorf("%w: Peers and UpstreamTLS go together: set both or neither", ErrOptions)
	}
	logger := o.Logger
	if logger == nil {
		logger = slog.Default()
	}
	// g is not the named result, which the error returns set to nil
	// before the deferred Close runs.
	g := &Gateway{
		mux:      http.NewServeMux(),
		tel:      o.Telemetry,
		started:  time.Now(),
		services: []string{CatalogService, OrdersService, UsersService},
	}
	defer func() {
		if err != nil {
			_ = g.Close()
		}
	}()

	guard := o.Authenticator
	if guard == nil {
		v, err := authn.NewVerifier(ctx, o.Resolver, o.Peers)
		if err != nil {
			return nil, err
		}
		g.closers = append(g.closers, v.Close)
		guard = v
	}
	login, err := limiter(o.Login, DefaultLoginRate, DefaultLoginBurst)
	if err != nil {
		return nil, err
	}
	signup, err := limiter(o.Signup, DefaultSignupRate, DefaultSignupBurst)
	if err != nil {
		return nil, err
	}

	// One circuit breaker per upstream instance, keyed by its address,
	// inside the gateway's balancer. Their rejections are neutral to
	// outlier detection (circuitbreaker.SkipRejections) and, for idempotent
	// requests, retried on another instance.
	breakers, err := circuitbreaker.NewGroup(circuitbreaker.GroupConfig{MaxKeys: 1024})
	if err != nil {
		return nil, err
	}
	g.hosts = &hostTable{breakers: breakers}
	tr, err := tracing.New(tracing.Config{})
	if err != nil {
		return nil, err
	}
	dl, err := deadline.New(deadline.Config{})
	if err != nil {
		return nil, err
	}
	// Each service's transport — o.Transport, or with UpstreamTLS the
	// library's TLS clone of it for that service — is wrapped, outermost
	// first, in the client span, the deadline header, the dashboard's
	// counters and the instance's breaker. The last two are one table for
	// every service, keyed by instance.
	wrap := func(_ string, next http.RoundTripper) http.RoundTripper {
		return tr.Transport(dl.Transport(g.hosts.wrap(next)))
	}

	budgets := map[string]*retry.Budget{}
	for _, s := range g.services {
		if budgets[s], err = retry.NewBudget(retry.BudgetConfig{}); err != nil {
			return nil, err
		}
	}

	authed := guard.Handler
	admin := func(next http.Handler) http.Handler { return guard.Handler(requireAdmin(next)) }
	mw := func(m ...func(http.Handler) http.Handler) []func(http.Handler) http.Handler { return m }
	routes := []tgw.Route{
		{Pattern: "POST /api/v1/users", Service: UsersService, Rewrite: "/v1/users",
			Middleware: mw(signup.Handler)},
		{Pattern: "POST /api/v1/login", Service: UsersService, Rewrite: "/v1/login",
			Middleware: mw(login.Handler)},
		{Pattern: "GET /api/v1/me", Service: UsersService, Rewrite: "/v1/me", Middleware: mw(authed)},

		{Pattern: "GET /api/v1/products", Service: CatalogService, Rewrite: "/v1/products"},
		{Pattern: "GET /api/v1/products/{id}", Service: CatalogService, Rewrite: "/v1/products/{id}"},
		{Pattern: "POST /api/v1/products", Service: CatalogService, Rewrite: "/v1/products", Middleware: mw(admin)},
		{Pattern: "PATCH /api/v1/products/{id}", Service: CatalogService, Rewrite: "/v1/products/{id}", Middleware: mw(admin)},

		{Pattern: "POST /api/v1/orders", Service: OrdersService, Rewrite: "/v1/orders", Middleware: mw(authed)},
		{Pattern: "GET /api/v1/orders", Service: OrdersService, Rewrite: "/v1/orders", Middleware: mw(authed)},
		{Pattern: "GET /api/v1/orders/{id}", Service: OrdersService, Rewrite: "/v1/orders/{id}", Middleware: mw(authed)},
		{Pattern: "POST /api/v1/orders/{id}/cancel", Service: OrdersService, Rewrite: "/v1/orders/{id}/cancel", Middleware: mw(authed)},
	}
	timeout := o.RouteTimeout
	if timeout <= 0 {
		timeout = RouteTimeout
	}
	for i := range routes {
		routes[i].Timeout = timeout
	}
	g.gw, err = tgw.New(ctx, o.Resolver, routes, tgw.Config{
		Transport:      o.Transport,
		UpstreamTLS:    o.UpstreamTLS,
		WrapTransport:  wrap,
		Logger:         logger,
		DefaultTimeout: timeout,
		Budget:         func(s string) tgw.Budget { return budgets[s] },
		Classifier:     circuitbreaker.SkipRejections(nil),
		TrustedProxies: o.TrustedProxies,
	})
	if err != nil {
		return nil, err
	}
	g.closers = append(g.closers, g.gw.Close)

	if g.tel != nil {
		for _, s := range g.services {
			reg, err := g.tel.Metrics.ObservePool(s, g.poolSize(s))
			if err != nil {
				return nil, err
			}
			g.closers = append(g.closers, reg.Unregister)
		}
	}

	// The outer mux names every route, so that access logs, metrics and
	// spans (added by instance.Run) carry the route's pattern; the API
	// patterns all lead to the library gateway, which routes again.
	for _, rt := range routes {
		g.mux.Handle(rt.Pattern, g.gw)
		g.routes = append(g.routes, rt.Pattern)
	}
	g.mux.Handle("/api/", g.gw) // JSON 404 and 405 for the rest of the API

	probeClient := o.ProbeClient
	if probeClient == nil {
		probeClient = &http.Client{Timeout: 500 * time.Millisecond}
		if o.ProbeTLS != nil {
			pt := tgw.NewTransport(2)
			pt.TLSClientConfig = o.ProbeTLS
			probeClient.Transport = pt
			g.closers = append(g.closers, func() error { pt.CloseIdleConnections(); return nil })
		}
	}
	g.probe = newProber(probeClient, o.ProbeTLS != nil)
	g.mux.Handle("GET /admin/api/state", guard.Handler(requireAdmin(http.HandlerFunc(g.serveState))))
	mountPages(g.mux)
	return g, nil
}

// limiter returns a per-client limiter (keyed by ratelimit.RemoteIP) for a
// route, with defRate and defBurst where l leaves them unset.
func limiter(l Limit, defRate float64, defBurst int) (*ratelimit.Limiter, error) {
	if l.Rate <= 0 {
		l.Rate = defRate
	}
	if l.Burst < 1 {
		l.Burst = defBurst
	}
	return ratelimit.New(rate.Limit(l.Rate), l.Burst, ratelimit.Config{HTTPKey: ratelimit.RemoteIP, MaxKeys: 10000})
}

// requireAdmin answers 403 unless the request's token says role admin. It
// runs after the Authenticator, which has put the claims in the context.
func requireAdmin(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !authn.IsAdmin(r.Context()) {
			shttp.WriteError(w, r, shttp.Forbidden("this needs the admin role"))
			return
		}
		next.ServeHTTP(w, r)
	})
}

func (g *Gateway) poolSize(service string) func() (int, int) {
	return func() (members, eligible int) {
		for _, u := range g.gw.Upstreams() {
			if u.Service != service {
				continue
			}
			for _, h := range u.Hosts {
				members++
				if !h.Ejected {
					eligible++
				}
			}
		}
		return members, eligible
	}
}

// Identify wraps next in the gateway's client-address layer
// (--trusted-proxies), for the access log and metrics in front of it.
func (g *Gateway) Identify(next http.Handler) http.Handler { return g.gw.Identify(next) }

// ServeHTTP serves the API, the pages and the dashboard's data.
func (g *Gateway) ServeHTTP(w http.ResponseWriter, r *http.Request) { g.mux.ServeHTTP(w, r) }

// Handler returns the handler and the pattern that r would be served with,
// as http.ServeMux.Handler does; instance.Run uses it to name requests.
func (g *Gateway) Handler(r *http.Request) (http.Handler, string) { return g.mux.Handler(r) }

// Ready is a readiness check: it fails until every upstream service has at
// least one instance that is not ejected.
func (g *Gateway) Ready(context.Context) error {
	for _, s := range g.services {
		if _, eligible := g.poolSize(s)(); eligible == 0 {
			return fmt.Errorf("gateway: no instance of %s", s)
		}
	}
	return nil
}

// Close stops following the registry and closes idle upstream connections.
func (g *Gateway) Close() error {
	var errs []error
	for i := len(g.closers) - 1; i >= 0; i-- {
		errs = append(errs, g.closers[i]())
	}
	g.closers = nil
	return errors.Join(errs...)
}

// Run runs the gateway, as "ecommerce serve gateway" does: it joins the
// registry at cfg.Registry, builds the [Gateway] and serves it with
// instance.Run on cfg.Listen (registered as ServiceName, with /healthz,
// /readyz — ready once every upstream has an instance —, /metrics, access
// logs and the deadline) until ctx ends or SIGINT/SIGTERM arrives; then it
// drains and returns nil. With cfg.TLS it reaches the registry and the
// services over mutual TLS as the gateway's identity (secure.Load; a
// certificate for another service is refused); with cfg.PublicTLS it
// serves HTTPS and HTTP/2 with [HSTS].
func Run(ctx context.Context, cfg Config) (err error) {
	if err := cfg.Validate(); err != nil {
		return err
	}
	logger := cfg.Logger
	if logger == nil {
		logger = telemetry.NewLogger(os.Stderr, ServiceName)
	}
	id, err := secure.Load(cfg.TLS, ServiceName, logger)
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
	opts := Options{
		Resolver:       reg.Resolver,
		Login:          cfg.Login,
		Signup:         cfg.Signup,
		TrustedProxies: cfg.TrustedProxies,
		Telemetry:      tel,
		Logger:         logger,
	}
	if id != nil {
		opts.Peers = id.Peers()
		opts.UpstreamTLS = upstreamTLS(id)
		opts.ProbeTLS = id.Source().ClientConfig()
	}
	g, err := New(ctx, opts)
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, g.Close()) }()
	edge := g.Identify
	var public *tls.Config
	if cfg.PublicTLS.Cert != "" {
		if public, err = publicTLS(cfg.PublicTLS.Cert, cfg.PublicTLS.Key); err != nil {
			return err
		}
		edge = func(next http.Handler) http.Handler { return withHSTS(g.Identify(next)) }
	}
	return instance.Run(ctx, instance.Config{
		Service:    ServiceName,
		Handler:    g,
		Listen:     cfg.Listen,
		Registrar:  reg.Registrar,
		Resolver:   reg.Resolver,
		Logger:     logger,
		Telemetry:  tel,
		DrainDelay: cfg.DrainDelay,
		Checks:     map[string]shttp.CheckFunc{"upstreams": g.Ready},
		Edge:       edge,
		TLS:        public,
	})
}

// upstreamTLS is Options.UpstreamTLS for id: each service's client
// configuration, or nil — which transport/gateway refuses with its
// ErrConfig — for a name that cannot be part of an ID.
func upstreamTLS(id *secure.Identity) func(string) *tls.Config {
	return func(service string) *tls.Config {
		cfg, err := id.Upstream(service)
		if err != nil {
			return nil
		}
		return cfg
	}
}
