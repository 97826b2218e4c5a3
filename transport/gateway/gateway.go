package gateway

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httputil"
	"net/netip"
	"sort"
	"sync"
	"time"

	"github.com/switchyard/switchyard/balancer"
	"github.com/switchyard/switchyard/balancer/p2c"
	"github.com/switchyard/switchyard/client"
	"github.com/switchyard/switchyard/discovery"
	"github.com/switchyard/switchyard/internal/httperr"
	"github.com/switchyard/switchyard/outcome"
)

// Budget gates retries so that a failing upstream is not hit by a storm of
// them. A *retry.Budget from middleware/retry satisfies it; share one per
// upstream with the rest of the call path.
type Budget interface {
	// Deposit records one request that may later be retried.
	Deposit()
	// TryWithdraw spends one retry and reports whether the budget allowed it.
	TryWithdraw() bool
}

// ErrConfig is wrapped by the error [New] returns for a Config field out of
// range.
var ErrConfig = errors.New("gateway: invalid configuration")

// Config configures a [Gateway]. The zero value is a working gateway with
// the default written beside each field; a field out of range makes [New]
// fail with an error wrapping [ErrConfig].
type Config struct {
	// Policy makes the balancing policy of each upstream service. Nil
	// means peak-EWMA P2C (balancer/p2c).
	Policy func(service string) balancer.Policy
	// Outlier is the outlier detection of every upstream. Nil means
	// balancer.OutlierConfig{MaxEjectionPercent: 50}: its documented
	// defaults, except that one bad instance of two can be ejected.
	Outlier *balancer.OutlierConfig
	// Classifier decides which failed attempts count against an instance
	// and may be retried on another. Nil means outcome.Default. Every
	// upstream balancer is given it too, so the two never disagree.
	Classifier outcome.Classifier
	// BalancerHooks are the hooks of every upstream balancer. A nil
	// OnError logs the error with Logger.
	BalancerHooks balancer.Hooks

	// Transport carries every upstream request, under WrapTransport's
	// wrappers if any. Nil means [NewTransport](256).
	Transport http.RoundTripper
	// UpstreamTLS turns on TLS to the upstreams: it returns the client
	// configuration for the instances of service — with package mtls,
	// src.ClientConfig(the service's ID), so that an instance that does
	// not hold the identity of the service it was resolved as is refused
	// during the handshake, before a byte of the request is sent, counted
	// against that instance and, for an idempotent request, retried on
	// another. It is called once per service, by [New]; a nil result is
	// an error. Every upstream request is then HTTPS, whatever the
	// registry's "scheme" metadata says (the registry is not trusted to
	// downgrade it), and each service gets an *http.Transport of its own,
	// a clone of Transport (nil: [NewTransport](256)) with this
	// configuration: connections are pooled by address, and a pool shared
	// by two services could carry one's request over a connection
	// verified as the other's. Transport must then be an *http.Transport
	// without DialTLS or DialTLSContext (which would skip the
	// configuration); anything else is an error, and the RoundTrippers
	// that would have wrapped it go in WrapTransport. Nil means upstream
	// requests go through Transport as they are, over plain HTTP unless
	// an instance's "scheme" metadata is "https".
	UpstreamTLS func(service string) *tls.Config
	// WrapTransport puts RoundTrippers around the transport of each
	// upstream service: it is called once per service, by [New], with
	// next the transport that service's requests would otherwise go
	// through — Transport, or with UpstreamTLS the service's own TLS
	// transport — and its result carries them instead. This is where a
	// per-host circuit breaker, client tracing, a deadline header or
	// request counting go, and with UpstreamTLS the only place they can:
	// Transport itself must then be a bare *http.Transport. The wrapper
	// runs below the balancer, once per attempt, with the instance the
	// balancer chose in the request's URL; it may share state across
	// services (one breaker group keyed by host, say). A nil result is an
	// error. Nil means each service's transport is used as it is.
	WrapTransport func(service string, next http.RoundTripper) http.RoundTripper
	// MaxBodyBytes is the request body limit; larger bodies are answered
	// 413. Zero means 1 MiB; negative is an error.
	MaxBodyBytes int64
	// DefaultTimeout bounds every request of the routes without a Timeout
	// of their own, retries included. Zero means 30s; NoDefaultTimeout
	// leaves such routes without one.
	DefaultTimeout   time.Duration
	NoDefaultTimeout bool
	// Retries is how many times an idempotent request is tried again on
	// another instance (see [Route].Retries), for the routes that do not
	// set their own. Zero means 2; NoRetries means none.
	Retries   int
	NoRetries bool
	// Budget gives the retries of each upstream service the budget they
	// draw on (a *retry.Budget satisfies [Budget]; share it with the rest
	// of the call path). Nil means retries are limited only by their count.
	Budget func(service string) Budget
	// AttemptTimeout is how the timeout of each attempt of a request that
	// may be retried (every attempt but the last) is derived from the
	// latency its route has shown: the rule of client.AttemptTimeout, whose
	// zero value takes every documented default. An instance that accepts
	// connections and never answers then costs such a request one attempt
	// timeout before it is retried elsewhere, and counts a failure towards
	// its ejection, instead of holding it for the route's whole budget.
	// AttemptTimeout.Off lets every attempt use the rest of the budget.
	AttemptTimeout client.AttemptTimeout

	// Middleware wraps the whole gateway (routing included), the first
	// outermost: access logs, metrics, tracing, CORS for every route. The
	// client-address layer (TrustedProxies) runs outside all of them.
	Middleware []func(http.Handler) http.Handler
	// Logger receives upstream errors that are not returned to the client.
	// Nil means slog.Default().
	Logger *slog.Logger

	// TrustedProxies are the proxies (load balancers, ingresses) in front
	// of the gateway. A request whose peer is in one of them has its
	// client taken from ClientIPHeader by the rightmost-untrusted rule; a
	// request from any other peer is from that peer, whatever it sent. The
	// client address is what route middleware (per-IP rate limits), access
	// logs and the upstream's X-Forwarded-For see. Nil trusts nobody.
	TrustedProxies []netip.Prefix
	// ClientIPHeader is the header the trusted proxies write the chain of
	// addresses to: "X-Forwarded-For" (the default, for "") or any header
	// in its comma-separated format, or "Forwarded" (RFC 7239, its for=
	// parameters). Name the one your proxies append to; a header they pass
	// through from clients untouched would let clients choose their
	// address. It is stripped from what upstreams see, like every identity
	// header.
	ClientIPHeader string
	// StrippedHeaders are removed from every request before routing, on
	// top of the identity headers listed in the package documentation:
	// the headers an upstream trusts to say who the caller is (X-User-Id,
	// X-Tenant). Names match regardless of case and of '_' written for '-'.
	StrippedHeaders []string
}

