package settings

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	neturl "net/url"
	"os"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
)

// Defaults of [Service].
const (
	// DefaultRegistry is the registry a service joins unless told
	// otherwise: the embedded etcd that "ecommerce up" starts.
	DefaultRegistry = "etcd://127.0.0.1:2379"
	// DefaultListen lets the kernel choose a free port on loopback; the
	// service is found through the registry, not by its port.
	DefaultListen = "127.0.0.1:0"
	// DefaultDataDir holds the services' databases and the signing key.
	DefaultDataDir = "./ecommerce-data"
	// EnvPrefix starts the environment variable of every flag.
	EnvPrefix = "ECOMMERCE_"
)

// ErrConfig is wrapped by every configuration error; the message names the
// flag and its environment variable.
var ErrConfig = errors.New("settings: invalid configuration")

// Service is the configuration of "ecommerce serve SERVICE". The zero
// value is not valid: [Service.RegisterFlags] sets the defaults, or set
// every field by hand.
type Service struct {
	// Registry is the registry as etcd://host:port[,host:port...], or
	// DNS names of the services, dns+srv://_http._tcp.{service}.NS.svc.cluster.local
	// or dns://{service}.NS.svc.cluster.local:PORT (--registry,
	// ECOMMERCE_REGISTRY); see [ParseRegistry]. Default DefaultRegistry.
	Registry string
	// Listen is the host:port the service listens on; port 0 picks a
	// free one (--listen, ECOMMERCE_LISTEN). Default DefaultListen.
	Listen string
	// Data is the directory of the databases (--data, ECOMMERCE_DATA);
	// created if missing. Default DefaultDataDir.
	Data string
	// AdminEmail is the e-mail address of the admin account, which the
	// users service creates at start (--admin-email,
	// ECOMMERCE_ADMIN_EMAIL). Only users reads it. Default empty: the shop
	// has no admin.
	AdminEmail string
	// AdminPassword is the admin account's password. It has no flag, so
	// that it never shows in a process listing: RegisterFlags takes it
	// from ECOMMERCE_ADMIN_PASSWORD. Read it with
	// [Service.ReadAdminPassword]. Default empty.
	AdminPassword string
	// AdminPasswordFile names a file holding the admin's password
	// (--admin-password-file, ECOMMERCE_ADMIN_PASSWORD_FILE); it wins
	// over AdminPassword. See [Service.ReadAdminPassword] for what
	// the file must be. Default empty.
	AdminPasswordFile string
	// Logger receives the service's logs. Nil means slog.Default().
	Logger *slog.Logger
	// DrainDelay is passed to instance.Config.DrainDelay: zero means the
	// default, negative none (tests). It has no flag.
	DrainDelay time.Duration
	// TLS names the service's certificate, key and trust bundle for
	// mutual TLS with the other services and the registry (--tls-cert,
	// --tls-key, --tls-ca): all three or none. "ecommerce up" passes the
	// files of its development CA. Default none: the service speaks
	// plain HTTP, accepts any caller and logs a warning saying so.
	TLS TLSFiles
	// DB is the PostgreSQL database the service keeps its data in, as a
	// postgres:// or postgresql:// URL (--db, ECOMMERCE_DB); the service
	// works in its own schema of it (users, catalog or orders). Default
	// empty: the service's SQLite file under Data. See [CheckDB].
	DB string
}

// TLSFiles names the PEM files of a service's identity. Cert and Key may
// name the same file (the chain followed by the key), which the shop's
// development CA writes so that a renewal replaces both at once.
type TLSFiles struct {
	Cert, Key, CA string
}

// Enabled reports whether any file is named.
func (f TLSFiles) Enabled() bool { return f.Cert != "" || f.Key != "" || f.CA != "" }

// Check returns an error wrapping [ErrConfig] that names the flag at fault
// when only some of the three files are named or a named one cannot be
// read. The certificates themselves are checked when they are loaded.
func (f TLSFiles) Check() error {
	if !f.Enabled() {
		return nil
	}
	for _, v := range []struct{ flag, file string }{{"tls-cert", f.Cert}, {"tls-key", f.Key}, {"tls-ca", f.CA}} {
		if v.file == "" {
			return fmt.Errorf("%w: --%s (%s) is missing: give --tls-cert, --tls-key and --tls-ca together, or none of them",
				ErrConfig, v.flag, EnvName(v.flag))
		}
		fi, err := os.Stat(v.file)
		if err != nil {
			return fmt.Errorf("%w: --%s (%s) %q: %w", ErrConfig, v.flag, EnvName(v.flag), v.file, err)
		}
		if !fi.Mode().IsRegular() {
			return flagError(v.flag, v.file, "is not a regular file")
		}
	}
	return nil
}

