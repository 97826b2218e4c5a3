package launcher

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"sync/atomic"
	"syscall"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/switchyard/switchyard/discovery"
	"github.com/switchyard/switchyard/discovery/etcd"
	"github.com/switchyard/switchyard/discovery/etcd/embedded"
	"github.com/switchyard/switchyard/examples/ecommerce/internal/private"
	"github.com/switchyard/switchyard/examples/ecommerce/internal/settings"
)

// Run starts the shop as described in the package documentation, prints
// its URLs to cfg.Out once it is ready, and runs until ctx ends or (unless
// cfg.NoSignals) SIGINT or SIGTERM arrives; then it stops every child and
// the registry and returns nil. It returns an error when cfg is invalid
// (wrapping [ErrConfig]), when --addr or --registry-listen is taken
// (wrapping [ErrAddrInUse]), when a child fails during start-up (wrapping
// [ErrChildFailed]), when the shop is not ready within cfg.ReadyTimeout, or
// when the registry fails; in every case nothing it started is left
// running.
func Run(ctx context.Context, cfg Config) error {
	if err := cfg.Validate(); err != nil {
		return err
	}
	l, err := newLauncher(cfg)
	if err != nil {
		return err
	}
	return l.run(ctx)
}

type launcher struct {
	cfg    Config
	exe    string
	out    io.Writer
	log    *slog.Logger
	logDir string
	ready  atomic.Bool
	failed chan error
	force  chan struct{} // closed by a second signal: kill, do not drain
	regURL string
	admin  adminSecret
	tls    *shopTLS // set by setUpTLS
	// gatewayListen is --addr with a zero port made concrete; gateway is
	// the same with an unspecified host replaced by 127.0.0.1, for URLs.
	gatewayListen, gateway string
}

func newLauncher(cfg Config) (*launcher, error) {
	l := &launcher{cfg: cfg, exe: cfg.Executable, out: cfg.Out, log: cfg.Logger, force: make(chan struct{})}
	if l.exe == "" {
		exe, err := os.Executable()
		if err != nil {
			return nil, fmt.Errorf("launcher: cannot find this program's executable: %w", err)
		}
		l.exe = exe
	}
	if l.out == nil {
		l.out = io.Discard
	}
	if l.log == nil {
		l.log = slog.Default()
	}
	if l.cfg.ReadyTimeout <= 0 {
		l.cfg.ReadyTimeout = DefaultReadyTimeout
	}
	if l.cfg.StopTimeout <= 0 {
		l.cfg.StopTimeout = DefaultStopTimeout
	}
	l.failed = make(chan error, (len(Services)*l.cfg.Replicas)+1)
	return l, nil
}

