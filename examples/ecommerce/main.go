// Command ecommerce is the Switchyard example shop: users, catalog and
// orders services behind a gateway with a storefront and an admin
// dashboard, found through an etcd registry, all in one binary.
//
//	ecommerce [up] [flags]              the whole shop on mutual TLS: registry, 2 × each service, gateway
//	ecommerce registry [flags]          the embedded etcd registry alone or a cluster member, mTLS with --tls-*
//	ecommerce serve SERVICE [flags]     one service: users, catalog, orders or gateway
//	ecommerce loadgen [flags]           load through the gateway, with a latency summary
//
// Every flag may also come from the environment as ECOMMERCE_<FLAG>
// (--admin-email → ECOMMERCE_ADMIN_EMAIL); the command line wins. See
// README.md for a tour, and "ecommerce COMMAND --help" for each command's
// flags.
package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"time"

	"github.com/switchyard/switchyard/discovery/etcd/embedded"
	"github.com/switchyard/switchyard/examples/ecommerce/catalog"
	"github.com/switchyard/switchyard/examples/ecommerce/gateway"
	"github.com/switchyard/switchyard/examples/ecommerce/internal/settings"
	"github.com/switchyard/switchyard/examples/ecommerce/internal/telemetry"
	"github.com/switchyard/switchyard/examples/ecommerce/launcher"
	"github.com/switchyard/switchyard/examples/ecommerce/loadgen"
	"github.com/switchyard/switchyard/examples/ecommerce/orders"
	"github.com/switchyard/switchyard/examples/ecommerce/users"
)

// services maps "serve NAME" to the service's entry point. Each takes the
// common --registry, --listen, --data, --admin-email and --db flags.
var services = map[string]func(context.Context, settings.Service) error{
	"users":   users.Run,
	"catalog": catalog.Run,
	"orders":  orders.Run,
}

const usage = `ecommerce — the Switchyard example shop

Usage:
  ecommerce [up] [flags]            run the whole shop: an embedded etcd registry, %d replicas each of
                                    users, catalog and orders, and the gateway (the default command),
                                    on mutual TLS from a development CA in DATA/pki
  ecommerce registry [flags]        run the embedded etcd registry alone, or one member of an etcd
                                    cluster with --name and --initial-cluster (mutual TLS with
                                    --tls-cert, --tls-key and --tls-ca)
  ecommerce serve SERVICE [flags]   run one instance of a service: %s
                                    (mutual TLS with --tls-cert, --tls-key and --tls-ca)
  ecommerce loadgen [flags]         drive load through the gateway and summarise the latencies
  ecommerce help [COMMAND]          show this help, or a command's flags

Every flag can also be set through the environment as ECOMMERCE_<FLAG>, for
example --admin-email as ECOMMERCE_ADMIN_EMAIL; the command line wins.
The admin's password comes from ECOMMERCE_ADMIN_PASSWORD or
--admin-password-file; with neither, "up" generates one into
DATA/admin-password on first start and prints that path.
Data lives in a SQLite file per service under --data, or, with
--db postgres://USER@HOST:PORT/DATABASE (or ECOMMERCE_DB, which keeps a
password out of process listings), in PostgreSQL: users, catalog and orders
each in their own schema of that database.
Inside the shop every hop is mutual TLS; the gateway's public listener is
plain HTTP unless "up" is given --public-tls-cert and --public-tls-key, or
--public-tls-self-signed.

Try it:
  ecommerce                         then open http://127.0.0.1:8080/
  ecommerce --public-tls-self-signed   then https://127.0.0.1:8080/ (the browser warns)
  ecommerce loadgen --rate 50 --duration 30s
`

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// run executes one command line and returns the exit code: 0 on success
// (and after Ctrl-C), 2 for a usage or configuration error, 1 otherwise.
func run(args []string, stdout, stderr io.Writer) int {
	cmd := "up"
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		cmd, args = args[0], args[1:]
	}
	var err error
	switch cmd {
	case "up":
		err = runUp(args, stdout, stderr)
	case "registry":
		err = runRegistry(args, stdout, stderr)
	case "serve":
		err = runServe(args, stderr)
	case "loadgen":
		err = runLoadgen(args, stdout, stderr)
	case "help":
		if len(args) > 0 && args[0] != "help" {
			return run([]string{args[0], "--help"}, stdout, stderr)
		}
		printUsage(stdout)
		return 0
	default:
		fmt.Fprintf(stderr, "ecommerce: unknown command %q\n\n", cmd)
		printUsage(stderr)
		return 2
	}
	switch {
	case err == nil, errors.Is(err, flag.ErrHelp):
		return 0
	case errors.Is(err, errUsage), errors.Is(err, settings.ErrConfig), errors.Is(err, loadgen.ErrNotLoopback):
		fmt.Fprintln(stderr, "ecommerce:", err)
		return 2
	default:
		fmt.Fprintln(stderr, "ecommerce:", err)
		return 1
	}
}

