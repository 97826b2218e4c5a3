package switchyard

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"slices"
	"sync"
	"syscall"
	"time"

	"github.com/switchyard/switchyard/discovery"
	"github.com/switchyard/switchyard/internal/clock"
	shttp "github.com/switchyard/switchyard/transport/http"
)

// App defaults.
const (
	// DefaultDrainDelay is how long an App keeps serving after it has
	// deregistered, so that every client watching the registry has dropped
	// it before its listeners close: 2s, twice the 1s a registry change
	// may take to reach every watcher (the library's discovery backends
	// take ≤ 100 ms; Kubernetes endpoint updates take longer, so raise it
	// there).
	DefaultDrainDelay = 2 * time.Second
	// DefaultConfirmTimeout bounds waiting for [Config].Resolver to show
	// the instance gone: 10s.
	DefaultConfirmTimeout = 10 * time.Second
	// DefaultShutdownTimeout bounds waiting for in-flight requests once
	// the listeners are closed: 15s. Connections still busy then are
	// closed.
	DefaultShutdownTimeout = 15 * time.Second
	// DefaultRegisterTimeout bounds each Register and Deregister call: 10s.
	DefaultRegisterTimeout = 10 * time.Second
)

// Errors returned by [App.Add] and [App.Run].
var (
	// ErrAppStarted: Add or Run was called after Run had begun; an App
	// runs once.
	ErrAppStarted = errors.New("switchyard: app already started")
	// ErrNoServers: Run was called on an App without servers.
	ErrNoServers = errors.New("switchyard: app has no servers")
	// ErrInvalidServer: Add was given a Server without a handler or
	// without an address or listener.
	ErrInvalidServer = errors.New("switchyard: invalid server")
)

// App runs the HTTP servers of one service process through their whole
// life: listen, register, serve, and, on SIGTERM, SIGINT or the end of
// Run's context, drain without dropping a request.
//
// It is called App, not Server or Service, because it owns the process's
// lifecycle rather than any one listener: it may run several servers (the
// API, an admin port), some registered under a service name and some not,
// and it is what main hands control to.
//
// Run proceeds in this order:
//
//  1. Listen on every server's address (port 0 picks a free port) and
//     start serving. Readiness reports "starting".
//  2. Register one instance per server that has a Service name, with the
//     listener's real address (or Advertise), in the registrar. Readiness
//     turns "ready" and [App.Ready] is closed.
//  3. Wait for the context to end, a signal, or a server to fail.
//  4. Drain: readiness turns "draining" (503), every instance is
//     deregistered, and the servers keep serving for the drain delay (and,
//     with [Config].Resolver, until the registry shows the instances gone,
//     bounded), so that clients that still route here stop doing so.
//  5. Stop: http.Server.Shutdown closes the listeners and idle
//     connections and waits for in-flight requests, bounded by the
//     shutdown timeout, after which remaining connections are closed.
//
// A second signal during the drain skips the remaining waits and closes
// every connection at once. Everything Run opened (listeners, servers,
// watches, its signal handler) is closed when it returns, and every
// goroutine it started has ended. The registrar, resolver and handlers
// belong to the caller.
//
// An App runs once. Its methods are safe for concurrent use.
type App struct {
	cfg    settings
	health *shttp.Health
	ready  chan struct{}

	mu        sync.Mutex // guards servers, started, addrs and instances
	servers   []Server
	started   bool
	addrs     []net.Addr
	instances []discovery.Instance
}

// Server is one HTTP server of an [App].
type Server struct {
	// Service is the service name this server registers under. Empty
	// means the server is not registered (an admin or metrics port).
	Service string
	// Addr is the "host:port" to listen on; port 0 picks a free port.
	// Ignored when Listener is set.
	Addr string
	// Listener, when set, is served instead of listening on Addr. The App
	// closes it.
	Listener net.Listener
	// Handler serves requests when HTTP is nil or has no Handler.
	Handler http.Handler
	// HTTP is the server to run. Nil means shttp.NewServer(Handler),
	// which has timeouts, a header limit and a body limit set. Its Addr
	// is ignored.
	HTTP *http.Server
	// Instance is the template of the registration: its ID (default
	// "<service>-<12 random hex digits>"), Weight, Zone, Version and Meta
	// are used; Service and Addr are filled in by the App.
	Instance discovery.Instance
	// Advertise is the host, or host:port, registered instead of the
	// listener's address, for a process behind NAT or listening on all
	// interfaces. Default: the listener's address, with an unspecified
	// host (0.0.0.0, ::) replaced by the machine's first non-loopback IP.
	Advertise string
}

