package instance

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/switchyard/switchyard"
	"github.com/switchyard/switchyard/discovery"
	"github.com/switchyard/switchyard/middleware/deadline"
	"github.com/switchyard/switchyard/middleware/logging"
	"github.com/switchyard/switchyard/middleware/tracing"
	shttp "github.com/switchyard/switchyard/transport/http"

	"github.com/switchyard/switchyard/examples/ecommerce/internal/settings"
	"github.com/switchyard/switchyard/examples/ecommerce/internal/telemetry"
)

// DefaultDeadline is the deadline Run gives a request that arrives without
// the deadline header (a caller outside the shop, or a test with curl): 10 s.
const DefaultDeadline = 10 * time.Second

// ErrServe is wrapped by the errors Run returns for a configuration it cannot use
// and for an address it cannot listen on.
var ErrServe = errors.New("instance: cannot serve")

// Config configures [Run]. Service and Handler are required; every other
// field has a default, written beside it.
type Config struct {
	// Service is the name the instance registers under ("users").
	Service string
	// Handler serves the service's API. When it has a method
	// Handler(*http.Request) (http.Handler, string), as *http.ServeMux has,
	// the pattern it returns names the request in metrics, logs and spans;
	// otherwise requests are named by the pattern the handler itself sets,
	// which wrappers may hide.
	Handler http.Handler
	// Listen is the host:port to listen on. Default settings.DefaultListen.
	// Ignored when Listener is set.
	Listen string
	// ListenFlag is the flag that sets Listen, named in the error when the
	// address is taken. Default "listen".
	ListenFlag string
	// Listener, when set, is served instead of listening on Listen; Run
	// closes it.
	Listener net.Listener
	// Registrar registers the instance. Nil means the instance is not
	// registered (tests, a stand-alone run).
	Registrar discovery.Registrar
	// Resolver, when set, makes the drain wait until the registry shows the
	// instance gone (see switchyard.Config.Resolver). Default: only the drain
	// delay is waited.
	Resolver discovery.Resolver
	// Logger receives lifecycle events and one access-log line per request.
	// Nil means slog.Default().
	Logger *slog.Logger
	// Telemetry holds the instruments served at /metrics. Nil means new
	// ones from telemetry.New(Service).
	Telemetry *telemetry.Instruments
	// Checks are readiness checks, by name, run on every /readyz (a database
	// ping, for example). Default none.
	Checks map[string]shttp.CheckFunc
	// DrainDelay is how long the instance keeps serving after deregistering.
	// Zero means switchyard.DefaultDrainDelay; negative means none.
	DrainDelay time.Duration
	// DefaultDeadline is the deadline of requests that arrive without the
	// deadline header. Zero means DefaultDeadline; negative means none.
	DefaultDeadline time.Duration
	// TLS, when set, makes the listener speak TLS with it: for the
	// services, mtls.Source.ServerConfig (client certificates from the
	// shop's CA); for the gateway's public listener, its certificate.
	// NextProtos left empty offer HTTP/2 and HTTP/1.1. Nil means plain
	// HTTP.
	TLS *tls.Config
	// Access, if set, wraps the API handler inside the access log,
	// metrics and tracing — so that refusals are logged and counted — and
	// outside the deadline and the service's handler: the authorization
	// layer (middleware/authz), which admits each route's callers only.
	// /healthz, /readyz and /metrics are outside it, open to probes and
	// scrapers that hold no certificate. Nil admits every caller.
	Access func(http.Handler) http.Handler
	// Edge, if set, wraps the whole API handler, outside the access log,
	// metrics and tracing: the gateway resolves the client's address there
	// so that its access log shows the client rather than a load balancer.
	Edge func(http.Handler) http.Handler
	// OnReady, if set, is called once the server listens and the instance
	// is registered, with the listener's address. It runs on a goroutine of
	// its own; Run waits for it before returning.
	OnReady func(addr net.Addr)
}

