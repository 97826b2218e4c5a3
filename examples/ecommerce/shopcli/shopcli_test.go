package shopcli_test

import (
	"errors"
	"reflect"
	"slices"
	"testing"

	"github.com/switchyard/switchyard/examples/ecommerce/shopcli"
)

func TestParse(t *testing.T) {
	s, err := shopcli.Parse([]string{"serve", "orders", "--listen", ":8080", "--data", "/data/shop",
		"--registry", "dns+srv://_http._tcp.{service}.shop.svc.cluster.local",
		"--tls-cert", "/tls/tls.crt", "--tls-key", "/tls/tls.key", "--tls-ca", "/tls/ca.crt"})
	if err != nil {
		t.Fatal(err)
	}
	if s.Service != "orders" || s.Listen != ":8080" || !s.TLS || s.Registry.Name("users") != "_http._tcp.users.shop.svc.cluster.local" {
		t.Fatalf("Parse = %+v", s)
	}
	if !slices.Contains(s.Env, "ECOMMERCE_DB") || !slices.Contains(s.Env, "ECOMMERCE_ADMIN_PASSWORD") || slices.Contains(s.Env, "ECOMMERCE_PUBLIC_TLS_CERT") {
		t.Errorf("Env = %v", s.Env)
	}

	// The gateway's listener speaks TLS with the public certificate, not
	// with its identity towards the services.
	g, err := shopcli.Parse([]string{"serve", "gateway", "--listen", ":8080", "--registry", "etcd://etcd:2379",
		"--tls-cert", "/tls/tls.crt", "--tls-key", "/tls/tls.key", "--tls-ca", "/tls/ca.crt"})
	if err != nil {
		t.Fatal(err)
	}
	if g.TLS || len(g.Registry.Etcd) != 1 {
		t.Fatalf("gateway = %+v", g)
	}
}

func TestParseRefuses(t *testing.T) {
	for name, args := range map[string][]string{
		"not serve":       {"up"},
		"unknown service": {"serve", "billing"},
		"unknown flag":    {"serve", "users", "--port", "8080"},
		"bad registry":    {"serve", "users", "--registry", "dns+srv://_http._tcp.users.shop.svc.cluster.local"},
		"bad listen":      {"serve", "catalog", "--listen", "8080"},
		"bad db":          {"serve", "catalog", "--db", "mysql://x"},
		"tls alone":       {"serve", "orders", "--tls-cert", "/tls/tls.crt"},
		"public alone":    {"serve", "gateway", "--public-tls-cert", "/tls/tls.crt"},
		"stray argument":  {"serve", "users", "extra"},
		"gateway limits":  {"serve", "gateway", "--login-rate", "0"},
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := shopcli.Parse(args); err == nil {
				t.Fatalf("Parse(%q) accepted", args)
			}
		})
	}
	if _, err := shopcli.Parse([]string{"serve", "users", "--listen", "x"}); !errors.Is(err, shopcli.ErrConfig) {
		t.Errorf("a bad --listen: %v, want ErrConfig", err)
	}
}

// Parse reads the flags' variables, as the binary does.
func TestParseEnvironment(t *testing.T) {
	t.Setenv("ECOMMERCE_REGISTRY", "dns://{service}.shop.svc.cluster.local:8080")
	s, err := shopcli.Parse([]string{"serve", "users"})
	if err != nil {
		t.Fatal(err)
	}
	if s.Registry.DNSPort != 8080 {
		t.Fatalf("Registry = %+v, want the environment's", s.Registry)
	}
}

func TestCallers(t *testing.T) {
	want := map[string][]string{
		"users":   {"catalog", "gateway", "orders"},
		"catalog": {"gateway", "orders"},
		"orders":  {"gateway"},
	}
	if got := shopcli.Callers(); !reflect.DeepEqual(got, want) {
		t.Fatalf("Callers = %v, want %v", got, want)
	}
}