// ErrConfig is wrapped by the error [New] returns for an invalid [Config].
var ErrConfig = errors.New("switchyard: invalid configuration")

// Config configures an [App]. The zero value registers nothing, keeps
// serving [DefaultDrainDelay] after a stop is asked for, waits up to
// [DefaultShutdownTimeout] for in-flight requests, stops on SIGINT and
// SIGTERM and logs to slog.Default(). A negative duration is an
// [ErrConfig].
type Config struct {
	// Registrar is where the App registers its servers. Nil: nothing is
	// registered. A registrar that implements discovery.StateReporter is
	// also added to readiness as the check "registration".
	Registrar discovery.Registrar
	// Resolver, when set, makes the drain wait, in addition to the drain
	// delay, until its watch of each service no longer lists the App's
	// instances (bounded by ConfirmTimeout), so that a slow registry
	// cannot leave clients routing to a closed listener. Nil: only the
	// drain delay is waited.
	Resolver discovery.Resolver
	// DrainDelay is how long the App keeps serving after deregistering.
	// Zero means [DefaultDrainDelay]; set NoDrainDelay for none.
	DrainDelay time.Duration
	// NoDrainDelay stops right after deregistering (tests, a process that
	// no client routes to). DrainDelay must then be zero.
	NoDrainDelay bool
	// ConfirmTimeout bounds the wait for Resolver. Zero means
	// [DefaultConfirmTimeout].
	ConfirmTimeout time.Duration
	// ShutdownTimeout bounds the wait for in-flight requests once the
	// listeners are closed. Zero means [DefaultShutdownTimeout].
	ShutdownTimeout time.Duration
	// RegisterTimeout bounds each Register and Deregister call. Zero means
	// [DefaultRegisterTimeout].
	RegisterTimeout time.Duration
	// Signals start a graceful stop; a second one during the drain skips
	// the remaining waits. Nil means SIGINT and SIGTERM; set NoSignals to
	// leave signals alone, so that only Run's context stops the App.
	Signals []os.Signal
	// NoSignals handles no signal. Signals must then be empty.
	NoSignals bool
	// Logger receives lifecycle events (listening, registered, draining,
	// stopped). Nil means slog.Default().
	Logger *slog.Logger
	// Health is the Health whose state the App drives. Nil means a new
	// one, returned by [App.Health].
	Health *shttp.Health
}

// validate reports the first invalid field of c.
func (c *Config) validate() error {
	for _, d := range []struct {
		name string
		v    time.Duration
	}{
		{"DrainDelay", c.DrainDelay}, {"ConfirmTimeout", c.ConfirmTimeout},
		{"ShutdownTimeout", c.ShutdownTimeout}, {"RegisterTimeout", c.RegisterTimeout},
	} {
		if d.v < 0 {
			return fmt.Errorf("negative %s %v", d.name, d.v)
		}
	}
	switch {
	case c.NoDrainDelay && c.DrainDelay != 0:
		return fmt.Errorf("both NoDrainDelay and DrainDelay %v set", c.DrainDelay)
	case c.NoSignals && len(c.Signals) > 0:
		return fmt.Errorf("both NoSignals and Signals %v set", c.Signals)
	}
	return nil
}

// settings is a Config with its defaults applied.
type settings struct {
	registrar       discovery.Registrar
	resolver        discovery.Resolver
	drainDelay      time.Duration
	confirmTimeout  time.Duration
	shutdownTimeout time.Duration
	registerTimeout time.Duration
	signals         []os.Signal
	log             *slog.Logger
	clock           clock.Clock // the real clock; tests over real listeners set a fake (export_test.go)
}

