package settings_test

import (
	"errors"
	"flag"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/switchyard/switchyard/examples/ecommerce/internal/settings"
)

func TestEnvName(t *testing.T) {
	for in, want := range map[string]string{
		"data":            "ECOMMERCE_DATA",
		"admin-email":     "ECOMMERCE_ADMIN_EMAIL",
		"registry-listen": "ECOMMERCE_REGISTRY_LISTEN",
	} {
		if got := settings.EnvName(in); got != want {
			t.Errorf("EnvName(%q) = %q, want %q", in, got, want)
		}
	}
}

func newFlags() (*flag.FlagSet, *settings.Service) {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	var c settings.Service
	c.RegisterFlags(fs)
	return fs, &c
}

func TestParseFlagsPrecedence(t *testing.T) {
	t.Setenv("ECOMMERCE_LISTEN", "127.0.0.1:7000")
	t.Setenv("ECOMMERCE_DATA", "/from/env")
	t.Setenv("ECOMMERCE_ADMIN_EMAIL", "")
	fs, c := newFlags()
	if err := settings.ParseFlags(fs, []string{"--data", "/from/flag"}); err != nil {
		t.Fatal(err)
	}
	if c.Data != "/from/flag" {
		t.Errorf("Data = %q: the command line must win over the environment", c.Data)
	}
	if c.Listen != "127.0.0.1:7000" {
		t.Errorf("Listen = %q: the environment must win over the default", c.Listen)
	}
	if c.Registry != settings.DefaultRegistry {
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
	err := settings.ParseFlags(fs, nil)
	if !errors.Is(err, settings.ErrConfig) || !strings.Contains(err.Error(), "ECOMMERCE_REPLICAS") ||
		!strings.Contains(err.Error(), "--replicas") {
		t.Fatalf("err = %v, want ErrConfig naming ECOMMERCE_REPLICAS and --replicas", err)
	}
}

func TestValidate(t *testing.T) {
	good := settings.Service{Registry: "etcd://127.0.0.1:2379", Listen: "127.0.0.1:0", Data: "d"}
	tests := []struct {
		name     string
		edit     func(*settings.Service)
		wantFlag string // "" means valid
	}{
		{"defaults", func(*settings.Service) {}, ""},
		{"several etcd members", func(c *settings.Service) { c.Registry = "etcd://a:1,b:2" }, ""},
		{"all interfaces", func(c *settings.Service) { c.Listen = ":8080" }, ""},
		{"admin email", func(c *settings.Service) { c.AdminEmail = "root@example.com" }, ""},
		{"registry scheme", func(c *settings.Service) { c.Registry = "http://127.0.0.1:2379" }, "--registry"},
		{"registry no port", func(c *settings.Service) { c.Registry = "etcd://127.0.0.1" }, "--registry"},
		{"registry port 0", func(c *settings.Service) { c.Registry = "etcd://127.0.0.1:0" }, "--registry"},
		{"registry empty member", func(c *settings.Service) { c.Registry = "etcd://a:1," }, "--registry"},
		{"listen no port", func(c *settings.Service) { c.Listen = "localhost" }, "--listen"},
		{"listen port range", func(c *settings.Service) { c.Listen = "127.0.0.1:70000" }, "--listen"},
		{"data empty", func(c *settings.Service) { c.Data = " " }, "--data"},
		{"admin email", func(c *settings.Service) { c.AdminEmail = "root" }, "--admin-email"},
		{"postgres", func(c *settings.Service) { c.DB = "postgres://shop:pw@127.0.0.1:5432/shop?sslmode=disable" }, ""},
		{"postgresql", func(c *settings.Service) { c.DB = "postgresql://db.example/shop" }, ""},
		{"db scheme", func(c *settings.Service) { c.DB = "mysql://127.0.0.1/shop" }, "--db"},
		{"db key=value form", func(c *settings.Service) { c.DB = "host=127.0.0.1 dbname=shop" }, "--db"},
		{"db bad port", func(c *settings.Service) { c.DB = "postgres://127.0.0.1:http/shop" }, "--db"},
		{"db bad sslmode", func(c *settings.Service) { c.DB = "postgres://127.0.0.1/shop?sslmode=sometimes" }, "--db"},
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
			if !errors.Is(err, settings.ErrConfig) || !strings.Contains(err.Error(), tt.wantFlag) {
				t.Fatalf("Validate = %v, want ErrConfig naming %s", err, tt.wantFlag)
			}
		})
	}
}

func TestRegistryEndpoints(t *testing.T) {
	eps, err := settings.RegistryEndpoints("registry", "etcd://10.0.0.1:2379,10.0.0.2:2379")
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(eps, " ") != "http://10.0.0.1:2379 http://10.0.0.2:2379" {
		t.Fatalf("endpoints = %v", eps)
	}
}

func TestAdminPasswordFromEnvironment(t *testing.T) {
	t.Setenv("ECOMMERCE_ADMIN_PASSWORD", "from the environment")
	t.Setenv("ECOMMERCE_ADMIN_EMAIL", "root@example.com")
	fs, c := newFlags()
	if err := settings.ParseFlags(fs, nil); err != nil {
		t.Fatal(err)
	}
	if fs.Lookup("admin-password") != nil {
		t.Error("--admin-password exists: a password on the command line shows in process listings")
	}
	pw, err := c.ReadAdminPassword()
	if err != nil || pw != "from the environment" {
		t.Fatalf("ReadAdminPassword = %q, %v", pw, err)
	}
}

