package launcher

import (
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"time"

	shopgateway "github.com/switchyard/switchyard/examples/ecommerce/gateway"
	"github.com/switchyard/switchyard/examples/ecommerce/internal/settings"
)

// Defaults of [Config].
const (
	// DefaultAddr is where the gateway listens.
	DefaultAddr = "127.0.0.1:8080"
	// DefaultRegistryListen is where the embedded etcd serves clients.
	DefaultRegistryListen = "127.0.0.1:2379"
	// DefaultReplicas is how many instances of each service run.
	DefaultReplicas = 2
	// MaxReplicas bounds --replicas: every replica is a process.
	MaxReplicas = 16
	// DefaultAdminEmail is the e-mail address of the admin account the
	// users service creates.
	DefaultAdminEmail = "admin@example.com"
	// DefaultReadyTimeout bounds the wait for the whole shop to be ready.
	DefaultReadyTimeout = 60 * time.Second
	// DefaultStopTimeout bounds each child's drain after SIGTERM before it
	// is killed. A child's own drain takes about 2-3 s.
	DefaultStopTimeout = 20 * time.Second
	// MinCertLifetime bounds [Config.CertLifetime] from below. The
	// development CA back-dates every certificate by a minute and renews
	// it at half its life, so a lifetime near this bound is renewed every
	// few seconds: it is for tests that want to see renewals during a run.
	MinCertLifetime = time.Minute
)

// CertLifetimeEnv is the environment variable from which "ecommerce up"
// takes [Config.CertLifetime], a Go duration ("90s", "1h"). It has no flag:
// it is a knob for tests that want certificates renewed while the shop
// runs, not something to tune in production, where the services' own PKI
// decides.
var CertLifetimeEnv = settings.EnvName("cert-lifetime")

// Services are the shop's back-end services, in start order; the gateway
// starts after them.
var Services = []string{"users", "catalog", "orders"}

// GatewayService is the gateway's name as a child ("serve gateway") and in
// the registry.
const GatewayService = "gateway"

// Identities of the development CA other than the services': the
// registry's (the embedded etcd), the launcher's own ([ControlService]:
// its registry client and the chaos control API) and the loadgen's (its
// registry client and its calls to the control API). Each gets a
// certificate for spiffe://shop.internal/NAME in DATA/PKIDir/NAME.pem.
const (
	RegistryService = "registry"
	LoadgenService  = "loadgen"
)

// PKIDir is the directory under the data directory where the development
// CA keeps its files (package internal/pki): ca.pem, ca-key.pem, one
// NAME.pem per identity (certificate, then key), and
// public-self-signed.pem with --public-tls-self-signed.
const PKIDir = "pki"

// ErrConfig is wrapped by every configuration error; the message names the
// flag and its environment variable. It is settings.ErrConfig, so one test
// covers the configuration errors of every subcommand.
var ErrConfig = settings.ErrConfig

// ErrAddrInUse is wrapped by the error Run returns when --addr or
// --registry-listen is taken; the message names the flag to change.
var ErrAddrInUse = errors.New("launcher: address already in use")

// ErrChildFailed is wrapped by the error Run returns when a child exits
// before the shop is ready; the message carries the tail of its log.
var ErrChildFailed = errors.New("launcher: child process failed")