// New returns an App with no servers, configured by cfg. It returns an
// error wrapping [ErrConfig] when cfg holds a value out of range.
func New(cfg Config) (*App, error) {
	if err := cfg.validate(); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrConfig, err)
	}
	c := settings{
		registrar:       cfg.Registrar,
		resolver:        cfg.Resolver,
		drainDelay:      cmp.Or(cfg.DrainDelay, DefaultDrainDelay),
		confirmTimeout:  cmp.Or(cfg.ConfirmTimeout, DefaultConfirmTimeout),
		shutdownTimeout: cmp.Or(cfg.ShutdownTimeout, DefaultShutdownTimeout),
		registerTimeout: cmp.Or(cfg.RegisterTimeout, DefaultRegisterTimeout),
		signals:         slices.Clone(cfg.Signals),
		log:             cmp.Or(cfg.Logger, slog.Default()),
		clock:           clock.Real{},
	}
	if cfg.NoDrainDelay {
		c.drainDelay = 0
	}
	switch {
	case cfg.NoSignals:
		c.signals = nil
	case len(c.signals) == 0:
		c.signals = []os.Signal{os.Interrupt, syscall.SIGTERM}
	}
	health := cfg.Health
	if health == nil {
		health = shttp.NewHealth()
	}
	if sr, ok := c.registrar.(discovery.StateReporter); ok {
		health.AddStateReporter("registration", sr)
	}
	return &App{cfg: c, health: health, ready: make(chan struct{})}, nil
}

// Health returns the Health whose state the App drives. Mount it on a
// server's mux to serve /healthz and /readyz.
func (a *App) Health() *shttp.Health { return a.health }

// Add adds a server. It fails with an error wrapping [ErrInvalidServer]
// when s has neither a Handler nor an HTTP server with one, or neither an
// Addr nor a Listener, and with [ErrAppStarted] once Run has begun.
func (a *App) Add(s Server) error {
	switch {
	case s.Handler == nil && (s.HTTP == nil || s.HTTP.Handler == nil):
		return fmt.Errorf("%w: no handler", ErrInvalidServer)
	case s.Addr == "" && s.Listener == nil:
		return fmt.Errorf("%w: no address or listener", ErrInvalidServer)
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.started {
		return ErrAppStarted
	}
	a.servers = append(a.servers, s)
	return nil
}

// Ready returns a channel closed once every server listens and every
// instance has been registered (or its registration attempted).
func (a *App) Ready() <-chan struct{} { return a.ready }

// Addrs returns the listeners' addresses, one per server in the order they
// were added, once [App.Ready] is closed; nil before.
func (a *App) Addrs() []net.Addr {
	a.mu.Lock()
	defer a.mu.Unlock()
	return slices.Clone(a.addrs)
}

// Instances returns the registered instances once [App.Ready] is closed.
func (a *App) Instances() []discovery.Instance {
	a.mu.Lock()
	defer a.mu.Unlock()
	return slices.Clone(a.instances)
}

// running is one server while Run runs.
type running struct {
	spec  Server
	srv   *http.Server
	ln    net.Listener
	inst  discovery.Instance // zero when not registered
	done  chan struct{}      // closed when Serve has returned
	fresh *freshConns
}

// freshConns tracks connections that have been accepted but have not yet
// sent a request. http.Server.Shutdown treats such a connection as busy
// for five seconds, in case its request is on the way, and a client's
// transport often dials a spare connection that it then never uses: left
// alone, one spare connection holds a drain up for five seconds.
type freshConns struct {
	mu    sync.Mutex // guards since
	since map[net.Conn]time.Time
}

// hook returns a ConnState hook that records fresh connections and then
// calls next, the server's own hook, if any.
func (f *freshConns) hook(next func(net.Conn, http.ConnState)) func(net.Conn, http.ConnState) {
	return func(c net.Conn, st http.ConnState) {
		f.mu.Lock()
		if st == http.StateNew {
			f.since[c] = time.Now()
		} else {
			delete(f.since, c)
		}
		f.mu.Unlock()
		if next != nil {
			next(c, st)
		}
	}
}

// closeOlderThan closes the fresh connections accepted more than age ago.
// Their clients never sent a request on them, so nothing in flight is
// lost. A client that sends its first request on such a connection after
// this sees it closed, and Go's transport does not retry on a connection
// it never used; that is acceptable only because the sweep runs after the
// drain, when clients have stopped routing to this instance.
func (f *freshConns) closeOlderThan(age time.Duration) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for c, at := range f.since {
		if time.Since(at) >= age {
			c.Close()
			delete(f.since, c)
		}
	}
}