// Gateway is an http.Handler that routes requests to discovered upstream
// instances. It is safe for concurrent use; Close stops following the
// registry.
type Gateway struct {
	newPolicy  func(string) balancer.Policy
	outlier    balancer.OutlierConfig
	hooks      balancer.Hooks
	transport  http.RoundTripper
	maxBody    int64
	timeout    time.Duration
	retries    int
	budget     func(string) Budget
	middleware []func(http.Handler) http.Handler
	log        *slog.Logger
	ident      identity
	classify   outcome.Classifier
	attempt    client.AttemptTimeout
	noAttempt  bool

	// With UpstreamTLS: the per-service configuration, and the transport
	// each service's is cloned from.
	upstreamTLS func(string) *tls.Config
	tlsBase     *http.Transport
	// The per-service wrapper of Config.WrapTransport; nil for none.
	wrap func(string, http.RoundTripper) http.RoundTripper

	handler   http.Handler
	proxy     *httputil.ReverseProxy
	upstreams map[string]*upstream
	closeOnce sync.Once
}

type upstream struct {
	service   string
	bal       *balancer.Balancer
	budget    Budget
	classify  outcome.Classifier
	transport http.RoundTripper // own, wrapped by WrapTransport if set
	own       http.RoundTripper // the gateway's, or the service's own with UpstreamTLS
}