// errUsage is wrapped by command-line errors that are not about one flag.
var errUsage = errors.New("usage")

func serviceNames() []string {
	names := []string{gateway.ServiceName}
	for n := range services {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

func printUsage(w io.Writer) {
	fmt.Fprintf(w, usage, launcher.DefaultReplicas, strings.Join(serviceNames(), ", "))
}

// newFlagSet returns a flag set whose --help lists every flag with its
// environment variable.
func newFlagSet(name, synopsis string, out io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(out)
	fs.Usage = func() {
		fmt.Fprintf(out, "Usage: ecommerce %s\n\nFlags (each also from its environment variable):\n", synopsis)
		fs.VisitAll(func(f *flag.Flag) {
			arg, help := flag.UnquoteUsage(f)
			line := "  --" + f.Name
			if arg != "" {
				line += " " + arg
			}
			fmt.Fprintf(out, "%-34s %s", line, help)
			if f.DefValue != "" && f.DefValue != "false" && f.DefValue != "0" {
				fmt.Fprintf(out, " (default %s)", f.DefValue)
			}
			fmt.Fprintf(out, " [$%s]\n", settings.EnvName(f.Name))
		})
	}
	return fs
}

func parse(fs *flag.FlagSet, args []string) error {
	if err := settings.ParseFlags(fs, args); err != nil {
		if errors.Is(err, flag.ErrHelp) || errors.Is(err, settings.ErrConfig) {
			return err
		}
		return fmt.Errorf("%w: %w", errUsage, err) // flag has printed the usage
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("%w: unexpected argument %q", errUsage, fs.Arg(0))
	}
	return nil
}

func runUp(args []string, stdout, stderr io.Writer) error {
	var cfg launcher.Config
	fs := newFlagSet("up", "[up] [flags]", stderr)
	cfg.RegisterFlags(fs)
	if err := parse(fs, args); err != nil {
		return err
	}
	// The admin password has no flag, so that it never shows in a process
	// listing: it comes from the environment (or --admin-password-file).
	cfg.AdminPassword = os.Getenv(settings.EnvName("admin-password"))
	// The certificates' lifetime is a knob for tests that want to see
	// renewals during a run, not a flag users are offered.
	if v := os.Getenv(launcher.CertLifetimeEnv); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil {
			return fmt.Errorf("%w: %s=%q is not a duration such as 90s or 12h", settings.ErrConfig, launcher.CertLifetimeEnv, v)
		}
		cfg.CertLifetime = d
	}
	cfg.Out = stdout
	// The launcher talks to a person at a terminal: plain text, not JSON.
	// The children's JSON logs go to <data>/logs.
	cfg.Logger = slog.New(slog.NewTextHandler(stderr, nil))
	// The launcher handles SIGINT and SIGTERM itself: the first drains,
	// the second kills.
	return launcher.Run(context.Background(), cfg)
}

func runRegistry(args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("registry", "registry [flags]", stderr)
	listen := fs.String("listen", launcher.DefaultRegistryListen, "etcd client `address`")
	data := fs.String("data", settings.DefaultDataDir, "data `directory`; etcd keeps its data in DIR/registry")
	var files embedded.TLSFiles
	fs.StringVar(&files.CertFile, "tls-cert", "", "PEM `file` with the registry's certificate chain: serve TLS and require client certificates (with --tls-key and --tls-ca)")
	fs.StringVar(&files.KeyFile, "tls-key", "", "PEM `file` with the certificate's private key (may be the --tls-cert file)")
	fs.StringVar(&files.CAFile, "tls-ca", "", "PEM `file` with the CA certificates that clients' certificates must chain to")
	var cfg embedded.Config
	fs.StringVar(&cfg.Name, "name", "", "this member's `name` in --initial-cluster (default switchyard)")
	fs.StringVar(&cfg.InitialCluster, "initial-cluster", "", "form or join an etcd cluster of these members: `name=URL,…` with each member's peer URL (https:// with --tls-*); empty runs a single node")
	fs.StringVar(&cfg.InitialClusterState, "initial-cluster-state", embedded.StateNew, "`state`: new to form the cluster with the other members, existing to join a running one that lists this member (etcdctl member add)")
	fs.StringVar(&cfg.PeerAddr, "peer-listen", "", "peer (raft) listener `address` (default: this member's address in --initial-cluster, or a free port)")
	if err := parse(fs, args); err != nil {
		return err
	}
	if err := settings.CheckAddr("listen", *listen); err != nil {
		return err
	}
	security := "plain HTTP, no client authentication"
	if files != (embedded.TLSFiles{}) {
		if err := checkRegistryTLS(files); err != nil {
			return err
		}
		cfg.TLS = &files
		security = "TLS, client certificates from " + files.CAFile + " required"
	}
	peerURL, err := checkRegistryCluster(cfg)
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	dir := filepath.Join(*data, "registry")
	srv, err := embedded.Start(ctx, dir, *listen, cfg)
	if err != nil {
		if errors.Is(err, syscall.EADDRINUSE) {
			return fmt.Errorf("registry: %s is already in use; choose another address with --listen or %s: %w",
				*listen, settings.EnvName("listen"), err)
		}
		if ctx.Err() != nil {
			return nil
		}
		return err
	}
	defer srv.Close()
	fmt.Fprintf(stdout, "Registry (embedded etcd) serving at etcd://%s (%s), data in %s. Press Ctrl-C to stop.\n",
		srv.Addr(), security, dir)
	if peerURL != "" {
		fmt.Fprintf(stdout, "Member %s of the cluster %s, peers reach it at %s.\n", cfg.Name, cfg.InitialCluster, peerURL)
	}
	select {
	case <-ctx.Done():
		return nil
	case err := <-srv.Err():
		return fmt.Errorf("registry: %w", err)
	}
}

// checkRegistryCluster returns an error wrapping settings.ErrConfig that
// names the flag at fault unless --initial-cluster-state is new or
// existing, --peer-listen is host:port, and --initial-cluster, if given,
// is a list of name=URL pairs naming --name, with https:// URLs exactly
// when the registry has TLS files. It returns this member's peer URL, or
// "" for a single node.
func checkRegistryCluster(cfg embedded.Config) (string, error) {
	flagErr := func(flag, format string, args ...any) error {
		return fmt.Errorf("%w: --%s (%s) %s", settings.ErrConfig, flag, settings.EnvName(flag), fmt.Sprintf(format, args...))
	}
	switch cfg.InitialClusterState {
	case embedded.StateNew, embedded.StateExisting:
	default:
		return "", flagErr("initial-cluster-state", "is %q: want %s or %s", cfg.InitialClusterState, embedded.StateNew, embedded.StateExisting)
	}
	if cfg.PeerAddr != "" {
		if err := settings.CheckAddr("peer-listen", cfg.PeerAddr); err != nil {
			return "", err
		}
	}
	if cfg.InitialCluster == "" {
		if cfg.InitialClusterState == embedded.StateExisting {
			return "", flagErr("initial-cluster-state", "is existing, which needs --initial-cluster (%s): the running members and this one", settings.EnvName("initial-cluster"))
		}
		return "", nil
	}
	if cfg.Name == "" {
		return "", flagErr("name", "is missing: a member of --initial-cluster needs its name there")
	}
	url, err := embedded.CheckInitialCluster(cfg.InitialCluster, cfg.Name, cfg.TLS != nil)
	if err != nil {
		return "", fmt.Errorf("%w: --initial-cluster (%s): %w", settings.ErrConfig, settings.EnvName("initial-cluster"), err)
	}
	if _, port, _ := net.SplitHostPort(cfg.PeerAddr); port == "0" {
		return "", flagErr("peer-listen", "%q has port 0, but the other members dial %s", cfg.PeerAddr, url)
	}
	return url, nil
}

// checkRegistryTLS returns an error wrapping settings.ErrConfig that names
// the flag at fault unless --tls-cert, --tls-key and --tls-ca are all
// given, the first two hold a certificate and its key, and the last holds
// CA certificates.
func checkRegistryTLS(f embedded.TLSFiles) error {
	bad := func(flag, file string, err error) error {
		return fmt.Errorf("%w: --%s (%s) %q: %v", settings.ErrConfig, flag, settings.EnvName(flag), file, err)
	}
	for _, v := range []struct{ flag, file string }{{"tls-cert", f.CertFile}, {"tls-key", f.KeyFile}, {"tls-ca", f.CAFile}} {
		if v.file == "" {
			return fmt.Errorf("%w: --%s (%s) is missing: give --tls-cert, --tls-key and --tls-ca together, or none of them",
				settings.ErrConfig, v.flag, settings.EnvName(v.flag))
		}
		if _, err := os.Stat(v.file); err != nil {
			return bad(v.flag, v.file, err)
		}
	}
	if _, err := tls.LoadX509KeyPair(f.CertFile, f.KeyFile); err != nil {
		return bad("tls-cert", f.CertFile, fmt.Errorf("with --tls-key %q: %w", f.KeyFile, err))
	}
	if err := checkCAFile(f.CAFile); err != nil {
		return bad("tls-ca", f.CAFile, err)
	}
	return nil
}

// checkCAFile reports whether file holds PEM certificates and nothing
// else, as etcd requires of its CA file.
func checkCAFile(file string) error {
	rest, err := os.ReadFile(file)
	if err != nil {
		return err
	}
	n := 0
	for b, r := pem.Decode(rest); b != nil; b, r = pem.Decode(r) {
		if b.Type != "CERTIFICATE" {
			return fmt.Errorf("holds a %s block; it must hold CA certificates only", b.Type)
		}
		if _, err := x509.ParseCertificate(b.Bytes); err != nil {
			return err
		}
		n++
	}
	if n == 0 {
		return errors.New("holds no PEM certificate")
	}
	return nil
}

func runServe(args []string, stderr io.Writer) error {
	if len(args) == 0 || strings.HasPrefix(args[0], "-") {
		if len(args) > 0 && (args[0] == "-h" || args[0] == "--help" || args[0] == "-help") {
			fmt.Fprintf(stderr, "Usage: ecommerce serve SERVICE [flags]\n\nSERVICE is one of %s; see \"ecommerce serve SERVICE --help\".\n",
				strings.Join(serviceNames(), ", "))
			return flag.ErrHelp
		}
		return fmt.Errorf("%w: serve needs a service: %s", errUsage, strings.Join(serviceNames(), ", "))
	}
	name, args := args[0], args[1:]
	synopsis := "serve " + name + " [flags]"
	if name == gateway.ServiceName {
		var cfg gateway.Config
		fs := newFlagSet(synopsis, synopsis, stderr)
		cfg.RegisterFlags(fs)
		if err := parse(fs, args); err != nil {
			return err
		}
		cfg.Logger = telemetry.NewLogger(stderr, name)
		return gateway.Run(context.Background(), cfg)
	}
	runService, ok := services[name]
	if !ok {
		return fmt.Errorf("%w: unknown service %q; choose one of %s", errUsage, name, strings.Join(serviceNames(), ", "))
	}
	var cfg settings.Service
	fs := newFlagSet(synopsis, synopsis, stderr)
	cfg.RegisterFlags(fs)
	if err := parse(fs, args); err != nil {
		return err
	}
	cfg.Logger = telemetry.NewLogger(stderr, name)
	// instance.Run handles SIGINT and SIGTERM: it drains and returns.
	return runService(context.Background(), cfg)
}

func runLoadgen(args []string, stdout, stderr io.Writer) error {
	var cfg loadgen.Config
	fs := newFlagSet("loadgen", "loadgen [flags]", stderr)
	cfg.RegisterFlags(fs)
	if err := parse(fs, args); err != nil {
		return err
	}
	cfg.Progress = stderr
	if f, ok := stderr.(*os.File); ok {
		if st, err := f.Stat(); err == nil && st.Mode()&os.ModeCharDevice != 0 {
			cfg.ProgressTTY = true
		}
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	rep, err := loadgen.Run(ctx, cfg)
	if err != nil {
		return err
	}
	fmt.Fprintln(stdout)
	rep.Print(stdout)
	return nil
}