// Run runs the App until ctx ends, a signal of [Config].Signals arrives, or a
// server fails, then drains and stops as described on [App]. It returns
// nil after a requested stop, and otherwise the errors that stopped it or
// happened on the way out (a server's failure, a listen or registration
// error, a failed deregistration, a shutdown that timed out).
//
// A registration that fails is fatal only when the registrar cannot report
// its state: a registrar implementing discovery.StateReporter keeps
// retrying on its own, so the App serves on and readiness reports the
// problem.
func (a *App) Run(ctx context.Context) error {
	a.mu.Lock()
	if a.started {
		a.mu.Unlock()
		return ErrAppStarted
	}
	a.started = true
	specs := slices.Clone(a.servers)
	a.mu.Unlock()
	if len(specs) == 0 {
		return ErrNoServers
	}
	log := a.cfg.log
	a.health.SetState(shttp.Starting)

	var sigs chan os.Signal
	if len(a.cfg.signals) > 0 {
		sigs = make(chan os.Signal, 2)
		signal.Notify(sigs, a.cfg.signals...)
		defer signal.Stop(sigs)
	}

	// 1. Listen and serve.
	runs := make([]*running, 0, len(specs))
	var lc net.ListenConfig
	for _, s := range specs {
		ln := s.Listener
		if ln == nil {
			var err error
			if ln, err = lc.Listen(ctx, "tcp", s.Addr); err != nil {
				for _, r := range runs {
					_ = r.ln.Close()
				}
				return fmt.Errorf("switchyard: listen %s: %w", s.Addr, err)
			}
		}
		srv := s.HTTP
		if srv == nil {
			srv = shttp.NewServer(s.Handler)
		} else if srv.Handler == nil {
			srv.Handler = s.Handler
		}
		fresh := &freshConns{since: make(map[net.Conn]time.Time)}
		srv.ConnState = fresh.hook(srv.ConnState)
		runs = append(runs, &running{spec: s, srv: srv, ln: ln, done: make(chan struct{}), fresh: fresh})
	}
	errs := make(chan error, len(runs))
	for _, r := range runs {
		go func() {
			defer close(r.done)
			if err := r.srv.Serve(r.ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
				errs <- fmt.Errorf("switchyard: serve %s: %w", r.ln.Addr(), err)
			}
		}()
		log.Info("switchyard: listening", "service", r.spec.Service, "addr", r.ln.Addr().String())
	}
	addrs := make([]net.Addr, len(runs))
	for i, r := range runs {
		addrs[i] = r.ln.Addr()
	}

	// 2. Register.
	var failures []error
	for _, r := range runs {
		if r.spec.Service == "" || a.cfg.registrar == nil || ctx.Err() != nil {
			continue
		}
		inst, err := instanceFor(r.spec, r.ln.Addr())
		if err != nil {
			failures = append(failures, err)
			break
		}
		r.inst = inst
		rctx, cancel := context.WithTimeout(ctx, a.cfg.registerTimeout)
		err = a.cfg.registrar.Register(rctx, inst)
		cancel()
		switch {
		case err == nil:
			log.Info("switchyard: registered", "service", inst.Service, "id", inst.ID, "addr", inst.Addr)
		case ctx.Err() != nil:
			// Stopping anyway; the drain deregisters it.
		case isReporter(a.cfg.registrar):
			log.Warn("switchyard: registration failed; the registrar keeps retrying", "service", inst.Service, "id", inst.ID, "err", err)
		default:
			failures = append(failures, fmt.Errorf("switchyard: register %s: %w", inst.ID, err))
		}
		if len(failures) > 0 {
			break
		}
	}
	a.mu.Lock()
	a.addrs = addrs
	for _, r := range runs {
		if r.inst.ID != "" {
			a.instances = append(a.instances, r.inst)
		}
	}
	a.mu.Unlock()
	if len(failures) == 0 {
		a.health.SetState(shttp.Serving)
	}
	close(a.ready)

	// 3. Wait for a reason to stop.
	hurry := make(chan struct{})
	if len(failures) == 0 {
		select {
		case <-ctx.Done():
			log.Info("switchyard: stopping", "reason", context.Cause(ctx))
		case sig := <-sigs:
			log.Info("switchyard: stopping", "signal", sig.String())
		case err := <-errs:
			log.Error("switchyard: server failed; stopping", "err", err)
			failures = append(failures, err)
		}
	}
	// A signal from now on means "hurry".
	var hurryOnce sync.Once
	stopSignals := make(chan struct{})
	var sigWatcher sync.WaitGroup
	if sigs != nil {
		sigWatcher.Go(func() {
			select {
			case sig := <-sigs:
				log.Warn("switchyard: second signal; closing connections now", "signal", sig.String())
				hurryOnce.Do(func() { close(hurry) })
			case <-stopSignals:
			}
		})
	}
	defer func() {
		close(stopSignals)
		sigWatcher.Wait()
	}()

	// 4. Drain.
	a.health.SetState(shttp.Draining)
	failures = append(failures, a.drain(runs, hurry)...)

	// 5. Stop.
	failures = append(failures, a.stop(runs, hurry)...)
	for len(errs) > 0 {
		failures = append(failures, <-errs)
	}
	log.Info("switchyard: stopped")
	return errors.Join(failures...)
}

