package shopcli

import (
	"flag"
	"fmt"
	"io"
	"maps"
	"slices"

	"github.com/switchyard/switchyard/examples/ecommerce/catalog"
	"github.com/switchyard/switchyard/examples/ecommerce/gateway"
	"github.com/switchyard/switchyard/examples/ecommerce/internal/secure"
	"github.com/switchyard/switchyard/examples/ecommerce/internal/settings"
	"github.com/switchyard/switchyard/examples/ecommerce/orders"
	"github.com/switchyard/switchyard/examples/ecommerce/users"
)

// ErrConfig is wrapped by the errors of [Parse] for a command line the
// binary would refuse (it is the binary's own configuration error).
var ErrConfig = settings.ErrConfig

// Services are the services "ecommerce serve" runs.
var Services = []string{gateway.ServiceName, users.ServiceName, catalog.ServiceName, orders.ServiceName}

// ProbePaths are the paths every serve process answers on its listener,
// outside its access policy, so that probes and scrapers need no
// certificate: liveness, readiness and the Prometheus metrics.
var ProbePaths = []string{"/healthz", "/readyz", "/metrics"}

// Serve is a parsed "ecommerce serve SERVICE" command line.
type Serve struct {
	// Service is the service run: gateway, users, catalog or orders.
	Service string
	// Listen is the address of its listener (--listen), which serves the
	// API and ProbePaths.
	Listen string
	// TLS reports whether the listener speaks TLS: a service given
	// --tls-cert, --tls-key and --tls-ca, or the gateway given
	// --public-tls-cert and --public-tls-key (its --tls-* files are its
	// identity towards the services).
	TLS bool
	// Registry is the registry URL (--registry).
	Registry settings.Registry
	// DB is the PostgreSQL URL (--db), empty for SQLite under Data.
	DB string
	// Data is the data directory (--data).
	Data string
	// Env lists the environment variables the command reads, each
	// standing for one of its flags, plus ECOMMERCE_ADMIN_PASSWORD.
	Env []string
}

// Parse parses args, a command line without the program's name that must
// start with "serve SERVICE", as the binary does: the service's flag set,
// each flag also from its ECOMMERCE_* environment variable of the
// process, then the service's validation. Certificate and password files
// are not read (they exist where the command runs, not where it is
// checked): a TLS flag set must still come with its partners. Errors of
// a flag the binary would refuse wrap [ErrConfig].
func Parse(args []string) (*Serve, error) {
	if len(args) < 2 || args[0] != "serve" {
		return nil, fmt.Errorf("shopcli: %q is not \"serve SERVICE [flags]\"", args)
	}
	name, args := args[1], args[2:]
	fs := flag.NewFlagSet("serve "+name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	var svc *settings.Service
	var gw gateway.Config
	switch name {
	case gateway.ServiceName:
		gw.RegisterFlags(fs)
		svc = &gw.Service
	case users.ServiceName, catalog.ServiceName, orders.ServiceName:
		svc = new(settings.Service)
		svc.RegisterFlags(fs)
	default:
		return nil, fmt.Errorf("shopcli: unknown service %q", name)
	}
	if err := settings.ParseFlags(fs, args); err != nil {
		return nil, fmt.Errorf("shopcli: serve %s: %w", name, err)
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("shopcli: serve %s: unexpected argument %q", name, fs.Arg(0))
	}
	// Validate everything but the files themselves, which exist where
	// the command runs: the TLS files must come all three or none.
	tlsFiles := svc.TLS
	if tlsFiles.Enabled() && (tlsFiles.Cert == "" || tlsFiles.Key == "" || tlsFiles.CA == "") {
		return nil, fmt.Errorf("shopcli: serve %s: %w: --tls-cert, --tls-key and --tls-ca go together", name, ErrConfig)
	}
	public := gw.PublicTLS
	svc.TLS = settings.TLSFiles{}
	gw.PublicTLS = settings.TLSFiles{}
	var err error
	if name == gateway.ServiceName {
		if (public.Cert == "") != (public.Key == "") {
			return nil, fmt.Errorf("shopcli: serve %s: %w: --public-tls-cert and --public-tls-key go together", name, ErrConfig)
		}
		err = gw.Validate()
	} else {
		err = svc.Validate()
	}
	if err != nil {
		return nil, fmt.Errorf("shopcli: serve %s: %w", name, err)
	}
	reg, err := settings.ParseRegistry("registry", svc.Registry)
	if err != nil {
		return nil, err
	}
	s := &Serve{
		Service: name, Listen: svc.Listen, Registry: reg, DB: svc.DB, Data: svc.Data,
		TLS: tlsFiles.Enabled() && name != gateway.ServiceName || public.Cert != "",
	}
	fs.VisitAll(func(f *flag.Flag) { s.Env = append(s.Env, settings.EnvName(f.Name)) })
	s.Env = append(s.Env, settings.EnvName("admin-password"))
	slices.Sort(s.Env)
	return s, nil
}

// Callers returns, for each service that others call, the services its
// access policy admits to its routes, sorted: who calls whom in the shop.
// The catch-all route, which answers any shop service's wrong path with
// 404, is left out, as are the routes' public callers (through the
// gateway). The policies are the ones the services enforce on mutual TLS
// (users.Policy, catalog.Policy, orders.Policy), and the clients' calls
// must stay within them or be refused.
func Callers() map[string][]string {
	out := make(map[string][]string)
	for callee, p := range map[string]secure.Policy{
		users.ServiceName:   users.Policy(),
		catalog.ServiceName: catalog.Policy(),
		orders.ServiceName:  orders.Policy(),
	} {
		set := make(map[string]bool)
		for route, callers := range p {
			if route == "/" {
				continue
			}
			for _, c := range callers {
				set[c] = true
			}
		}
		out[callee] = slices.Sorted(maps.Keys(set))
	}
	return out
}