// Run runs one service instance until ctx ends or the process receives
// SIGINT or SIGTERM, then drains it (readiness 503, deregister, keep serving
// for the drain delay, finish in-flight requests) and returns nil; it returns
// an error if it cannot listen, or if serving or stopping fails. It is a
// switchyard.App with one server:
//
//	GET /healthz, GET /readyz   liveness and readiness (shttp.Health)
//	GET /metrics                Prometheus exposition of o.Telemetry
//	everything else             o.Handler behind, first outermost:
//	                              tracing           server span (no-op unless a provider is installed)
//	                              logging           one access-log line
//	                              metrics           request count, errors, latency per route
//	                              deadline.Handler  the one deadline layer: the header's budget (at most
//	                                                DefaultDeadline), or DefaultDeadline without one
//
// A taken address fails with an error that names ListenFlag and its
// environment variable.
func Run(ctx context.Context, o Config) error {
	if o.Service == "" || o.Handler == nil {
		return fmt.Errorf("%w: Service and Handler are required", ErrServe)
	}
	logger := o.Logger
	if logger == nil {
		logger = slog.Default()
	}
	tel := o.Telemetry
	if tel == nil {
		var err error
		if tel, err = telemetry.New(o.Service); err != nil {
			return err
		}
		defer tel.Prometheus.Shutdown(context.Background())
	}
	ln := o.Listener
	if ln == nil {
		addr, flagName := o.Listen, o.ListenFlag
		if addr == "" {
			addr = settings.DefaultListen
		}
		if flagName == "" {
			flagName = "listen"
		}
		var err error
		if ln, err = net.Listen("tcp", addr); err != nil {
			return fmt.Errorf("%w: %s cannot listen on %s (choose another address with --%s or %s): %w",
				ErrServe, o.Service, addr, flagName, settings.EnvName(flagName), err)
		}
	}

	if o.TLS != nil {
		cfg := o.TLS.Clone()
		if len(cfg.NextProtos) == 0 {
			cfg.NextProtos = []string{"h2", "http/1.1"}
		}
		ln = tls.NewListener(ln, cfg)
	}

	app, err := switchyard.New(switchyard.Config{
		Registrar:    o.Registrar,
		Resolver:     o.Resolver,
		DrainDelay:   max(o.DrainDelay, 0),
		NoDrainDelay: o.DrainDelay < 0,
		Logger:       logger,
	})
	if err != nil {
		ln.Close()
		return fmt.Errorf("%w: %w", ErrServe, err)
	}
	for name, check := range o.Checks {
		app.Health().AddCheck(name, check)
	}

	// The default deadline is also the most a caller's header may ask
	// for: a client can shorten a request's budget, never lengthen it, and
	// when the budget runs out it is this service's (outcome.ErrTimeout),
	// so whatever it was waiting for is blamed.
	var dcfg deadline.Config
	switch {
	case o.DefaultDeadline == 0:
		dcfg = deadline.Config{Default: DefaultDeadline, Max: DefaultDeadline}
	case o.DefaultDeadline > 0:
		dcfg = deadline.Config{Default: o.DefaultDeadline, Max: o.DefaultDeadline}
	}
	dl, err := deadline.New(dcfg)
	if err != nil {
		ln.Close()
		return err
	}
	tr, err := tracing.New(tracing.Config{})
	if err != nil {
		ln.Close()
		return err
	}
	lg, err := logging.New(logging.Config{Logger: logger})
	if err != nil {
		ln.Close()
		return err
	}
	inner := dl.Handler(o.Handler)
	if o.Access != nil {
		inner = o.Access(inner)
	}
	api := tr.Operation(o.Service).Handler(
		lg.Handler(
			tel.Metrics.Handler(inner)))
	if m, ok := o.Handler.(interface {
		Handler(*http.Request) (http.Handler, string)
	}); ok {
		api = namedRoutes(m, api)
	}
	if o.Edge != nil {
		api = o.Edge(api)
	}
	root := http.NewServeMux()
	app.Health().Mount(root)
	root.Handle("GET /metrics", tel.Prometheus.Handler())
	root.Handle("/", api)

	// The deadline layer is the one above, inside the access log, metrics
	// and span, so that its answers (400 for a malformed header, 504 on
	// arrival or at the deadline) are logged, counted and traced like any
	// other; shttp.NewServer's own would be a second one outside them.
	srv := shttp.NewServer(root, shttp.WithoutDeadlineHandler())
	if err := app.Add(switchyard.Server{Service: o.Service, Listener: ln, HTTP: srv}); err != nil {
		ln.Close()
		return err
	}

	var wg sync.WaitGroup
	done := make(chan struct{})
	if o.OnReady != nil {
		wg.Go(func() {
			select {
			case <-app.Ready():
				if addrs := app.Addrs(); len(addrs) > 0 {
					o.OnReady(addrs[0])
				}
			case <-done:
			}
		})
	}
	err = app.Run(ctx)
	close(done)
	wg.Wait()
	return err
}

// namedRoutes sets r.Pattern to the route m would choose before the
// middleware runs, so that metrics, logs and spans name the route even
// though each wrapper passes its own copy of the request down.
func namedRoutes(m interface {
	Handler(*http.Request) (http.Handler, string)
}, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, r.Pattern = m.Handler(r)
		if r.Pattern == "" { // no route: the mux answers 404 or 405 in plain text
			w = &jsonStatus{ResponseWriter: w}
		}
		next.ServeHTTP(w, r)
	})
}

// jsonStatus turns the plain-text error answers of http.ServeMux (404, 405)
// into the shop's JSON error body, keeping their status and headers (Allow).
type jsonStatus struct {
	http.ResponseWriter
	replaced bool
}

func (j *jsonStatus) WriteHeader(code int) {
	if code < 400 || j.replaced {
		j.ResponseWriter.WriteHeader(code)
		return
	}
	j.replaced = true
	h := j.Header()
	h.Del("Content-Length")
	h.Del("X-Content-Type-Options")
	shttp.EncodeError(context.Background(), shttp.NewError(code, http.StatusText(code)), j.ResponseWriter)
}

func (j *jsonStatus) Write(p []byte) (int, error) {
	if j.replaced {
		return len(p), nil // the JSON body has been written instead
	}
	return j.ResponseWriter.Write(p)
}
