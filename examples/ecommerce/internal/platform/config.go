package platform

import (
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strconv"
	"strings"
	"time"
)

// Defaults of [ServiceConfig].
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
var ErrConfig = errors.New("platform: invalid configuration")

// ServiceConfig is the configuration of "ecommerce serve SERVICE". The zero
// value is not valid: [ServiceConfig.RegisterFlags] sets the defaults, or set
// every field by hand.
type ServiceConfig struct {
	// Registry is the etcd registry as etcd://host:port[,host:port...]
	// (--registry, ECOMMERCE_REGISTRY). Default DefaultRegistry.
	Registry string
	// Listen is the host:port the service listens on; port 0 picks a
	// free one (--listen, ECOMMERCE_LISTEN). Default DefaultListen.
	Listen string
	// Data is the directory of the databases (--data, ECOMMERCE_DATA);
	// created if missing. Default DefaultDataDir.
	Data string
	// AdminEmail is the e-mail address whose first sign-up becomes an
	// admin (--admin-email, ECOMMERCE_ADMIN_EMAIL). Only users reads it.
	// Default empty: nobody becomes admin.
	AdminEmail string
	// Logger receives the service's logs. Nil means slog.Default().
	Logger *slog.Logger
	// DrainDelay is passed to ServeOptions.DrainDelay: zero means the
	// default, negative none (tests). It has no flag.
	DrainDelay time.Duration
}

// RegisterFlags defines --registry, --listen, --data and --admin-email on fs
// with c's fields as destinations and the package defaults as defaults.
func (c *ServiceConfig) RegisterFlags(fs *flag.FlagSet) {
	fs.StringVar(&c.Registry, "registry", DefaultRegistry, "etcd registry `URL`, etcd://host:port")
	fs.StringVar(&c.Listen, "listen", DefaultListen, "`address` to listen on (port 0: any free port)")
	fs.StringVar(&c.Data, "data", DefaultDataDir, "data `directory` (databases, signing key)")
	fs.StringVar(&c.AdminEmail, "admin-email", "", "the first sign-up with this `email` becomes admin")
}

// Validate checks every field and returns an error wrapping [ErrConfig] that
// names the first bad flag.
func (c *ServiceConfig) Validate() error {
	if _, err := RegistryEndpoints("registry", c.Registry); err != nil {
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
	return nil
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