func (l *launcher) run(parent context.Context) (err error) {
	ctx, cancel := context.WithCancel(parent)
	defer cancel()
	if !l.cfg.NoSignals {
		sigs := make(chan os.Signal, 2)
		signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
		defer signal.Stop(sigs)
		stopSignals := make(chan struct{})
		defer close(stopSignals)
		go func() {
			select {
			case <-sigs:
				l.log.Info("launcher: stopping (press Ctrl-C again to kill everything at once)")
				cancel()
			case <-stopSignals:
				return
			}
			select {
			case <-sigs:
				close(l.force)
			case <-stopSignals:
			}
		}()
	}

	// Everything under the data directory is private to its owner: what
	// is created from here on is, and what an earlier run or another
	// program left with wider modes is tightened (and logged) first.
	if err := private.Mkdir(l.cfg.Data, l.log); err != nil {
		return fmt.Errorf("launcher: --data %s: %w", l.cfg.Data, err)
	}
	if err := private.TightenTree(l.cfg.Data, l.log); err != nil {
		return fmt.Errorf("launcher: --data %s: %w", l.cfg.Data, err)
	}
	l.logDir = filepath.Join(l.cfg.Data, "logs")
	if err := private.Mkdir(l.logDir, l.log); err != nil {
		return fmt.Errorf("launcher: %w", err)
	}
	if l.admin, err = l.adminPassword(); err != nil {
		return err
	}
	// Check both addresses before starting anything, so that a second
	// "up" fails at once with the flag to change.
	if l.gatewayListen, l.gateway, err = freeAddr("addr", l.cfg.Addr); err != nil {
		return err
	}
	if _, _, err := freeAddr("registry-listen", l.cfg.RegistryListen); err != nil {
		return err
	}
	// Mutual TLS everywhere inside the shop: every child, the registry
	// and the launcher get a certificate of the development CA.
	if err := l.setUpTLS(); err != nil {
		return err
	}

	startCtx, startCancel := context.WithTimeout(ctx, l.cfg.ReadyTimeout)
	defer startCancel()
	srv, err := embedded.Start(startCtx, filepath.Join(l.cfg.Data, "registry"), l.cfg.RegistryListen,
		embedded.Config{TLS: l.tls.registryTLS()})
	if err != nil {
		if errors.Is(err, syscall.EADDRINUSE) {
			return addrInUse("registry-listen", l.cfg.RegistryListen, err)
		}
		if ctx.Err() != nil {
			return nil // asked to stop during start-up
		}
		return fmt.Errorf("launcher: registry: %w", err)
	}
	defer srv.Close()
	l.regURL = "etcd://" + srv.Addr()

	cli, err := l.tls.registryClient(srv.Endpoints())
	if err != nil {
		return fmt.Errorf("launcher: registry client: %w", err)
	}
	defer cli.Close()
	// Renew certificates while the shop runs; stopped (deferred calls run
	// last in, first out) once every child has stopped.
	defer l.tls.renew(ctx)()
	// Registrations of a previous run live on until their leases expire
	// (a restarted etcd gives every lease its full TTL again). Nothing of
	// the shop runs yet, so whatever is registered is stale.
	if _, err := cli.Delete(startCtx, etcd.DefaultPrefix, clientv3.WithPrefix()); err != nil {
		return fmt.Errorf("launcher: clear stale registrations: %w", err)
	}
	resolver, err := etcd.NewResolver(cli, etcd.ResolverConfig{})
	if err != nil {
		return fmt.Errorf("launcher: registry resolver: %w", err)
	}
	defer resolver.Close()

	var services, gateway []*child
	defer func() {
		// Gateway first, so that no new request reaches a draining
		// service through it; then every service at once.
		if len(gateway) > 0 {
			l.log.Info("launcher: stopping the gateway")
			stopAll(gateway, l.cfg.StopTimeout, l.force)
		}
		if len(services) > 0 {
			l.log.Info("launcher: stopping the services")
			stopAll(services, l.cfg.StopTimeout, l.force)
		}
	}()

	for _, name := range Services {
		for i := 1; i <= l.cfg.Replicas; i++ {
			c := l.newChild(name, i, "127.0.0.1:0")
			if err := c.start(); err != nil {
				return err
			}
			services = append(services, c)
		}
	}
	if err := l.waitRegistered(startCtx, resolver); err != nil {
		return l.startError(ctx, err)
	}
	g := l.newChild(GatewayService, 1, l.gatewayListen)
	if err := g.start(); err != nil {
		return err
	}
	gateway = append(gateway, g)
	if err := l.waitGateway(startCtx); err != nil {
		return l.startError(ctx, err)
	}

	var ctl *control
	if l.cfg.Chaos {
		ctl, err = startControl(ctx, cli, l.tls.self, l.cfg.Data, services, l.log)
		if err != nil {
			return err
		}
		defer ctl.close()
	}
	l.ready.Store(true)
	l.banner(ctl)

	select {
	case <-ctx.Done():
		return nil
	case err := <-srv.Err():
		return fmt.Errorf("launcher: registry failed: %w", err)
	}
}

// startError turns an error of the start-up into Run's result: nil when the
// launcher was asked to stop meanwhile (ctx ended), the error otherwise
// (including the start-up's own timeout).
func (l *launcher) startError(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return nil
	}
	return err
}

func (l *launcher) newChild(service string, replica int, listen string) *child {
	args := []string{"serve", service,
		"--registry", l.regURL,
		"--listen", listen,
		"--data", l.cfg.Data,
	}
	args = append(args, l.tls.args(service)...)
	if service == "users" {
		args = append(args, "--admin-email", l.cfg.AdminEmail)
		if l.admin.file != "" {
			args = append(args, "--admin-password-file", l.admin.file)
		}
	}
	if service == GatewayService && len(l.cfg.TrustedProxies) > 0 {
		args = append(args, "--trusted-proxies", l.cfg.TrustedProxies.String())
	}
	return &child{
		service:    service,
		replica:    replica,
		exe:        l.exe,
		args:       args,
		env:        l.childEnv(service),
		logPath:    filepath.Join(l.logDir, fmt.Sprintf("%s-%d.log", service, replica)),
		log:        l.log,
		supervised: l.ready.Load,
		failed:     l.failed,
	}
}

