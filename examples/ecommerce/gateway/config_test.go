package gateway_test

import (
	"context"
	"errors"
	"flag"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/switchyard/switchyard/discovery"
	"github.com/switchyard/switchyard/discovery/memory"
	"github.com/switchyard/switchyard/examples/ecommerce/gateway"
	"github.com/switchyard/switchyard/examples/ecommerce/internal/settings"
)

func parseGatewayFlags(t *testing.T, args ...string) (gateway.Config, error) {
	t.Helper()
	var c gateway.Config
	fs := flag.NewFlagSet("serve gateway", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	c.RegisterFlags(fs)
	err := settings.ParseFlags(fs, args)
	return c, err
}

func TestTrustedProxiesFlag(t *testing.T) {
	c, err := parseGatewayFlags(t)
	if err != nil || len(c.TrustedProxies) != 0 {
		t.Fatalf("default: %v %v, want no trusted proxies", c.TrustedProxies, err)
	}

	c, err = parseGatewayFlags(t, "--trusted-proxies", " 10.1.2.3/8, fd00::/8,192.0.2.10,::1 ")
	if err != nil {
		t.Fatal(err)
	}
	want := "10.0.0.0/8,fd00::/8,192.0.2.10/32,::1/128"
	if got := c.TrustedProxies.String(); got != want {
		t.Errorf("--trusted-proxies parsed to %s, want %s", got, want)
	}
	if err := c.Validate(); err != nil {
		t.Errorf("Validate: %v", err)
	}

	t.Setenv("ECOMMERCE_TRUSTED_PROXIES", "172.16.0.0/12")
	if c, err = parseGatewayFlags(t); err != nil || c.TrustedProxies.String() != "172.16.0.0/12" {
		t.Errorf("from the environment: %v %v", c.TrustedProxies, err)
	}
	if c, err = parseGatewayFlags(t, "--trusted-proxies", "10.0.0.0/8"); err != nil || c.TrustedProxies.String() != "10.0.0.0/8" {
		t.Errorf("the flag must win over the environment: %v %v", c.TrustedProxies, err)
	}

	for _, bad := range []string{"10.0.0.0/33", "10.0.0/8", "example.com", "fe80::1%eth0", "10.0.0.0/8;fd00::/8"} {
		t.Run(bad, func(t *testing.T) {
			_, err := parseGatewayFlags(t, "--trusted-proxies", "192.0.2.0/24,"+bad)
			if err == nil || !strings.Contains(err.Error(), "trusted-proxies") || !strings.Contains(err.Error(), "not a CIDR") {
				t.Errorf("flag: %v, want an error naming the flag and the bad entry", err)
			}
			t.Setenv("ECOMMERCE_TRUSTED_PROXIES", bad)
			_, err = parseGatewayFlags(t)
			if !errors.Is(err, settings.ErrConfig) || !strings.Contains(err.Error(), "ECOMMERCE_TRUSTED_PROXIES") {
				t.Errorf("environment: %v, want ErrConfig naming ECOMMERCE_TRUSTED_PROXIES", err)
			}
		})
	}

	c.TrustedProxies = gateway.Prefixes{{}}
	if err := c.Validate(); !errors.Is(err, settings.ErrConfig) || !strings.Contains(err.Error(), "--trusted-proxies") {
		t.Errorf("Validate of an invalid prefix: %v", err)
	}
}

// passAuth lets every request through: these tests are about addresses.
type passAuth struct{}

func (passAuth) Handler(next http.Handler) http.Handler { return next }

// TestTrustedProxiesReachTheGateway parses --trusted-proxies as "serve
// gateway" does and hands the result to the shop's gateway: behind a
// trusted proxy each client has its own login bucket and the users
// service is told the client's address; with no trusted proxies a
// forged X-Forwarded-For buys nothing.
func TestTrustedProxiesReachTheGateway(t *testing.T) {
	type step struct {
		xff        string
		want       int
		upstreamIP string // X-Forwarded-For at the users service; "" when refused
	}
	cases := []struct {
		name  string
		flags []string
		steps []step
	}{
		{"behind a trusted proxy", []string{"--trusted-proxies", "127.0.0.0/8"}, []step{
			{"203.0.113.1", 200, "203.0.113.1"},
			{"203.0.113.1", 429, ""},
			{"6.6.6.6, 203.0.113.1", 429, ""},
			{"203.0.113.2", 200, "203.0.113.2"},
			{"2001:db8:1:2::a", 200, "2001:db8:1:2::a"},
			{"2001:db8:1:2::b", 429, ""}, // same /64
		}},
		{"no trusted proxies", nil, []step{
			{"203.0.113.1", 200, "127.0.0.1"},
			{"203.0.113.2", 429, ""},
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cfg, err := parseGatewayFlags(t, c.flags...)
			if err != nil {
				t.Fatal(err)
			}
			var mu sync.Mutex
			var seen []string
			users := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				mu.Lock()
				seen = append(seen, r.Header.Get("X-Forwarded-For"))
				mu.Unlock()
				w.Header().Set("Content-Type", "application/json")
				io.WriteString(w, `{"token":"t","expires_at":"2030-01-01T00:00:00Z"}`)
			}), ReadHeaderTimeout: 5 * time.Second}
			uln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			go users.Serve(uln)
			defer users.Close()
			reg := memory.New()
			defer reg.Close()
			for _, s := range []string{gateway.UsersService, gateway.CatalogService, gateway.OrdersService} {
				if err := reg.Register(context.Background(), discovery.Instance{ID: s + "-1", Service: s, Addr: uln.Addr().String()}); err != nil {
					t.Fatal(err)
				}
			}
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			g, err := gateway.New(ctx, gateway.Options{
				Resolver: reg, Authenticator: passAuth{},
				Login:          gateway.Limit{Rate: 1.0 / 3600, Burst: 1},
				TrustedProxies: cfg.TrustedProxies,
				Logger:         slog.New(slog.NewTextHandler(io.Discard, nil)),
			})
			if err != nil {
				t.Fatal(err)
			}
			defer g.Close()
			for g.Ready(ctx) != nil {
				if ctx.Err() != nil {
					t.Fatal("upstreams not found")
				}
				time.Sleep(10 * time.Millisecond)
			}
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			srv := &http.Server{Handler: g, ReadHeaderTimeout: 5 * time.Second}
			go srv.Serve(ln)
			defer srv.Close()

			for i, s := range c.steps {
				mu.Lock()
				before := len(seen)
				mu.Unlock()
				st, _, body := call(t, "POST", "http://"+ln.Addr().String()+"/api/v1/login", "",
					map[string]string{"email": "a@example.com", "password": "pw"}, "X-Forwarded-For", s.xff)
				if st != s.want {
					t.Errorf("step %d (X-Forwarded-For %s): %d %s, want %d", i+1, s.xff, st, body, s.want)
					continue
				}
				mu.Lock()
				got := seen[before:]
				mu.Unlock()
				switch {
				case s.upstreamIP == "" && len(got) != 0:
					t.Errorf("step %d: refused, yet users was called with %q", i+1, got)
				case s.upstreamIP != "" && (len(got) != 1 || got[0] != s.upstreamIP):
					t.Errorf("step %d: users saw X-Forwarded-For %q, want %q", i+1, got, s.upstreamIP)
				}
			}
		})
	}
}