// New builds a gateway that resolves each route's service with resolver
// and starts following it. It fails on a Config field out of range
// ([ErrConfig]), an invalid or conflicting route ([ErrBadRoute]), or when
// a service cannot be watched.
func New(ctx context.Context, resolver discovery.Resolver, routes []Route, cfg Config) (*Gateway, error) {
	g, err := newGateway(cfg)
	if err != nil {
		return nil, err
	}
	g.proxy = &httputil.ReverseProxy{
		Rewrite:        rewrite,
		Transport:      dispatch{},
		BufferPool:     bufferPool{},
		ErrorHandler:   recordError,
		ModifyResponse: recordResponse,
		ErrorLog:       slog.NewLogLogger(g.log.Handler(), slog.LevelWarn),
	}
	mux := http.NewServeMux()
	for i := range routes {
		rt := routes[i]
		if err := g.addRoute(ctx, mux, resolver, rt); err != nil {
			g.Close()
			return nil, err
		}
	}
	var h http.Handler = jsonMuxErrors{mux}
	for i := len(g.middleware) - 1; i >= 0; i-- {
		h = g.middleware[i](h)
	}
	g.handler = g.ident.wrap(h)
	return g, nil
}

// newGateway checks cfg and fills in its defaults.
func newGateway(cfg Config) (*Gateway, error) {
	g := &Gateway{
		newPolicy:  cfg.Policy,
		outlier:    balancer.OutlierConfig{MaxEjectionPercent: 50},
		hooks:      cfg.BalancerHooks,
		transport:  cfg.Transport,
		maxBody:    cfg.MaxBodyBytes,
		timeout:    cfg.DefaultTimeout,
		retries:    cfg.Retries,
		budget:     cfg.Budget,
		middleware: cfg.Middleware,
		log:        cfg.Logger,
		classify:   outcome.Or(cfg.Classifier),
		noAttempt:  cfg.AttemptTimeout.Off,
		wrap:       cfg.WrapTransport,
		upstreams:  map[string]*upstream{},
	}
	switch {
	case cfg.MaxBodyBytes < 0:
		return nil, fmt.Errorf("%w: negative MaxBodyBytes %d", ErrConfig, cfg.MaxBodyBytes)
	case cfg.DefaultTimeout < 0:
		return nil, fmt.Errorf("%w: negative DefaultTimeout %v", ErrConfig, cfg.DefaultTimeout)
	case cfg.Retries < 0:
		return nil, fmt.Errorf("%w: negative Retries %d (NoRetries turns them off)", ErrConfig, cfg.Retries)
	case cfg.NoDefaultTimeout && cfg.DefaultTimeout != 0:
		return nil, fmt.Errorf("%w: both DefaultTimeout and NoDefaultTimeout set", ErrConfig)
	case cfg.NoRetries && cfg.Retries != 0:
		return nil, fmt.Errorf("%w: both Retries and NoRetries set", ErrConfig)
	}
	var err error
	if g.attempt, err = cfg.AttemptTimeout.WithDefaults(); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrConfig, err)
	}
	if cfg.Outlier != nil {
		g.outlier = *cfg.Outlier
	}
	if g.newPolicy == nil {
		g.newPolicy = func(string) balancer.Policy { return p2c.New() }
	}
	if g.transport == nil {
		g.transport = NewTransport(256)
	}
	if cfg.UpstreamTLS != nil {
		base, ok := g.transport.(*http.Transport)
		switch {
		case !ok:
			return nil, fmt.Errorf("%w: UpstreamTLS needs Transport to be an *http.Transport or nil, not %T", ErrConfig, cfg.Transport)
		//lint:ignore SA1019 DialTLS is deprecated but still honoured, and would skip the configuration
		case base.DialTLSContext != nil || base.DialTLS != nil:
			return nil, fmt.Errorf("%w: UpstreamTLS with a Transport whose DialTLS or DialTLSContext would skip its configuration", ErrConfig)
		}
		g.upstreamTLS, g.tlsBase = cfg.UpstreamTLS, base
	}
	if g.maxBody == 0 {
		g.maxBody = 1 << 20
	}
	switch {
	case cfg.NoDefaultTimeout:
		g.timeout = 0
	case g.timeout == 0:
		g.timeout = 30 * time.Second
	}
	switch {
	case cfg.NoRetries:
		g.retries = -1
	case g.retries == 0:
		g.retries = 2
	}
	if g.log == nil {
		g.log = slog.Default()
	}
	g.ident.trust(cfg.TrustedProxies)
	if cfg.ClientIPHeader != "" {
		g.ident.useHeader(cfg.ClientIPHeader)
	}
	if len(cfg.StrippedHeaders) > 0 {
		g.ident.strip(cfg.StrippedHeaders)
	}
	return g, nil
}