func TestReadAdminPassword(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string, mode os.FileMode) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(p, mode); err != nil { // whatever the umask
			t.Fatal(err)
		}
		return p
	}
	good := write("good", "correct horse\n", 0o600)
	tests := []struct {
		name    string
		cfg     settings.Service
		want    string
		wantErr string // substring; "" means no error
	}{
		{"no admin", settings.Service{}, "", ""},
		{"no admin, file ignored", settings.Service{AdminPasswordFile: "/nonexistent"}, "", ""},
		{"environment", settings.Service{AdminEmail: "a@b.c", AdminPassword: "pw from env"}, "pw from env", ""},
		{"file, one newline removed", settings.Service{AdminEmail: "a@b.c", AdminPasswordFile: good}, "correct horse", ""},
		{"file wins over environment", settings.Service{AdminEmail: "a@b.c", AdminPassword: "env", AdminPasswordFile: good}, "correct horse", ""},
		{"CRLF removed", settings.Service{AdminEmail: "a@b.c", AdminPasswordFile: write("crlf", "pw pw pw\r\n", 0o600)}, "pw pw pw", ""},
		{"only one newline removed", settings.Service{AdminEmail: "a@b.c", AdminPasswordFile: write("two", " pw pw pw \n\n", 0o400)}, " pw pw pw \n", ""},
		{"no newline", settings.Service{AdminEmail: "a@b.c", AdminPasswordFile: write("bare", "12345678", 0o400)}, "12345678", ""},
		{"neither", settings.Service{AdminEmail: "a@b.c"}, "", "ECOMMERCE_ADMIN_PASSWORD or --admin-password-file"},
		{"missing file", settings.Service{AdminEmail: "a@b.c", AdminPasswordFile: filepath.Join(dir, "nope")}, "", "no such file"},
		{"empty file", settings.Service{AdminEmail: "a@b.c", AdminPasswordFile: write("empty", "", 0o600)}, "", "is empty"},
		{"only a newline", settings.Service{AdminEmail: "a@b.c", AdminPasswordFile: write("nl", "\n", 0o600)}, "", "is empty"},
		{"group readable", settings.Service{AdminEmail: "a@b.c", AdminPasswordFile: write("g", "12345678", 0o640)}, "", "has mode 0640"},
		{"world readable", settings.Service{AdminEmail: "a@b.c", AdminPasswordFile: write("o", "12345678", 0o604)}, "", "chmod 600"},
		{"directory", settings.Service{AdminEmail: "a@b.c", AdminPasswordFile: t.TempDir()}, "", "not a regular file"},
		{"too large", settings.Service{AdminEmail: "a@b.c", AdminPasswordFile: write("big", strings.Repeat("p", 4097), 0o600)}, "", "larger than 4096"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pw, err := tt.cfg.ReadAdminPassword()
			if tt.wantErr == "" {
				if err != nil || pw != tt.want {
					t.Fatalf("ReadAdminPassword = %q, %v; want %q", pw, err, tt.want)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("ReadAdminPassword = %q, %v; want an error containing %q", pw, err, tt.wantErr)
			}
			if tt.cfg.AdminPasswordFile != "" && (!errors.Is(err, settings.ErrConfig) || !strings.Contains(err.Error(), "--admin-password-file")) {
				t.Errorf("err = %v: want ErrConfig naming --admin-password-file", err)
			}
			if tt.cfg.AdminPasswordFile == "" && !errors.Is(err, settings.ErrNoAdminPassword) {
				t.Errorf("err = %v: want ErrNoAdminPassword", err)
			}
		})
	}
}

func TestCheckDBHidesPassword(t *testing.T) {
	for _, url := range []string{
		"mysql://shop:s3cret@127.0.0.1/shop",
		"postgres://shop:s3cret@127.0.0.1/shop?sslmode=sometimes",
		"postgres://shop:s3cret@127.0.0.1:99999/shop",
	} {
		err := settings.CheckDB("db", url)
		if !errors.Is(err, settings.ErrConfig) || !strings.Contains(err.Error(), "--db (ECOMMERCE_DB)") {
			t.Errorf("CheckDB(%q) = %v, want ErrConfig naming --db and ECOMMERCE_DB", url, err)
			continue
		}
		if strings.Contains(err.Error(), "s3cret") {
			t.Errorf("CheckDB(%q) = %v: the error shows the password", url, err)
		}
	}
}

func TestDBFromEnvironment(t *testing.T) {
	t.Setenv("ECOMMERCE_DB", "postgres://127.0.0.1/shop")
	fs, c := newFlags()
	if err := settings.ParseFlags(fs, nil); err != nil {
		t.Fatal(err)
	}
	if c.DB != "postgres://127.0.0.1/shop" {
		t.Fatalf("DB = %q, want the value of ECOMMERCE_DB", c.DB)
	}
}