// drain deregisters every instance and waits until clients have stopped
// routing to them: the drain delay, and the resolver's confirmation when
// there is a resolver, both bounded and both cut short by hurry.
func (a *App) drain(runs []*running, hurry <-chan struct{}) []error {
	var failures []error
	var insts []discovery.Instance
	for _, r := range runs {
		if r.inst.ID == "" {
			continue
		}
		insts = append(insts, r.inst)
		ctx, cancel := context.WithTimeout(context.Background(), a.cfg.registerTimeout)
		err := a.cfg.registrar.Deregister(ctx, r.inst)
		cancel()
		if err != nil {
			failures = append(failures, fmt.Errorf("switchyard: deregister %s: %w", r.inst.ID, err))
			continue
		}
		a.cfg.log.Info("switchyard: deregistered", "service", r.inst.Service, "id", r.inst.ID)
	}
	a.cfg.log.Info("switchyard: draining", "delay", a.cfg.drainDelay)

	clk := a.cfg.clock
	waitCtx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var wg sync.WaitGroup
	wg.Go(func() { _ = clock.Sleep(waitCtx, clk, a.cfg.drainDelay) })
	if a.cfg.resolver != nil && len(insts) > 0 {
		wg.Go(func() {
			cctx, ccancel := clock.WithTimeout(waitCtx, clk, a.cfg.confirmTimeout)
			defer ccancel()
			if err := confirmGone(cctx, a.cfg.resolver, insts); err != nil {
				a.cfg.log.Warn("switchyard: removal not confirmed by the resolver", "err", err)
			}
		})
	}
	waited := make(chan struct{})
	go func() {
		wg.Wait()
		close(waited)
	}()
	select {
	case <-waited:
	case <-hurry:
		cancel()
		<-waited
	}
	return failures
}

// confirmGone waits until a watch of every service of insts shows none of
// insts, or ctx ends.
func confirmGone(ctx context.Context, r discovery.Resolver, insts []discovery.Instance) error {
	ids := make(map[string]map[string]bool)
	for _, in := range insts {
		if ids[in.Service] == nil {
			ids[in.Service] = make(map[string]bool)
		}
		ids[in.Service][in.ID] = true
	}
	for service, want := range ids {
		w, err := r.Watch(ctx, service)
		if err != nil {
			return fmt.Errorf("watch %s: %w", service, err)
		}
		err = waitGone(ctx, w, want)
		w.Stop()
		if err != nil {
			return fmt.Errorf("watch %s: %w", service, err)
		}
	}
	return nil
}