// RegisterTLSFlags defines --tls-cert, --tls-key and --tls-ca on fs with
// f's fields as destinations.
func (f *TLSFiles) RegisterTLSFlags(fs *flag.FlagSet) {
	fs.StringVar(&f.Cert, "tls-cert", "", "PEM `file` with this service's certificate chain (mutual TLS; with --tls-key and --tls-ca)")
	fs.StringVar(&f.Key, "tls-key", "", "PEM `file` with the certificate's private key (may be the --tls-cert file)")
	fs.StringVar(&f.CA, "tls-ca", "", "PEM `file` with the CA certificates that callers and callees must chain to")
}

// RegisterDBFlag defines --db on fs with dst as its destination.
func RegisterDBFlag(fs *flag.FlagSet, dst *string) {
	fs.StringVar(dst, "db", "", "PostgreSQL `URL` (postgres://user@host:port/db) holding every service's data, each in its own schema;\n"+
		"empty: a SQLite file per service under --data")
}

// CheckDB checks that url, the value of --flagName, is empty (SQLite) or a
// PostgreSQL URL that pgx accepts: scheme postgres or postgresql and
// settings pgxpool.ParseConfig understands. Errors wrap [ErrConfig], name
// the flag and its variable, and show the URL with its password replaced by
// "xxxxx", so that a log of the refusal does not carry the secret.
func CheckDB(flagName, url string) error {
	if url == "" {
		return nil
	}
	u, err := neturl.Parse(url)
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
		return flagError(flagName, redactDB(url), "must be a PostgreSQL URL, postgres://user:password@host:port/database")
	}
	if _, err := pgxpool.ParseConfig(url); err != nil {
		// pgx's message repeats the URL with the password masked.
		return fmt.Errorf("%w: --%s (%s) %q is not a PostgreSQL URL pgx accepts: %v",
			ErrConfig, flagName, EnvName(flagName), redactDB(url), err)
	}
	return nil
}

// redactDB returns url with any password replaced, or a placeholder when
// it does not parse as a URL at all (it might still hold one).
func redactDB(url string) string {
	u, err := neturl.Parse(url)
	if err != nil {
		return "(unparsable URL)"
	}
	return u.Redacted()
}

// RegisterFlags defines --registry, --listen, --data, --admin-email,
// --admin-password-file, --tls-cert, --tls-key, --tls-ca and --db on fs with c's fields as destinations and the
// package defaults as defaults, and sets c.AdminPassword from
// ECOMMERCE_ADMIN_PASSWORD, which has no flag.
func (c *Service) RegisterFlags(fs *flag.FlagSet) {
	fs.StringVar(&c.Registry, "registry", DefaultRegistry, "registry `URL`: etcd://host:port[,host:port…], dns+srv://_http._tcp.{service}.NS.svc.cluster.local or dns://{service}.NS.svc.cluster.local:PORT")
	fs.StringVar(&c.Listen, "listen", DefaultListen, "`address` to listen on (port 0: any free port)")
	fs.StringVar(&c.Data, "data", DefaultDataDir, "data `directory` (databases, signing key)")
	fs.StringVar(&c.AdminEmail, "admin-email", "", "`email` of the admin account, created at start")
	fs.StringVar(&c.AdminPasswordFile, "admin-password-file", "",
		"`file` holding the admin's password (mode 0600; else "+EnvName(adminPasswordVar)+")")
	c.TLS.RegisterTLSFlags(fs)
	RegisterDBFlag(fs, &c.DB)
	c.AdminPassword = os.Getenv(EnvName(adminPasswordVar))
}

// adminPasswordVar is the name whose EnvName carries the admin password.
const adminPasswordVar = "admin-password"

// MaxAdminPasswordFileSize bounds the admin password file: a password is at
// most 1024 characters, which is at most 4 KiB of UTF-8.
const MaxAdminPasswordFileSize = 4096

// ErrNoAdminPassword is wrapped by the error [Service.ReadAdminPassword]
// returns when an admin e-mail is set but no password is given.
var ErrNoAdminPassword = errors.New("settings: no admin password")