// waitRegistered waits until the registry lists every replica of every
// service, a child fails, or ctx ends.
func (l *launcher) waitRegistered(ctx context.Context, r discovery.Resolver) error {
	for _, name := range Services {
		w, err := r.Watch(ctx, name)
		if err != nil {
			return fmt.Errorf("launcher: watch %s: %w", name, err)
		}
		err = func() error {
			defer w.Stop()
			for {
				select {
				case u := <-w.Updates():
					if len(u.Instances) >= l.cfg.Replicas {
						return nil
					}
				case err := <-l.failed:
					return err
				case <-ctx.Done():
					return fmt.Errorf("launcher: %s did not register %d instances in time: %w (see %s)",
						name, l.cfg.Replicas, ctx.Err(), l.logDir)
				}
			}
		}()
		if err != nil {
			return err
		}
	}
	return nil
}

// waitGateway polls the gateway's /readyz until it answers 200.
func (l *launcher) waitGateway(ctx context.Context) error {
	client := l.tls.readinessClient()
	defer client.CloseIdleConnections()
	url := l.tls.scheme() + "://" + l.gateway + "/readyz"
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if resp, err := client.Do(req); err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case err := <-l.failed:
			return err
		case <-ctx.Done():
			return fmt.Errorf("launcher: the gateway was not ready at %s in time: %w (see %s)", url, ctx.Err(), l.logDir)
		case <-tick.C:
		}
	}
}

// redactedURL returns a database URL with its password hidden, for the
// banner; settings.CheckDB has already parsed it.
func redactedURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(the --db URL)"
	}
	return u.Redacted()
}

func (l *launcher) banner(ctl *control) {
	base := l.tls.scheme() + "://" + l.gateway
	fmt.Fprintf(l.out, "Switchyard shop is up: %d × users, catalog, orders; gateway; registry; mutual TLS inside.\n", l.cfg.Replicas)
	fmt.Fprintf(l.out, "  Storefront  %s/\n", base)
	fmt.Fprintf(l.out, "  Admin       %s/admin/   (log in as %s; %s)\n", base, l.cfg.AdminEmail, l.admin.note)
	fmt.Fprintf(l.out, "  API         %s/api/v1/products\n", base)
	fmt.Fprintf(l.out, "  Registry    %s   (mutual TLS: client certificates of the shop's CA required)\n", l.regURL)
	fmt.Fprintf(l.out, "  PKI         %s   (development CA, certificate and key of each service)\n", l.tls.authority.Dir())
	if l.tls.publicRoots != nil {
		fmt.Fprintf(l.out, "  HTTPS       self-signed certificate in %s (curl --cacert it; browsers warn)\n", l.tls.publicCert)
	}
	fmt.Fprintf(l.out, "  Data        %s   (logs in %s)\n", l.cfg.Data, l.logDir)
	if l.cfg.DB != "" {
		fmt.Fprintf(l.out, "  Database    %s   (schemas users, catalog, orders)\n", redactedURL(l.cfg.DB))
	}
	if ctl != nil {
		fmt.Fprintf(l.out, "  Chaos       https://%s%s?service=orders   (registered as %q; client certificate %s, bearer secret in %s)\n",
			ctl.addr, KillPath, ControlService, IdentityFiles(l.cfg.Data, LoadgenService).Cert, ctl.secretPath)
	}
	fmt.Fprintf(l.out, "Press Ctrl-C to stop.\n")
}

// freeAddr checks that addr can be listened on. It returns addr with a
// zero port replaced by a free one (listen), and the same with an
// unspecified host replaced by 127.0.0.1 (dial), for URLs and probes.
func freeAddr(flagName, addr string) (listen, dial string, err error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return "", "", addrInUse(flagName, addr, err)
	}
	port := strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)
	ln.Close()
	host, _, _ := net.SplitHostPort(addr)
	listen = net.JoinHostPort(host, port)
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		host = "127.0.0.1"
	}
	return listen, net.JoinHostPort(host, port), nil
}

// addrInUse explains a failure to listen on addr, naming the flag and the
// environment variable that choose it.
func addrInUse(flagName, addr string, err error) error {
	return &addrError{flag: flagName, addr: addr, err: err}
}

// addrError is a failure to listen on the address of a flag. It wraps
// ErrAddrInUse when the address is taken, and the listen error.
type addrError struct {
	flag, addr string
	err        error
}

func (e *addrError) Error() string {
	what := fmt.Sprintf("cannot listen on %s (%v)", e.addr, e.err)
	if errors.Is(e.err, syscall.EADDRINUSE) {
		what = e.addr + " is already in use by another process"
	}
	return fmt.Sprintf("launcher: --%s: %s; choose another address with --%s or %s",
		e.flag, what, e.flag, settings.EnvName(e.flag))
}

func (e *addrError) Unwrap() []error {
	if errors.Is(e.err, syscall.EADDRINUSE) {
		return []error{ErrAddrInUse, e.err}
	}
	return []error{e.err}
}