// Config configures [Run]. The zero value is not valid: RegisterFlags sets
// the defaults, or set every required field by hand.
type Config struct {
	// Addr is the gateway's host:port (--addr, ECOMMERCE_ADDR). Default
	// DefaultAddr.
	Addr string
	// RegistryListen is the embedded etcd's client host:port
	// (--registry-listen, ECOMMERCE_REGISTRY_LISTEN). Default
	// DefaultRegistryListen.
	RegistryListen string
	// Data is the data directory (--data, ECOMMERCE_DATA): databases,
	// signing key, <data>/registry for etcd and <data>/logs for the
	// children's logs. Default settings.DefaultDataDir.
	Data string
	// Replicas is the number of instances of each service (--replicas,
	// ECOMMERCE_REPLICAS), 1 to MaxReplicas. Default DefaultReplicas.
	Replicas int
	// AdminEmail is passed to the users service (--admin-email,
	// ECOMMERCE_ADMIN_EMAIL). Default DefaultAdminEmail.
	AdminEmail string
	// AdminPasswordFile names a file holding the admin's password
	// (--admin-password-file, ECOMMERCE_ADMIN_PASSWORD_FILE). Default
	// empty: AdminPassword, or else the password in <data>/AdminPasswordFile,
	// generated on first start. See the package documentation.
	AdminPasswordFile string
	// AdminPassword is the admin's password itself. It has no flag, so
	// that it never shows in a process listing: the command takes it from
	// ECOMMERCE_ADMIN_PASSWORD. At most one of AdminPassword and
	// AdminPasswordFile may be set. Default empty.
	AdminPassword string
	// Chaos serves the chaos control API (--chaos, ECOMMERCE_CHAOS).
	// Default false.
	Chaos bool
	// TrustedProxies are the load balancers in front of the shop, passed
	// to the gateway (--trusted-proxies CIDR,…,
	// ECOMMERCE_TRUSTED_PROXIES): their X-Forwarded-For names the client
	// for the per-IP limits. Default none.
	TrustedProxies shopgateway.Prefixes
	// PublicTLSCert and PublicTLSKey name the PEM files of the gateway's
	// public certificate chain and its key (--public-tls-cert,
	// --public-tls-key, ECOMMERCE_PUBLIC_TLS_CERT/KEY): both or neither,
	// and not with PublicTLSSelfSigned. With them the gateway serves HTTPS
	// with HTTP/2 and HSTS on --addr. Default none: plain HTTP, meant for
	// loopback.
	PublicTLSCert, PublicTLSKey string
	// PublicTLSSelfSigned serves HTTPS with a self-signed certificate for
	// localhost, 127.0.0.1, ::1 and the host of Addr, made (and kept for
	// later runs) in DATA/PKIDir/public-self-signed.pem
	// (--public-tls-self-signed, ECOMMERCE_PUBLIC_TLS_SELF_SIGNED): for
	// trying HTTPS on one machine. Default false.
	PublicTLSSelfSigned bool
	// CertLifetime is the validity of the certificates the development CA
	// issues to the services, the registry, the launcher and the loadgen;
	// they are renewed at half of it while the shop runs. It has no flag:
	// "up" takes it from [CertLifetimeEnv]. Zero means 24 hours
	// (pki.DefaultLifetime); otherwise at least [MinCertLifetime].
	CertLifetime time.Duration

	// Executable is the binary started for every child with "serve NAME
	// ...". Empty means os.Executable().
	Executable string
	// Env is added to the environment every child inherits. Optional.
	Env []string
	// Out receives the banner with the URLs. Nil means io.Discard.
	Out io.Writer
	// Logger receives the launcher's own events (children exiting and
	// restarting, the stop sequence). Nil means slog.Default().
	Logger *slog.Logger
	// ReadyTimeout bounds the start. Zero means DefaultReadyTimeout.
	ReadyTimeout time.Duration
	// StopTimeout bounds each child's drain. Zero means
	// DefaultStopTimeout.
	StopTimeout time.Duration
	// DB is the PostgreSQL database of users, catalog and orders, a
	// postgres:// URL (--db, ECOMMERCE_DB): each service keeps its tables in
	// its own schema of it. It reaches the children in their environment
	// as ECOMMERCE_DB, never on a command line, since the URL may hold a
	// password. Default empty: a SQLite file per service under Data.
	DB string
	// NoSignals stops Run from handling SIGINT and SIGTERM itself (tests,
	// or a caller that handles them and cancels ctx). Default false.
	NoSignals bool
}

// RegisterFlags defines --addr, --registry-listen, --data, --replicas,
// --admin-email, --admin-password-file, --chaos, --trusted-proxies,
// --public-tls-cert, --public-tls-key, --public-tls-self-signed and --db on fs,
// with c's fields as destinations and the package defaults as defaults.
func (c *Config) RegisterFlags(fs *flag.FlagSet) {
	fs.StringVar(&c.Addr, "addr", DefaultAddr, "gateway `address` (storefront, admin and API)")
	fs.StringVar(&c.RegistryListen, "registry-listen", DefaultRegistryListen, "embedded etcd client `address`")
	fs.StringVar(&c.Data, "data", settings.DefaultDataDir, "data `directory` (databases, signing key, certificates in pki/, registry, logs)")
	fs.IntVar(&c.Replicas, "replicas", DefaultReplicas, fmt.Sprintf("instances of each service, 1 to %d", MaxReplicas))
	fs.StringVar(&c.AdminEmail, "admin-email", DefaultAdminEmail, "`email` of the admin account the shop creates")
	fs.StringVar(&c.AdminPasswordFile, "admin-password-file", "", "`file` holding the admin's password (default: $ECOMMERCE_ADMIN_PASSWORD, else DATA/"+AdminPasswordFile+", generated on first start)")
	fs.BoolVar(&c.Chaos, "chaos", false, "serve the chaos control API that \"loadgen --chaos\" uses to kill replicas")
	fs.Var(&c.TrustedProxies, "trusted-proxies", "`CIDR,…` of load balancers in front of the gateway, whose X-Forwarded-For names the client (default none)")
	fs.StringVar(&c.PublicTLSCert, "public-tls-cert", "", "PEM `file` with the gateway's public certificate chain: serve HTTPS with HTTP/2 and HSTS on --addr (with --public-tls-key)")
	fs.StringVar(&c.PublicTLSKey, "public-tls-key", "", "PEM `file` with the public certificate's private key (may be the --public-tls-cert file)")
	settings.RegisterDBFlag(fs, &c.DB)
	fs.BoolVar(&c.PublicTLSSelfSigned, "public-tls-self-signed", false, "serve HTTPS with a self-signed certificate for localhost, 127.0.0.1, ::1 and the host of --addr, kept in DATA/"+PKIDir+"/public-self-signed.pem (a local try; browsers warn)")
}

