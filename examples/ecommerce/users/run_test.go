package users_test

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/switchyard/switchyard/client"
	"github.com/switchyard/switchyard/discovery/etcd/embedded"
	"github.com/switchyard/switchyard/examples/ecommerce/internal/authn"
	"github.com/switchyard/switchyard/examples/ecommerce/internal/call"
	"github.com/switchyard/switchyard/examples/ecommerce/internal/registry"
	"github.com/switchyard/switchyard/examples/ecommerce/internal/settings"
	"github.com/switchyard/switchyard/examples/ecommerce/internal/sqlite"
	"github.com/switchyard/switchyard/examples/ecommerce/users"
	shttp "github.com/switchyard/switchyard/transport/http"
)

// Run serves the users service in the registry, where other services find
// it, sign users up through it and verify its tokens with its JWKS. Two
// replicas starting at once create one admin account from the password
// file.
func TestRun(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	etcd, err := embedded.Start(ctx, t.TempDir(), "127.0.0.1:0", embedded.Config{UnsafeNoFsync: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { etcd.Close() })
	cfg := settings.Service{
		Registry: "etcd://" + etcd.Addr(), Listen: "127.0.0.1:0", Data: t.TempDir(),
		AdminEmail: "root@shop.example", AdminPasswordFile: passwordFile(t, "admin password\n", 0o600),
		Logger: slog.New(slog.DiscardHandler), DrainDelay: -1,
	}
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 2)
	for range 2 { // two replicas on one data directory
		go func() {
			done <- users.RunWith(runCtx, cfg, users.WithArgon2(users.Argon2Params{Time: 1, MemoryKiB: 64, Threads: 1}))
		}()
	}
	checked := false
	t.Cleanup(func() { // on failure: stop the services before etcd goes
		if !checked {
			stop()
			for range 2 {
				select {
				case <-done:
				case <-time.After(10 * time.Second):
				}
			}
		}
	})

	reg, err := registry.Connect(ctx, cfg.Registry)
	if err != nil {
		t.Fatal(err)
	}
	defer reg.Close()
	signup, err := call.New(ctx, reg.Resolver, "users", http.MethodPost, "/v1/users", client.Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer signup.Close()
	login, err := call.New(ctx, reg.Resolver, "users", http.MethodPost, "/v1/login", client.Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer login.Close()

	// Wait until both clients see both replicas.
	for !sees(2, signup, login) {
		select {
		case err := <-done:
			t.Fatalf("Run: %v", err)
		case <-time.After(20 * time.Millisecond):
		}
	}
	u, err := call.JSON[users.User](ctx, signup, call.Request{
		Body: users.SignupRequest{Email: "ann@shop.example", Password: "12345678", Name: "Ann"}})
	if err != nil || u.Role != authn.RoleUser {
		t.Fatalf("signup: %+v, %v", u, err)
	}
	for _, email := range []string{"ann@shop.example", "root@shop.example"} {
		_, err = signup.Call(ctx, call.Request{Body: users.SignupRequest{Email: email, Password: "12345678", Name: "Root"}})
		var re *shttp.ResponseError
		if !errors.As(err, &re) || re.Status != 409 || re.Code != "email_taken" {
			t.Fatalf("sign-up with %s: %v, want 409 email_taken", email, err)
		}
	}

	v, err := authn.NewVerifier(ctx, reg.Resolver, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer v.Close()
	for range 4 { // both replicas sign with the one shared key
		tok, err := call.JSON[users.Token](ctx, login, call.Request{
			Body: users.LoginRequest{Email: "ann@shop.example", Password: "12345678"}})
		if err != nil {
			t.Fatal(err)
		}
		c, err := v.Validate(ctx, tok.Token)
		if err != nil || c.Subject != u.ID {
			t.Fatalf("token: %+v, %v", c, err)
		}
		tok, err = call.JSON[users.Token](ctx, login, call.Request{
			Body: users.LoginRequest{Email: "root@shop.example", Password: "admin password"}})
		if err != nil {
			t.Fatalf("admin login: %v", err)
		}
		if c, err = v.Validate(ctx, tok.Token); err != nil || c.String("role") != authn.RoleAdmin {
			t.Fatalf("admin token: %+v, %v", c, err)
		}
	}

	stop()
	checked = true
	for range 2 {
		if err := <-done; err != nil {
			t.Fatalf("Run after stop: %v", err)
		}
	}
	db, err := sqlite.Open(ctx, filepath.Join(cfg.Data, users.DBFile), users.Migrations...)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var admins int
	if err := db.QueryRowContext(ctx, `SELECT COUNT(*) FROM users WHERE role = 'admin'`).Scan(&admins); err != nil || admins != 1 {
		t.Fatalf("%d admin accounts after two replicas started, %v; want 1", admins, err)
	}
}

// passwordFile writes content to a new file with mode and returns its name.
func passwordFile(t *testing.T, content string, mode os.FileMode) string {
	t.Helper()
	name := filepath.Join(t.TempDir(), "admin-password")
	if err := os.WriteFile(name, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(name, mode); err != nil {
		t.Fatal(err)
	}
	return name
}

// With an admin address, Run refuses to start without a usable password,
// before it joins the registry (there is none here).
func TestRunAdminPasswordErrors(t *testing.T) {
	tests := []struct {
		name    string
		edit    func(*settings.Service)
		wantErr string
	}{
		{"no password", func(*settings.Service) {}, "ECOMMERCE_ADMIN_PASSWORD or --admin-password-file"},
		{"missing file", func(c *settings.Service) { c.AdminPasswordFile = filepath.Join(t.TempDir(), "nope") }, "no such file"},
		{"group readable", func(c *settings.Service) { c.AdminPasswordFile = passwordFile(t, "admin password", 0o640) }, "chmod 600"},
		{"empty file", func(c *settings.Service) { c.AdminPasswordFile = passwordFile(t, "\n", 0o600) }, "is empty"},
		{"short in file", func(c *settings.Service) { c.AdminPasswordFile = passwordFile(t, "short\n", 0o600) }, "password must be 8 to 1024 characters"},
		{"short in environment", func(c *settings.Service) { c.AdminPassword = "short" }, "password must be 8 to 1024 characters"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := settings.Service{
				Registry: "etcd://127.0.0.1:1", Listen: "127.0.0.1:0", Data: t.TempDir(),
				AdminEmail: "root@shop.example", Logger: slog.New(slog.DiscardHandler), DrainDelay: -1,
			}
			tt.edit(&cfg)
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			err := users.RunWith(ctx, cfg, users.WithArgon2(cheap))
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("RunWith = %v, want an error containing %q", err, tt.wantErr)
			}
		})
	}
}

// sees reports whether every client's balancer holds n instances.
func sees(n int, clients ...*call.Client) bool {
	for _, c := range clients {
		if m, _ := c.Endpoint().Balancer().Len(); m != n {
			return false
		}
	}
	return true
}
