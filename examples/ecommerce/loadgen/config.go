package loadgen

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/url"
	"strings"
	"time"

	"github.com/switchyard/switchyard/discovery"
	"github.com/switchyard/switchyard/examples/ecommerce/internal/settings"
)

// Defaults and limits of [Config].
const (
	DefaultTarget        = "http://127.0.0.1:8080"
	DefaultRate          = 20.0
	MaxRate              = 10000.0
	DefaultDuration      = 30 * time.Second
	MaxDuration          = time.Hour
	DefaultUsers         = 5
	MaxUsers             = 100
	DefaultOrderShare    = 0.3
	DefaultMaxInFlight   = 512
	DefaultTimeout       = 10 * time.Second
	DefaultChaosInterval = 10 * time.Second
	// SetupTimeout bounds signing up and logging in the users.
	SetupTimeout = 30 * time.Second
	// MaxRetryAfter caps how long one 429 makes an operation wait.
	MaxRetryAfter = 5 * time.Second
)

// ErrConfig is wrapped by every configuration error; it is
// settings.ErrConfig, and the message names the flag.
var ErrConfig = settings.ErrConfig

// ErrNotLoopback is wrapped by the error for a target (or a chaos control
// address) that is not on the loopback interface.
var ErrNotLoopback = errors.New("loadgen: only loopback targets are allowed")

// Config configures [Run]. The zero value is not valid: RegisterFlags sets
// the defaults, or set the fields by hand.
type Config struct {
	// Target is the gateway's base URL (--target, ECOMMERCE_TARGET), on a
	// loopback address. Default DefaultTarget.
	Target string
	// Rate is the number of operations started per second (--rate),
	// above 0 and at most MaxRate. Default DefaultRate.
	Rate float64
	// Duration is the length of the timed phase (--duration), 1 s to
	// MaxDuration. Default DefaultDuration.
	Duration time.Duration
	// Users is the number of users signed up and used (--users), 1 to
	// MaxUsers. Default DefaultUsers.
	Users int
	// OrderShare is the share of operations that place an order
	// (--order-share), 0 to 1. Default DefaultOrderShare.
	OrderShare float64
	// LoginShare is the share of operations that log one of the users in
	// again (--login-share), 0 to 1; with OrderShare it may not exceed 1.
	// Default 0. Each login costs the shop one password hash, so
	// --login-share 1 measures the login rate.
	LoginShare float64
	// MaxInFlight caps the operations running at once (--max-in-flight);
	// operations planned beyond it are dropped and counted. Default
	// DefaultMaxInFlight.
	MaxInFlight int
	// Timeout bounds each request (--timeout). Default DefaultTimeout.
	Timeout time.Duration
	// Chaos kills a random replica through the launcher every
	// ChaosInterval (--chaos, --chaos-interval). Default off, every
	// DefaultChaosInterval.
	Chaos         bool
	ChaosInterval time.Duration
	// Registry is where the launcher's control API is found with --chaos
	// (--registry). Default settings.DefaultRegistry.
	Registry string
	// Data is the shop's data directory (--data, ECOMMERCE_DATA, the same
	// flag and variable as "up"'s): with --chaos the control API's secret
	// is read from Data/launcher.ChaosSecretFile before each kill, and the
	// loadgen's certificate for the registry and the control API from
	// Data/pki; an https:// Target is also trusted when its certificate is
	// the shop's self-signed one in Data/pki. Default
	// settings.DefaultDataDir.
	Data string

	// Resolver, when set, is used instead of connecting to Registry to
	// find the control API (tests).
	Resolver discovery.Resolver
	// Progress receives the progress bar and chaos events. Nil means
	// io.Discard. The bar redraws in place when Progress is a terminal
	// (ProgressTTY) and prints a line every 5 s otherwise.
	Progress    io.Writer
	ProgressTTY bool
}