// Validate checks every flag-backed field and returns an error wrapping
// [ErrConfig] that names the first bad flag.
func (c *Config) Validate() error {
	if err := settings.CheckAddr("addr", c.Addr); err != nil {
		return err
	}
	if err := settings.CheckAddr("registry-listen", c.RegistryListen); err != nil {
		return err
	}
	if strings.TrimSpace(c.Data) == "" {
		return flagError("data", c.Data, "must not be empty")
	}
	if c.Replicas < 1 || c.Replicas > MaxReplicas {
		return flagError("replicas", fmt.Sprint(c.Replicas), fmt.Sprintf("must be from 1 to %d", MaxReplicas))
	}
	if c.AdminEmail != "" && !strings.Contains(c.AdminEmail, "@") {
		return flagError("admin-email", c.AdminEmail, "is not an e-mail address")
	}
	if c.AdminPassword != "" && c.AdminPasswordFile != "" {
		return flagError("admin-password-file", c.AdminPasswordFile, "is set together with ECOMMERCE_ADMIN_PASSWORD; give the admin password one way")
	}
	for _, p := range c.TrustedProxies {
		if !p.IsValid() {
			return flagError("trusted-proxies", c.TrustedProxies.String(), "holds an invalid CIDR")
		}
	}
	if err := c.validatePublicTLS(); err != nil {
		return err
	}
	if err := settings.CheckDB("db", c.DB); err != nil {
		return err
	}
	if c.CertLifetime != 0 && c.CertLifetime < MinCertLifetime {
		return fmt.Errorf("%w: %s=%v must be at least %v (or unset for 24h)", ErrConfig, CertLifetimeEnv, c.CertLifetime, MinCertLifetime)
	}
	return nil
}

// validatePublicTLS checks the public TLS flags: a certificate and its
// key, both or neither, loadable, and not together with a self-signed
// certificate. The gateway child checks the files too; checking them here
// makes "up" fail at once naming the flag, before anything is started.
func (c *Config) validatePublicTLS() error {
	switch {
	case c.PublicTLSSelfSigned && (c.PublicTLSCert != "" || c.PublicTLSKey != ""):
		return fmt.Errorf("%w: --public-tls-self-signed (%s) is set together with --public-tls-cert or --public-tls-key: give a certificate or ask for a self-signed one, not both",
			ErrConfig, settings.EnvName("public-tls-self-signed"))
	case c.PublicTLSCert != "" && c.PublicTLSKey == "":
		return missingFlag("public-tls-key", "--public-tls-cert and --public-tls-key go together")
	case c.PublicTLSCert == "" && c.PublicTLSKey != "":
		return missingFlag("public-tls-cert", "--public-tls-cert and --public-tls-key go together")
	case c.PublicTLSCert == "":
		return nil
	}
	for _, f := range []struct{ flag, file string }{{"public-tls-cert", c.PublicTLSCert}, {"public-tls-key", c.PublicTLSKey}} {
		if _, err := os.Stat(f.file); err != nil {
			return fmt.Errorf("%w: --%s (%s) %q: %w", ErrConfig, f.flag, settings.EnvName(f.flag), f.file, err)
		}
	}
	if _, err := tls.LoadX509KeyPair(c.PublicTLSCert, c.PublicTLSKey); err != nil {
		return flagError("public-tls-cert", c.PublicTLSCert, fmt.Sprintf("with --public-tls-key %q cannot be loaded: %v", c.PublicTLSKey, err))
	}
	return nil
}

func missingFlag(flagName, why string) error {
	return fmt.Errorf("%w: --%s (%s) is missing: %s", ErrConfig, flagName, settings.EnvName(flagName), why)
}

func flagError(flagName, value, problem string) error {
	return fmt.Errorf("%w: --%s (%s) %q %s", ErrConfig, flagName, settings.EnvName(flagName), value, problem)
}
