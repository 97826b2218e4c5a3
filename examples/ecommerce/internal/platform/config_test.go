package platform_test

import (
	"errors"
	"flag"
	"io"
	"strings"
	"testing"

	"github.com/switchyard/switchyard/examples/ecommerce/internal/platform"
)

func TestEnvName(t *testing.T) {
	for in, want := range map[string]string{
		"data":            "ECOMMERCE_DATA",
		"admin-email":     "ECOMMERCE_ADMIN_EMAIL",
		"registry-listen": "ECOMMERCE_REGISTRY_LISTEN",
	} {
		if got := platform.EnvName(in); got != want {
			t.Errorf("EnvName(%q) = %q, want %q", in, got, want)
		}
	}
}

func newFlags() (*flag.FlagSet, *platform.ServiceConfig) {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	var c platform.ServiceConfig
	c.RegisterFlags(fs)
	return fs, &c
}

func TestParseFlagsPrecedence(t *testing.T) {
	t.Setenv("ECOMMERCE_LISTEN", "127.0.0.1:7000")
	t.Setenv("ECOMMERCE_DATA", "/from/env")
	t.Setenv("ECOMMERCE_ADMIN_EMAIL", "")
	fs, c := newFlags()
	if err := platform.ParseFlags(fs, []string{"--data", "/from/flag"}); err != nil {
		t.Fatal(err)
	}
	if c.Data != "/from/flag" {
		t.Errorf("Data = %q: the command line must win over the environment", c.Data)
	}
	if c.Listen != "127.0.0.1:7000" {
		t.Errorf("Listen = %q: the environment must win over the default", c.Listen)
	}
	if c.Registry != platform.DefaultRegistry {
		t.Errorf("Registry = %q, want the default", c.Registry)
	}
	if err := c.Validate(); err != nil {
		t.Errorf("Validate: %v", err)
	}
}

func TestParseFlagsBadEnv(t *testing.T) {
	fs := flag.NewFlagSet("up", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Int("replicas", 2, "")
	t.Setenv("ECOMMERCE_REPLICAS", "two")
	err := platform.ParseFlags(fs, nil)
	if !errors.Is(err, platform.ErrConfig) || !strings.Contains(err.Error(), "ECOMMERCE_REPLICAS") ||
		!strings.Contains(err.Error(), "--replicas") {
		t.Fatalf("err = %v, want ErrConfig naming ECOMMERCE_REPLICAS and --replicas", err)
	}
}

func TestValidate(t *testing.T) {
	good := platform.ServiceConfig{Registry: "etcd://127.0.0.1:2379", Listen: "127.0.0.1:0", Data: "d"}
	tests := []struct {
		name     string
		edit     func(*platform.ServiceConfig)
		wantFlag string // "" means valid
	}{
		{"defaults", func(*platform.ServiceConfig) {}, ""},
		{"several etcd members", func(c *platform.ServiceConfig) { c.Registry = "etcd://a:1,b:2" }, ""},
		{"all interfaces", func(c *platform.ServiceConfig) { c.Listen = ":8080" }, ""},
		{"admin email", func(c *platform.ServiceConfig) { c.AdminEmail = "root@example.com" }, ""},
		{"registry scheme", func(c *platform.ServiceConfig) { c.Registry = "http://127.0.0.1:2379" }, "--registry"},
		{"registry no port", func(c *platform.ServiceConfig) { c.Registry = "etcd://127.0.0.1" }, "--registry"},
		{"registry port 0", func(c *platform.ServiceConfig) { c.Registry = "etcd://127.0.0.1:0" }, "--registry"},
		{"registry empty member", func(c *platform.ServiceConfig) { c.Registry = "etcd://a:1," }, "--registry"},
		{"listen no port", func(c *platform.ServiceConfig) { c.Listen = "localhost" }, "--listen"},
		{"listen port range", func(c *platform.ServiceConfig) { c.Listen = "127.0.0.1:70000" }, "--listen"},
		{"data empty", func(c *platform.ServiceConfig) { c.Data = " " }, "--data"},
		{"admin email", func(c *platform.ServiceConfig) { c.AdminEmail = "root" }, "--admin-email"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := good
			tt.edit(&c)
			err := c.Validate()
			if tt.wantFlag == "" {
				if err != nil {
					t.Fatalf("Validate: %v", err)
				}
				return
			}
			if !errors.Is(err, platform.ErrConfig) || !strings.Contains(err.Error(), tt.wantFlag) {
				t.Fatalf("Validate = %v, want ErrConfig naming %s", err, tt.wantFlag)
			}
		})
	}
}

func TestRegistryEndpoints(t *testing.T) {
	eps, err := platform.RegistryEndpoints("registry", "etcd://10.0.0.1:2379,10.0.0.2:2379")
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(eps, " ") != "http://10.0.0.1:2379 http://10.0.0.2:2379" {
		t.Fatalf("endpoints = %v", eps)
	}
}