// RegisterFlags defines the loadgen's flags on fs with c's fields as
// destinations and the package defaults as defaults.
func (c *Config) RegisterFlags(fs *flag.FlagSet) {
	fs.StringVar(&c.Target, "target", DefaultTarget, "gateway base `URL` (loopback only)")
	fs.Float64Var(&c.Rate, "rate", DefaultRate, fmt.Sprintf("operations started per second (at most %g)", MaxRate))
	fs.DurationVar(&c.Duration, "duration", DefaultDuration, "length of the run (at most 1h)")
	fs.IntVar(&c.Users, "users", DefaultUsers, fmt.Sprintf("users signed up and used, 1 to %d", MaxUsers))
	fs.Float64Var(&c.OrderShare, "order-share", DefaultOrderShare, "share of operations that place an order, 0 to 1")
	fs.Float64Var(&c.LoginShare, "login-share", 0, "share of operations that log a user in again, 0 to 1 (with --order-share at most 1)")
	fs.IntVar(&c.MaxInFlight, "max-in-flight", DefaultMaxInFlight, "operations running at once before new ones are dropped")
	fs.DurationVar(&c.Timeout, "timeout", DefaultTimeout, "timeout of each request")
	fs.BoolVar(&c.Chaos, "chaos", false, "kill a random service replica through the launcher (\"up --chaos\") every --chaos-interval")
	fs.DurationVar(&c.ChaosInterval, "chaos-interval", DefaultChaosInterval, "pause between two chaos kills")
	fs.StringVar(&c.Registry, "registry", settings.DefaultRegistry, "etcd registry `URL` where --chaos finds the launcher")
	fs.StringVar(&c.Data, "data", settings.DefaultDataDir, "the shop's data `directory`, where --chaos reads the launcher's secret and the loadgen's certificate (pki/)")
}

// Validate checks c and returns an error wrapping [ErrConfig] (or
// [ErrNotLoopback]) that names the first bad flag.
func (c *Config) Validate() error {
	if _, err := targetURL(c.Target); err != nil {
		return err
	}
	switch {
	case !(c.Rate > 0 && c.Rate <= MaxRate):
		return flagError("rate", fmt.Sprint(c.Rate), fmt.Sprintf("must be above 0 and at most %g", MaxRate))
	case c.Duration < time.Second || c.Duration > MaxDuration:
		return flagError("duration", c.Duration.String(), "must be from 1s to 1h")
	case c.Users < 1 || c.Users > MaxUsers:
		return flagError("users", fmt.Sprint(c.Users), fmt.Sprintf("must be from 1 to %d", MaxUsers))
	case !(c.OrderShare >= 0 && c.OrderShare <= 1):
		return flagError("order-share", fmt.Sprint(c.OrderShare), "must be from 0 to 1")
	case !(c.LoginShare >= 0 && c.LoginShare+c.OrderShare <= 1):
		return flagError("login-share", fmt.Sprint(c.LoginShare), "must be from 0 to 1 minus --order-share")
	case c.MaxInFlight < 1:
		return flagError("max-in-flight", fmt.Sprint(c.MaxInFlight), "must be at least 1")
	case c.Timeout <= 0 || c.Timeout > time.Minute:
		return flagError("timeout", c.Timeout.String(), "must be above 0 and at most 1m")
	case c.Chaos && c.ChaosInterval < time.Second:
		return flagError("chaos-interval", c.ChaosInterval.String(), "must be at least 1s")
	case c.Chaos && strings.TrimSpace(c.Data) == "":
		return flagError("data", c.Data, "must name the shop's data directory with --chaos")
	}
	if c.Chaos && c.Resolver == nil {
		if _, err := settings.RegistryEndpoints("registry", c.Registry); err != nil {
			return err
		}
	}
	return nil
}

// targetURL parses and checks the target: http or https, a loopback host,
// no path beyond "/", no query, no credentials.
func targetURL(s string) (*url.URL, error) {
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, flagError("target", s, "must be an http:// or https:// URL")
	}
	if u.User != nil || u.RawQuery != "" || u.Fragment != "" || strings.Trim(u.Path, "/") != "" {
		return nil, flagError("target", s, "must be a base URL such as http://127.0.0.1:8080")
	}
	if !loopbackHost(u.Hostname()) {
		return nil, fmt.Errorf("%w: --target %q: the host must be 127.0.0.1, ::1 or localhost", ErrNotLoopback, s)
	}
	u.Path = ""
	return u, nil
}

// loopbackHost reports whether host is a loopback IP literal or
// "localhost".
func loopbackHost(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

func flagError(flagName, value, problem string) error {
	return fmt.Errorf("%w: --%s (%s) %q %s", ErrConfig, flagName, settings.EnvName(flagName), value, problem)
}