func waitGone(ctx context.Context, w discovery.Watch, ids map[string]bool) error {
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case u, ok := <-w.Updates():
			if !ok {
				return discovery.ErrStopped
			}
			if u.Err != nil {
				continue // a last known good list proves nothing
			}
			if !slices.ContainsFunc(u.Instances, func(in discovery.Instance) bool { return ids[in.ID] }) {
				return nil
			}
		}
	}
}

// stop shuts every server down at once, waiting for in-flight requests up
// to the shutdown timeout (or until hurry), then closes what is left.
func (a *App) stop(runs []*running, hurry <-chan struct{}) []error {
	ctx, cancel := clock.WithTimeout(context.Background(), a.cfg.clock, a.cfg.shutdownTimeout)
	var hurried sync.WaitGroup
	hurried.Go(func() {
		select {
		case <-hurry:
			cancel()
		case <-ctx.Done():
		}
	})
	defer func() {
		cancel()
		hurried.Wait()
	}()
	var (
		mu       sync.Mutex // guards failures
		failures []error
		wg       sync.WaitGroup
	)
	for _, r := range runs {
		wg.Go(func() {
			// While Shutdown waits, close connections that were opened
			// and never used, instead of letting each hold it up for five
			// seconds (see freshConns).
			swept := make(chan struct{})
			defer close(swept)
			go func() {
				t := time.NewTicker(freshConnSweep)
				defer t.Stop()
				for {
					r.fresh.closeOlderThan(freshConnAge)
					select {
					case <-t.C:
					case <-swept:
						return
					}
				}
			}()
			err := r.srv.Shutdown(ctx)
			if err != nil {
				// Timed out or hurried: cut the remaining connections.
				_ = r.srv.Close()
				a.cfg.log.Warn("switchyard: shutdown cut connections", "addr", r.ln.Addr().String(), "err", err)
				mu.Lock()
				failures = append(failures, fmt.Errorf("switchyard: shutdown %s: %w", r.ln.Addr(), err))
				mu.Unlock()
			}
			<-r.done
		})
	}
	wg.Wait()
	return failures
}

// A connection that has sent nothing for freshConnAge after it was
// accepted is closed during a shutdown; the check runs every
// freshConnSweep. Real clients send their request within milliseconds of
// connecting.
const (
	freshConnAge   = 500 * time.Millisecond
	freshConnSweep = 100 * time.Millisecond
)

func isReporter(r discovery.Registrar) bool {
	_, ok := r.(discovery.StateReporter)
	return ok
}

// instanceFor builds the registration of s listening on addr.
func instanceFor(s Server, addr net.Addr) (discovery.Instance, error) {
	inst := s.Instance
	inst.Service = s.Service
	if inst.ID == "" {
		var b [6]byte
		_, _ = rand.Read(b[:])
		inst.ID = s.Service + "-" + hex.EncodeToString(b[:])
	}
	host, port, err := net.SplitHostPort(addr.String())
	if err != nil {
		return inst, fmt.Errorf("switchyard: listener address %s: %w", addr, err)
	}
	switch {
	case s.Advertise != "":
		if h, p, err := net.SplitHostPort(s.Advertise); err == nil {
			host, port = h, p
		} else {
			host = s.Advertise
		}
	default:
		if ip := net.ParseIP(host); ip != nil && ip.IsUnspecified() {
			host = outboundIP()
		}
	}
	inst.Addr = net.JoinHostPort(host, port)
	if err := inst.Validate(); err != nil {
		return inst, fmt.Errorf("switchyard: instance for %s: %w", addr, err)
	}
	return inst, nil
}

// outboundIP returns the first non-loopback unicast IPv4 address of the
// machine (else IPv6), or 127.0.0.1 when there is none.
func outboundIP() string {
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return "127.0.0.1"
	}
	var v6 string
	for _, a := range addrs {
		ipn, ok := a.(*net.IPNet)
		if !ok || ipn.IP.IsLoopback() || !ipn.IP.IsGlobalUnicast() {
			continue
		}
		if ipn.IP.To4() != nil {
			return ipn.IP.String()
		}
		if v6 == "" {
			v6 = ipn.IP.String()
		}
	}
	if v6 != "" {
		return v6
	}
	return "127.0.0.1"
}
