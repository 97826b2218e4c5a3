package gateway

import (
	"crypto/tls"
	"flag"
	"fmt"
	"net/netip"
	"strings"

	"github.com/switchyard/switchyard/examples/ecommerce/internal/settings"
)

// Defaults of [Config].
const (
	// ServiceName is the gateway's name in the registry.
	ServiceName = "gateway"
	// DefaultListen is where the gateway listens.
	DefaultListen = "127.0.0.1:8080"
	// DefaultLoginRate and DefaultLoginBurst limit logins per client IP:
	// 10 a second on average, bursts of 20.
	DefaultLoginRate  = 10.0
	DefaultLoginBurst = 20
	// DefaultSignupRate and DefaultSignupBurst limit sign-ups per client
	// IP: 5 a second on average, bursts of 20.
	DefaultSignupRate  = 5.0
	DefaultSignupBurst = 20
)

// Limit is a token bucket: Rate requests per second on average, bursts of
// up to Burst.
type Limit struct {
	Rate  float64
	Burst int
}

// Config is the configuration of "ecommerce serve gateway". The zero value
// is not valid: RegisterFlags sets the defaults.
type Config struct {
	// Service holds --registry, --listen (default DefaultListen),
	// --data, --admin-email and --tls-cert, --tls-key, --tls-ca (the
	// gateway's identity for mutual TLS to the registry and the services;
	// none means plain HTTP). The gateway keeps no data and makes nobody
	// admin; it accepts those two flags so that every "serve" role takes
	// the same ones.
	settings.Service
	// Login and Signup limit POST /api/v1/login and POST /api/v1/users
	// per client IP (--login-rate, --login-burst, --signup-rate,
	// --signup-burst). Defaults DefaultLoginRate/Burst and
	// DefaultSignupRate/Burst.
	Login, Signup Limit
	// TrustedProxies are the load balancers or ingresses in front of the
	// gateway (--trusted-proxies CIDR,…, ECOMMERCE_TRUSTED_PROXIES): from
	// them the client's address is taken from X-Forwarded-For, for the
	// per-IP limits and the upstreams' X-Forwarded-For. Default none: the
	// connection's peer is the client.
	TrustedProxies Prefixes
	// PublicTLS names the certificate and key of the public listener
	// (--public-tls-cert, --public-tls-key; both or neither): with them
	// the gateway serves HTTPS with HTTP/2 and sends
	// Strict-Transport-Security. Default none: plain HTTP, meant for
	// loopback. Its CA field is unused.
	PublicTLS settings.TLSFiles
}

// Prefixes is a list of IP address ranges, written on the command line as
// CIDRs separated by commas ("10.0.0.0/8,fd00::/8"); a bare address is a
// range of one. It is a [flag.Value]: Set replaces the list, and the empty
// string is the empty list.
type Prefixes []netip.Prefix

// ParsePrefixes parses a comma-separated list of CIDRs or addresses. The
// error names the entry it could not read.
func ParsePrefixes(s string) (Prefixes, error) {
	var out Prefixes
	for entry := range strings.SplitSeq(s, ",") {
		entry = strings.TrimSpace(entry)
		if entry == "" {
			continue
		}
		p, err := netip.ParsePrefix(entry)
		if err != nil {
			a, aerr := netip.ParseAddr(entry)
			if aerr != nil || a.Zone() != "" {
				return nil, fmt.Errorf("%q is not a CIDR range such as 10.0.0.0/8 or fd00::/8, nor an IP address", entry)
			}
			p = netip.PrefixFrom(a, a.BitLen())
		}
		out = append(out, p.Masked())
	}
	return out, nil
}

// String returns the list as Set reads it.
func (p *Prefixes) String() string {
	if p == nil {
		return ""
	}
	parts := make([]string, len(*p))
	for i, pre := range *p {
		parts[i] = pre.String()
	}
	return strings.Join(parts, ",")
}

// Set replaces the list with the one s holds.
func (p *Prefixes) Set(s string) error {
	v, err := ParsePrefixes(s)
	if err != nil {
		return err
	}
	*p = v
	return nil
}

// RegisterFlags defines the gateway's flags on fs with c's fields as
// destinations.
func (c *Config) RegisterFlags(fs *flag.FlagSet) {
	c.Service.RegisterFlags(fs)
	if f := fs.Lookup("listen"); f != nil {
		f.DefValue = DefaultListen
		_ = f.Value.Set(DefaultListen)
	}
	fs.Float64Var(&c.Login.Rate, "login-rate", DefaultLoginRate, "logins per second per client IP")
	fs.IntVar(&c.Login.Burst, "login-burst", DefaultLoginBurst, "login burst per client IP")
	fs.Float64Var(&c.Signup.Rate, "signup-rate", DefaultSignupRate, "sign-ups per second per client IP")
	fs.IntVar(&c.Signup.Burst, "signup-burst", DefaultSignupBurst, "sign-up burst per client IP")
	fs.StringVar(&c.PublicTLS.Cert, "public-tls-cert", "", "PEM `file` with the public listener's certificate chain (HTTPS and HTTP/2; with --public-tls-key)")
	fs.StringVar(&c.PublicTLS.Key, "public-tls-key", "", "PEM `file` with the public certificate's private key")
	fs.Var(&c.TrustedProxies, "trusted-proxies", "`CIDR,…` of load balancers in front of the gateway, whose X-Forwarded-For names the client (default none)")
}

// Validate checks c and returns an error wrapping settings.ErrConfig that
// names the first bad flag.
func (c *Config) Validate() error {
	if err := c.Service.Validate(); err != nil {
		return err
	}
	for _, l := range []struct {
		name string
		l    Limit
	}{{"login", c.Login}, {"signup", c.Signup}} {
		if !(l.l.Rate > 0) {
			return flagError(l.name+"-rate", fmt.Sprint(l.l.Rate), "must be above 0")
		}
		if l.l.Burst < 1 {
			return flagError(l.name+"-burst", fmt.Sprint(l.l.Burst), "must be at least 1")
		}
	}
	for _, p := range c.TrustedProxies {
		if !p.IsValid() {
			return flagError("trusted-proxies", c.TrustedProxies.String(), "holds an invalid CIDR")
		}
	}
	if (c.PublicTLS.Cert == "") != (c.PublicTLS.Key == "") {
		return flagError("public-tls-cert", c.PublicTLS.Cert, "and --public-tls-key go together: give both or neither")
	}
	if c.PublicTLS.Cert != "" {
		if _, err := tls.LoadX509KeyPair(c.PublicTLS.Cert, c.PublicTLS.Key); err != nil {
			return flagError("public-tls-cert", c.PublicTLS.Cert, fmt.Sprintf("with --public-tls-key %q cannot be loaded: %v", c.PublicTLS.Key, err))
		}
	}
	return nil
}

func flagError(flagName, value, problem string) error {
	return fmt.Errorf("%w: --%s (%s) %q %s", settings.ErrConfig, flagName, settings.EnvName(flagName), value, problem)
}
