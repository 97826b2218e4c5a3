package users_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/switchyard/switchyard/examples/ecommerce/internal/authn"
	"github.com/switchyard/switchyard/examples/ecommerce/internal/sqlite"
	"github.com/switchyard/switchyard/examples/ecommerce/users"
)

// Nobody becomes admin by signing up: the admin address is taken before and
// after EnsureAdmin, and the admin logs in with the configured password.
func TestAdminBootstrap(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	for _, e := range []string{adminEmail, " Root@Shop.Example"} {
		if _, err := f.svc.Signup(ctx, e, "12345678", "Impostor"); !errors.Is(err, users.ErrEmailTaken) {
			t.Fatalf("sign-up with %q before the admin exists: %v, want ErrEmailTaken", e, err)
		}
	}
	a, err := users.EnsureAdmin(ctx, f.store, " ROOT@shop.example ", "admin password", users.WithArgon2(cheap))
	if err != nil || a.Role != authn.RoleAdmin || a.Email != adminEmail || a.Name != users.AdminName {
		t.Fatalf("EnsureAdmin: %+v, %v", a, err)
	}
	if _, err := f.svc.Signup(ctx, adminEmail, "12345678", "Impostor"); !errors.Is(err, users.ErrEmailTaken) {
		t.Fatalf("sign-up with the admin address: %v, want ErrEmailTaken", err)
	}
	tok, err := f.svc.Login(ctx, adminEmail, "admin password")
	if err != nil {
		t.Fatal(err)
	}
	if c := verify(t, f, tok.Token, time.Now()); c.Subject != a.ID || c.String("role") != authn.RoleAdmin {
		t.Fatalf("admin token claims %+v", c)
	}
	if u, err := f.svc.Signup(ctx, "someone@example.com", "12345678", "Someone"); err != nil || u.Role != authn.RoleUser {
		t.Fatalf("ordinary user: %+v, %v", u, err)
	}

	none := newFixture(t, users.WithAdminEmail(""))
	if u, err := none.svc.Signup(ctx, adminEmail, "12345678", "Root"); err != nil || u.Role != authn.RoleUser {
		t.Fatalf("without --admin-email: %+v, %v", u, err)
	}
}

// Running EnsureAdmin again changes nothing; a changed password replaces the
// stored hash; an ordinary account with the address is made admin.
func TestEnsureAdminIdempotent(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	first, err := users.EnsureAdmin(ctx, f.store, adminEmail, "first password", users.WithArgon2(cheap))
	if err != nil {
		t.Fatal(err)
	}
	before, _ := f.store.ByEmail(ctx, adminEmail)
	again, err := users.EnsureAdmin(ctx, f.store, adminEmail, "first password", users.WithArgon2(cheap))
	after, _ := f.store.ByEmail(ctx, adminEmail)
	if err != nil || again != first || after.PasswordHash != before.PasswordHash {
		t.Fatalf("second run: %+v, %v; hash rewritten: %v", again, err, after.PasswordHash != before.PasswordHash)
	}

	changed, err := users.EnsureAdmin(ctx, f.store, adminEmail, "second password", users.WithArgon2(cheap))
	if err != nil || changed.ID != first.ID {
		t.Fatalf("changed password: %+v, %v", changed, err)
	}
	if _, err := f.svc.Login(ctx, adminEmail, "first password"); !errors.Is(err, users.ErrInvalidCredentials) {
		t.Fatalf("old password: %v, want ErrInvalidCredentials", err)
	}
	if _, err := f.svc.Login(ctx, adminEmail, "second password"); err != nil {
		t.Fatalf("new password: %v", err)
	}

	// An address that became the admin's after somebody signed up with it.
	g := newFixture(t, users.WithAdminEmail(""))
	u, err := g.svc.Signup(ctx, "boss@example.com", "their password", "Boss")
	if err != nil {
		t.Fatal(err)
	}
	a, err := users.EnsureAdmin(ctx, g.store, "boss@example.com", "configured password", users.WithArgon2(cheap))
	if err != nil || a.ID != u.ID || a.Role != authn.RoleAdmin || a.Name != "Boss" {
		t.Fatalf("promoted: %+v, %v", a, err)
	}
	if _, err := g.svc.Login(ctx, "boss@example.com", "their password"); !errors.Is(err, users.ErrInvalidCredentials) {
		t.Fatalf("the sign-up's password still works: %v", err)
	}
}

func TestEnsureAdminInvalid(t *testing.T) {
	f := newFixture(t)
	for _, tt := range []struct{ email, password, field string }{
		{"root", "12345678", "email"},
		{adminEmail, "1234567", "password"},
		{adminEmail, "", "password"},
	} {
		_, err := users.EnsureAdmin(context.Background(), f.store, tt.email, tt.password, users.WithArgon2(cheap))
		var inv *users.InvalidError
		if !errors.As(err, &inv) || inv.Field != tt.field {
			t.Errorf("EnsureAdmin(%q, %q) = %v, want an InvalidError on %s", tt.email, tt.password, err, tt.field)
		}
	}
	if _, err := f.store.ByEmail(context.Background(), adminEmail); !errors.Is(err, users.ErrNotFound) {
		t.Fatalf("an admin was stored: %v", err)
	}
}

// Two replicas starting at once on one database create one admin, whose
// password works whichever replica's hash is stored.
func TestEnsureAdminConcurrent(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	other, err := sqlite.Open(ctx, f.path, users.Migrations...)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	stores := []users.Store{f.store, users.NewSQLiteStore(other)}
	for round := range 5 {
		email := fmt.Sprintf("admin%d@example.com", round)
		ids := make([]string, 16)
		var wg sync.WaitGroup
		for i := range ids {
			wg.Go(func() {
				u, err := users.EnsureAdmin(ctx, stores[i%2], email, "admin password", users.WithArgon2(cheap))
				if err != nil {
					t.Error(err)
				}
				ids[i] = u.ID
			})
		}
		wg.Wait()
		for _, id := range ids {
			if id != ids[0] {
				t.Fatalf("round %d: ids %v, want one admin", round, ids)
			}
		}
		var n int
		if err := f.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM users WHERE email = ? AND role = 'admin'`, email).Scan(&n); err != nil || n != 1 {
			t.Fatalf("round %d: %d admin rows, %v", round, n, err)
		}
		r, err := f.store.ByEmail(ctx, email)
		if err != nil {
			t.Fatal(err)
		}
		if ok, err := users.VerifyPassword(r.PasswordHash, "admin password"); !ok || err != nil {
			t.Fatalf("round %d: stored hash does not verify the password: %v", round, err)
		}
	}
}
