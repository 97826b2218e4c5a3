package users_test

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"testing"
	"time"

	"github.com/switchyard/switchyard/discovery/etcd/embedded"
	"github.com/switchyard/switchyard/examples/ecommerce/internal/platform"
	"github.com/switchyard/switchyard/examples/ecommerce/users"
	shttp "github.com/switchyard/switchyard/transport/http"
)

// Run serves the users service in the registry, where other services find
// it, sign users up through it and verify its tokens with its JWKS.
func TestRun(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	etcd, err := embedded.Start(ctx, t.TempDir(), "127.0.0.1:0", embedded.WithUnsafeNoFsync())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { etcd.Close() })
	cfg := platform.ServiceConfig{
		Registry: "etcd://" + etcd.Addr(), Listen: "127.0.0.1:0", Data: t.TempDir(),
		AdminEmail: "root@shop.example", Logger: slog.New(slog.DiscardHandler), DrainDelay: -1,
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

	reg, err := platform.Connect(ctx, cfg.Registry)
	if err != nil {
		t.Fatal(err)
	}
	defer reg.Close()
	signup, err := platform.NewClient(ctx, reg.Resolver, "users", http.MethodPost, "/v1/users")
	if err != nil {
		t.Fatal(err)
	}
	defer signup.Close()
	login, err := platform.NewClient(ctx, reg.Resolver, "users", http.MethodPost, "/v1/login")
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
	u, err := platform.CallJSON[users.User](ctx, signup, platform.Request{
		Body: users.SignupRequest{Email: "root@shop.example", Password: "12345678", Name: "Root"}})
	if err != nil || u.Role != platform.RoleAdmin {
		t.Fatalf("signup: %+v, %v", u, err)
	}
	_, err = signup.Call(ctx, platform.Request{Body: users.SignupRequest{Email: "root@shop.example", Password: "12345678", Name: "Root"}})
	var re *shttp.ResponseError
	if !errors.As(err, &re) || re.Status != 409 || re.Code != "email_taken" {
		t.Fatalf("duplicate: %v", err)
	}

	v, err := platform.NewVerifier(ctx, reg.Resolver)
	if err != nil {
		t.Fatal(err)
	}
	defer v.Close()
	for range 4 { // both replicas sign with the one shared key
		tok, err := platform.CallJSON[users.Token](ctx, login, platform.Request{
			Body: users.LoginRequest{Email: "root@shop.example", Password: "12345678"}})
		if err != nil {
			t.Fatal(err)
		}
		c, err := v.Validate(ctx, tok.Token)
		if err != nil || c.Subject != u.ID {
			t.Fatalf("token: %+v, %v", c, err)
		}
	}

	stop()
	checked = true
	for range 2 {
		if err := <-done; err != nil {
			t.Fatalf("Run after stop: %v", err)
		}
	}
}

// sees reports whether every client's balancer holds n instances.
func sees(n int, clients ...*platform.Client) bool {
	for _, c := range clients {
		if m, _ := c.Endpoint().Balancer().Len(); m != n {
			return false
		}
	}
	return true
}