// ReadAdminPassword returns the admin's password: the content of
// AdminPasswordFile when it is set, else AdminPassword. It returns "" and
// no error when AdminEmail is empty (no admin), and an error wrapping
// [ErrNoAdminPassword] when AdminEmail is set and neither is given.
//
// The file is read as the password followed by at most one line ending
// ("\n" or "\r\n"), which is removed; every other byte, spaces included,
// is part of the password. It must be a regular file (a symbolic link to
// one is fine, as Kubernetes mounts secrets), at most
// MaxAdminPasswordFileSize bytes, not empty once the line ending is
// removed, and, except on Windows, neither readable nor writable by group
// or others (mode 0600 or 0400): a password file others can read is a
// password others know, so it is refused with an error that says how to
// fix it rather than used. File errors wrap [ErrConfig] and name the flag
// and its variable. The password rules themselves (length) are the users
// service's to check.
func (c *Service) ReadAdminPassword() (string, error) {
	if c.AdminEmail == "" {
		return "", nil
	}
	if c.AdminPasswordFile == "" {
		if c.AdminPassword == "" {
			return "", fmt.Errorf("%w for --admin-email %q: set %s or --admin-password-file (%s)",
				ErrNoAdminPassword, c.AdminEmail, EnvName(adminPasswordVar), EnvName("admin-password-file"))
		}
		return c.AdminPassword, nil
	}
	name := c.AdminPasswordFile
	f, err := os.Open(name)
	if err != nil {
		return "", fileError(name, err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return "", fileError(name, err)
	}
	if !fi.Mode().IsRegular() {
		return "", flagError("admin-password-file", name, "is not a regular file")
	}
	if perm := fi.Mode().Perm(); perm&0o077 != 0 && runtime.GOOS != "windows" {
		return "", flagError("admin-password-file", name,
			fmt.Sprintf("has mode %#o: group and others must have no access (chmod 600 %s)", perm, name))
	}
	raw, err := io.ReadAll(io.LimitReader(f, MaxAdminPasswordFileSize+1))
	if err != nil {
		return "", fileError(name, err)
	}
	if len(raw) > MaxAdminPasswordFileSize {
		return "", flagError("admin-password-file", name, fmt.Sprintf("is larger than %d bytes", MaxAdminPasswordFileSize))
	}
	pw := string(raw)
	if p, ok := strings.CutSuffix(pw, "\n"); ok {
		pw = strings.TrimSuffix(p, "\r")
	}
	if pw == "" {
		return "", flagError("admin-password-file", name, "is empty")
	}
	return pw, nil
}

func fileError(name string, err error) error {
	return fmt.Errorf("%w: --admin-password-file (%s) %q: %w", ErrConfig, EnvName("admin-password-file"), name, err)
}

// Validate checks every field and returns an error wrapping [ErrConfig] that
// names the first bad flag.
func (c *Service) Validate() error {
	if _, err := ParseRegistry("registry", c.Registry); err != nil {
		return err
	}
	if err := CheckAddr("listen", c.Listen); err != nil {
		return err
	}
	if strings.TrimSpace(c.Data) == "" {
		return flagError("data", c.Data, "must not be empty")
	}
	if c.AdminEmail != "" && !strings.Contains(c.AdminEmail, "@") {
		return flagError("admin-email", c.AdminEmail, "is not an e-mail address")
	}
	if err := CheckDB("db", c.DB); err != nil {
		return err
	}
	return c.TLS.Check()
}

// EnvName returns the environment variable that stands in for a flag:
// EnvPrefix plus the flag's name in upper case with '-' turned into '_'
// ("admin-email" → "ECOMMERCE_ADMIN_EMAIL").
func EnvName(flagName string) string {
	return EnvPrefix + strings.ToUpper(strings.ReplaceAll(flagName, "-", "_"))
}

// ParseFlags parses args with fs and then, for every flag of fs that args did
// not set, takes the value of its [EnvName] variable when that variable is set
// (even to the empty string). The command line wins over the environment,
// which wins over the default. An environment value the flag refuses yields an
// error wrapping [ErrConfig] that names the flag and the variable. fs should
// use flag.ContinueOnError so that the caller decides how to exit.
func ParseFlags(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		return err
	}
	set := make(map[string]bool)
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	var err error
	fs.VisitAll(func(f *flag.Flag) {
		if err != nil || set[f.Name] {
			return
		}
		v, ok := os.LookupEnv(EnvName(f.Name))
		if !ok {
			return
		}
		if e := fs.Set(f.Name, v); e != nil {
			err = fmt.Errorf("%w: %s=%q (for --%s): %v", ErrConfig, EnvName(f.Name), v, f.Name, e)
		}
	})
	return err
}

// CheckAddr checks that addr is host:port with a numeric port from 0 to
// 65535, and returns an error wrapping [ErrConfig] naming --flagName and
// its variable otherwise. An empty host (":8080") is allowed and means every
// interface.
func CheckAddr(flagName, addr string) error {
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		return flagError(flagName, addr, "must be host:port")
	}
	if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
		return flagError(flagName, addr, "must have a port from 0 to 65535")
	}
	return nil
}

// RegistryEndpoints parses a registry URL, etcd://host:port or
// etcd://host:port,host:port for several members, into the client URLs an
// etcd client takes ("http://host:port"). Errors wrap [ErrConfig] and name
// --flagName and its variable.
func RegistryEndpoints(flagName, url string) ([]string, error) {
	rest, ok := strings.CutPrefix(url, "etcd://")
	if !ok || rest == "" {
		return nil, flagError(flagName, url, "must look like etcd://host:port")
	}
	var eps []string
	for hp := range strings.SplitSeq(strings.TrimSuffix(rest, "/"), ",") {
		host, port, err := net.SplitHostPort(hp)
		if err != nil || host == "" {
			return nil, flagError(flagName, url, "must look like etcd://host:port")
		}
		if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
			return nil, flagError(flagName, url, "must have a port from 1 to 65535")
		}
		eps = append(eps, "http://"+hp)
	}
	return eps, nil
}

func flagError(flagName, value, problem string) error {
	return fmt.Errorf("%w: --%s (%s) %q %s", ErrConfig, flagName, EnvName(flagName), value, problem)
}