func (g *Gateway) addRoute(ctx context.Context, mux *http.ServeMux, resolver discovery.Resolver, rt Route) (err error) {
	if rt.Service == "" {
		return fmt.Errorf("%w: %q has no service", ErrBadRoute, rt.Pattern)
	}
	tmpl, err := compileTemplate(rt.Rewrite, rt.Pattern)
	if err != nil {
		return err
	}
	up := g.upstreams[rt.Service]
	if up == nil {
		up, err = g.follow(ctx, resolver, rt.Service)
		if err != nil {
			return err
		}
		g.upstreams[rt.Service] = up
	}
	r := &route{Route: rt, tmpl: tmpl, up: up, gw: g}
	if !g.noAttempt {
		// Each route learns its own latency: a fast read must not teach
		// the timeout that cuts off a slow report on the same service.
		r.attempt = newAttemptTimer(g.attempt)
	}
	if r.Timeout == 0 {
		r.Timeout = g.timeout
	}
	if r.Retries == 0 {
		r.Retries = g.retries
	}
	var h http.Handler = r
	for i := len(rt.Middleware) - 1; i >= 0; i-- {
		h = rt.Middleware[i](h)
	}
	// ServeMux panics on an invalid or conflicting pattern; report it.
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("%w: %v", ErrBadRoute, p)
		}
	}()
	mux.Handle(rt.Pattern, h)
	return nil
}

func (g *Gateway) follow(ctx context.Context, resolver discovery.Resolver, service string) (*upstream, error) {
	own, err := g.upstreamTransport(service)
	if err != nil {
		return nil, err
	}
	transport := own
	if g.wrap != nil {
		if transport = g.wrap(service, own); transport == nil {
			return nil, fmt.Errorf("%w: WrapTransport returned no transport for %q", ErrConfig, service)
		}
	}
	w, err := resolver.Watch(ctx, service)
	if err != nil {
		return nil, fmt.Errorf("gateway: watch %s: %w", service, err)
	}
	// The gateway's classifier is the balancer's, so that the balancer
	// cannot disagree with the gateway's own retry decisions.
	outlier := g.outlier
	cfg := balancer.Config{Factory: g.factory, Classifier: g.classify, Outlier: &outlier, Hooks: g.hooks}
	if cfg.Hooks.OnError == nil {
		cfg.Hooks.OnError = func(err error) { g.log.Warn("gateway: upstream", "service", service, "error", err) }
	}
	bal, err := balancer.New(g.newPolicy(service), cfg)
	if err != nil {
		w.Stop()
		return nil, fmt.Errorf("gateway: %s: %w", service, err)
	}
	if err := bal.Follow(w); err != nil {
		bal.Close()
		return nil, err
	}
	up := &upstream{service: service, bal: bal, classify: g.classify, transport: transport, own: own}
	if g.budget != nil {
		up.budget = g.budget(service)
	}
	return up, nil
}

// upstreamTransport returns the transport of service's requests: the
// gateway's, or with UpstreamTLS a clone of it configured for service.
func (g *Gateway) upstreamTransport(service string) (http.RoundTripper, error) {
	if g.upstreamTLS == nil {
		return g.transport, nil
	}
	cfg := g.upstreamTLS(service)
	if cfg == nil {
		return nil, fmt.Errorf("%w: UpstreamTLS returned no configuration for %q", ErrConfig, service)
	}
	tr := g.tlsBase.Clone()
	tr.TLSClientConfig = cfg
	return tr, nil
}

// dispatch is the ReverseProxy's transport: it sends each request through
// the transport of the upstream its call is for, found in the request's
// context like the rest of the call. It neither locks nor allocates.
type dispatch struct{}

func (dispatch) RoundTrip(r *http.Request) (*http.Response, error) {
	return r.Context().Value(callKey{}).(*call).up.transport.RoundTrip(r)
}

// Identify wraps next in the gateway's client-address layer (see
// Config.TrustedProxies), for handlers that run in front of the gateway —
// an access log or a metrics layer — so that they see the client's
// address and none of the stripped headers, as the routes do. The gateway
// applies the same layer itself; running it twice changes nothing, since
// the first removes the headers the second would read.
func (g *Gateway) Identify(next http.Handler) http.Handler { return g.ident.wrap(next) }

