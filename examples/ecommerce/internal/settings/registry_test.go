package settings_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/switchyard/switchyard/examples/ecommerce/internal/settings"
)

func TestParseRegistry(t *testing.T) {
	for _, tt := range []struct {
		url        string
		name       string // Name("catalog")
		port       int
		server     string
		etcdMember int // number of etcd endpoints
	}{
		{url: "etcd://10.0.0.1:2379,10.0.0.2:2379", etcdMember: 2},
		{url: "dns+srv://_http._tcp.{service}.shop.svc.cluster.local", name: "_http._tcp.catalog.shop.svc.cluster.local"},
		{url: "dns+srv://_http._tcp.{service}.shop.svc.cluster.local.", name: "_http._tcp.catalog.shop.svc.cluster.local"},
		{url: "dns+srv://{service}.example.com?server=127.0.0.1:5353", name: "catalog.example.com", server: "127.0.0.1:5353"},
		{url: "dns://{service}.shop.svc.cluster.local:8443", name: "catalog.shop.svc.cluster.local", port: 8443},
		{url: "dns://{service}-headless.shop:8080?server=[::1]:53", name: "catalog-headless.shop", port: 8080, server: "[::1]:53"},
	} {
		t.Run(tt.url, func(t *testing.T) {
			r, err := settings.ParseRegistry("registry", tt.url)
			if err != nil {
				t.Fatal(err)
			}
			if len(r.Etcd) != tt.etcdMember {
				t.Errorf("Etcd = %v, want %d members", r.Etcd, tt.etcdMember)
			}
			if tt.etcdMember > 0 {
				if r.DNSName != "" {
					t.Errorf("DNSName = %q for etcd", r.DNSName)
				}
				return
			}
			if got := r.Name("catalog"); got != tt.name {
				t.Errorf("Name(catalog) = %q, want %q", got, tt.name)
			}
			if r.DNSPort != tt.port || r.DNSServer != tt.server {
				t.Errorf("port, server = %d, %q; want %d, %q", r.DNSPort, r.DNSServer, tt.port, tt.server)
			}
		})
	}
}

func TestParseRegistryRefuses(t *testing.T) {
	for _, url := range []string{
		"",
		"127.0.0.1:2379",
		"http://127.0.0.1:2379",
		"consul://{service}.example.com",
		"dns+srv://_http._tcp.catalog.shop.svc.cluster.local",        // no placeholder: one service for all
		"dns+srv://_http._tcp.{service}.{service}.svc.cluster.local", // twice
		"dns+srv://_http._tcp.{service}/x.shop.svc.cluster.local",    // a path
		"dns+srv://_http._tcp.{service}..svc.cluster.local",          // empty label
		"dns+srv://_http._tcp.{service}.sh op.svc.cluster.local",     // space
		"dns+srv://{service}.example.com?server=127.0.0.1",           // server without a port
		"dns+srv://{service}.example.com?server=127.0.0.1:53&x=1",    // unknown parameter
		"dns+srv://{service}.example.com?interval=1s",                // unknown parameter
		"dns://{service}.shop.svc.cluster.local",                     // A records need a port
		"dns://{service}.shop.svc.cluster.local:0",                   // port 0
		"dns://{service}.shop.svc.cluster.local:http",                // named port
		"dns://{service}." + strings.Repeat("a", 64) + ".example:80", // label too long
	} {
		t.Run(url, func(t *testing.T) {
			_, err := settings.ParseRegistry("registry", url)
			if !errors.Is(err, settings.ErrConfig) || !strings.Contains(err.Error(), "--registry (ECOMMERCE_REGISTRY)") {
				t.Fatalf("err = %v, want ErrConfig naming --registry and its variable", err)
			}
		})
	}
}

// Validate takes the DNS forms, and refuses a DNS URL it cannot use.
func TestValidateDNSRegistry(t *testing.T) {
	good := settings.Service{Registry: "dns+srv://_http._tcp.{service}.shop.svc.cluster.local", Listen: ":8080", Data: "/data"}
	if err := good.Validate(); err != nil {
		t.Fatal(err)
	}
	bad := good
	bad.Registry = "dns+srv://_http._tcp.catalog.shop.svc.cluster.local"
	if err := bad.Validate(); !errors.Is(err, settings.ErrConfig) {
		t.Fatalf("Validate = %v, want ErrConfig", err)
	}
}