// ServeHTTP routes and proxies r.
func (g *Gateway) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	g.handler.ServeHTTP(w, r)
}

// Upstream describes one upstream service for dashboards.
type Upstream struct {
	Service   string
	Policy    string
	PanicMode bool
	Hosts     []balancer.HostState
}

// Upstreams returns the state of every upstream service, sorted by name.
func (g *Gateway) Upstreams() []Upstream {
	out := make([]Upstream, 0, len(g.upstreams))
	for name, up := range g.upstreams {
		hosts, panicMode := up.bal.Hosts()
		out = append(out, Upstream{Service: name, Policy: g.newPolicy(name).Name(), PanicMode: panicMode, Hosts: hosts})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Service < out[j].Service })
	return out
}

// WaitReady blocks until every upstream has received its first update from
// the registry, or ctx ends.
func (g *Gateway) WaitReady(ctx context.Context) error {
	for _, up := range g.upstreams {
		if err := up.bal.WaitReady(ctx); err != nil {
			return err
		}
	}
	return nil
}

// Close stops following the registry and closes idle upstream
// connections.
func (g *Gateway) Close() error {
	var errs []error
	g.closeOnce.Do(func() {
		type idleCloser interface{ CloseIdleConnections() }
		for _, up := range g.upstreams {
			errs = append(errs, up.bal.Close())
			if t, ok := up.own.(idleCloser); ok && up.own != g.transport {
				t.CloseIdleConnections()
			}
		}
		if t, ok := g.transport.(idleCloser); ok {
			t.CloseIdleConnections()
		}
	})
	return errors.Join(errs...)
}

// NewTransport returns an http.Transport tuned for a gateway: keep-alive
// pools large enough for maxIdlePerHost concurrent requests per instance
// (the default transport keeps 2 and churns connections under load), short
// dial and TLS handshake timeouts, and HTTP/2 left to explicit TLS
// configuration.
func NewTransport(maxIdlePerHost int) *http.Transport {
	if maxIdlePerHost <= 0 {
		maxIdlePerHost = 256
	}
	d := &net.Dialer{Timeout: 3 * time.Second, KeepAlive: 30 * time.Second}
	return &http.Transport{
		Proxy:                 nil, // upstreams come from the registry only
		DialContext:           d.DialContext,
		MaxIdleConns:          4 * maxIdlePerHost,
		MaxIdleConnsPerHost:   maxIdlePerHost,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   5 * time.Second,
		ExpectContinueTimeout: time.Second,
		ResponseHeaderTimeout: 0, // bounded by the route's timeout instead
	}
}

// bufferPool lends ReverseProxy its 32 KiB copy buffers instead of letting
// it allocate one per request.
type bufferPool struct{}

var buffers = sync.Pool{New: func() any { b := make([]byte, 32<<10); return &b }}

func (bufferPool) Get() []byte  { return *(buffers.Get().(*[]byte)) }
func (bufferPool) Put(b []byte) { buffers.Put(&b) }

// jsonMuxErrors turns the ServeMux's own plain-text 404 and 405 answers
// into the gateway's JSON error bodies. Its redirects to cleaned paths pass
// through unchanged.
type jsonMuxErrors struct{ mux *http.ServeMux }

func (m jsonMuxErrors) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h, pattern := m.mux.Handler(r)
	if pattern != "" {
		m.mux.ServeHTTP(w, r)
		return
	}
	h.ServeHTTP(&muxErrorWriter{ResponseWriter: w, r: r}, r)
}

type muxErrorWriter struct {
	http.ResponseWriter
	r       *http.Request
	swallow bool
}

func (w *muxErrorWriter) WriteHeader(status int) {
	switch status {
	case http.StatusNotFound:
		w.swallow = true
		httperr.Write(w.ResponseWriter, status, CodeNotFound, "no route for "+w.r.Method+" "+w.r.URL.Path)
	case http.StatusMethodNotAllowed:
		w.swallow = true
		httperr.Write(w.ResponseWriter, status, CodeMethodNotAllowed, "method "+w.r.Method+" is not allowed here")
	default:
		w.ResponseWriter.WriteHeader(status)
	}
}

func (w *muxErrorWriter) Write(p []byte) (int, error) {
	if w.swallow {
		return len(p), nil
	}
	return w.ResponseWriter.Write(p)
}
