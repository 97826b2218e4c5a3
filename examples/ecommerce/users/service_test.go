package users_test

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/switchyard/switchyard/examples/ecommerce/internal/authn"
	"github.com/switchyard/switchyard/examples/ecommerce/internal/sqlite"
	"github.com/switchyard/switchyard/examples/ecommerce/users"
	"github.com/switchyard/switchyard/middleware/auth"
)

func TestSignupValidation(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	long := strings.Repeat("a", 250) + "@x.io" // 255 bytes
	tests := []struct {
		name, email, password, username string
		wantField                       string // "" means accepted
		wantEmail                       string
	}{
		{"ok", "ann@example.com", "correct horse", "Ann", "", "ann@example.com"},
		{"normalised", "  Bob@Example.COM ", "12345678", "  Bob  ", "", "bob@example.com"},
		{"unicode name", "cho@example.com", "pässwörd", "Chloé 李", "", "cho@example.com"},
		{"8 characters, more bytes", "dee@example.com", "éééééééé", "Dee", "", "dee@example.com"},
		{"no email", "", "12345678", "X", "email", ""},
		{"no at", "example.com", "12345678", "X", "email", ""},
		{"display name", "Ann <ann2@example.com>", "12345678", "X", "email", ""},
		{"two addresses", "a@x.io, b@x.io", "12345678", "X", "email", ""},
		{"too long", long, "12345678", "X", "email", ""},
		{"space inside", "a b@x.io", "12345678", "X", "email", ""},
		{"short password", "e@x.io", "1234567", "X", "password", ""},
		{"long password", "e@x.io", strings.Repeat("p", 1025), "X", "password", ""},
		{"no name", "e@x.io", "12345678", "   ", "name", ""},
		{"long name", "e@x.io", "12345678", strings.Repeat("n", 101), "name", ""},
		{"control in name", "e@x.io", "12345678", "a\x00b", "name", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			u, err := f.svc.Signup(ctx, tt.email, tt.password, tt.username)
			if tt.wantField == "" {
				if err != nil {
					t.Fatalf("Signup: %v", err)
				}
				if u.Email != tt.wantEmail || u.Role != authn.RoleUser || !strings.HasPrefix(u.ID, "usr_") ||
					u.Name != strings.TrimSpace(tt.username) {
					t.Fatalf("user = %+v", u)
				}
				return
			}
			var inv *users.InvalidError
			if !errors.As(err, &inv) || inv.Field != tt.wantField {
				t.Fatalf("err = %v, want an InvalidError on %s", err, tt.wantField)
			}
		})
	}
}

func TestSignupDuplicateEmail(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	if _, err := f.svc.Signup(ctx, "ann@example.com", "12345678", "Ann"); err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.Signup(ctx, "ANN@example.com", "other-password", "Ann 2"); !errors.Is(err, users.ErrEmailTaken) {
		t.Fatalf("err = %v, want ErrEmailTaken (addresses compare case-insensitively)", err)
	}
}

// Concurrent sign-ups with one address: exactly one wins, even through two
// database handles (two replicas).
func TestSignupConcurrentDuplicates(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	other, err := sqlite.Open(ctx, f.path, users.Migrations...)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	svc2, err := users.NewService(users.NewSQLiteStore(other), f.key, users.WithArgon2(cheap))
	if err != nil {
		t.Fatal(err)
	}
	for round := range 5 {
		email := fmt.Sprintf("race%d@example.com", round)
		var wins, taken atomic.Int32
		var wg sync.WaitGroup
		for i := range 20 {
			svc := f.svc
			if i%2 == 1 {
				svc = svc2
			}
			wg.Go(func() {
				_, err := svc.Signup(ctx, email, "12345678", "Racer")
				switch {
				case err == nil:
					wins.Add(1)
				case errors.Is(err, users.ErrEmailTaken):
					taken.Add(1)
				default:
					t.Error(err)
				}
			})
		}
		wg.Wait()
		if wins.Load() != 1 || taken.Load() != 19 {
			t.Fatalf("round %d: %d created, %d taken; want 1 and 19", round, wins.Load(), taken.Load())
		}
	}
}

func TestLogin(t *testing.T) {
	now := time.Date(2030, 1, 2, 3, 4, 5, 600, time.UTC)
	f := newFixture(t, users.WithNow(func() time.Time { return now }))
	ctx := context.Background()
	u, err := f.svc.Signup(ctx, "ann@example.com", "correct horse", "Ann")
	if err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name, email, password string
		want                  error
	}{
		{"unknown email", "nobody@example.com", "correct horse", users.ErrInvalidCredentials},
		{"wrong password", "ann@example.com", "wrong horse", users.ErrInvalidCredentials},
		{"dummy password", "nobody@example.com", "not a password anybody has", users.ErrInvalidCredentials},
		{"case of the password matters", "ann@example.com", "Correct horse", users.ErrInvalidCredentials},
		{"empty password", "ann@example.com", "", nil},
		{"ok", "ann@example.com", "correct horse", nil},
		{"email case ignored", " ANN@example.com", "correct horse", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tok, err := f.svc.Login(ctx, tt.email, tt.password)
			if tt.want != nil {
				if !errors.Is(err, tt.want) {
					t.Fatalf("err = %v, want %v", err, tt.want)
				}
				return
			}
			if tt.password == "" {
				var inv *users.InvalidError
				if !errors.As(err, &inv) {
					t.Fatalf("err = %v, want InvalidError", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if want := now.Add(time.Hour).Truncate(time.Second); !tok.ExpiresAt.Equal(want) {
				t.Errorf("expires_at = %v, want %v", tok.ExpiresAt, want)
			}
			c := verify(t, f, tok.Token, now)
			if c.Subject != u.ID || c.String("email") != u.Email || c.String("role") != authn.RoleUser {
				t.Errorf("claims = %+v", c)
			}
		})
	}
}

// verify checks tok, issued at now, against the service's published JWKS
// and against another key. The checks run in a synctest bubble whose fake
// clock is first moved to now (a bubble's clock starts at 2000-01-01 and
// time.Sleep advances it at once), since the validator checks exp, nbf and
// iat against the clock.
func verify(t *testing.T, f *fixture, tok string, now time.Time) *auth.Claims {
	t.Helper()
	ctx := context.Background()
	doc, err := f.svc.JWKS(ctx)
	if err != nil {
		t.Fatal(err)
	}
	keys, err := auth.ParseJWKS(doc)
	if err != nil {
		t.Fatal(err)
	}
	var list []auth.Key
	for _, k := range keys {
		list = append(list, k)
	}
	var c *auth.Claims
	synctest.Test(t, func(t *testing.T) {
		time.Sleep(time.Until(now))
		v, err := authn.NewValidator(auth.StaticKeys(list...))
		if err != nil {
			t.Fatal(err)
		}
		if c, err = v.Validate(ctx, tok); err != nil {
			t.Fatalf("token does not verify against the JWKS: %v", err)
		}

		otherPub, _, _ := ed25519.GenerateKey(nil)
		other, err := authn.NewValidator(auth.StaticKeys(auth.Key{ID: c.KeyID, Alg: authn.Algorithm, Public: otherPub}))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := other.Validate(ctx, tok); !errors.Is(err, auth.ErrInvalidToken) {
			t.Fatalf("token verified with another key under the same kid: %v", err)
		}
	})
	if c == nil {
		t.FailNow() // the bubble failed
	}
	return c
}

func TestUser(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	u, err := f.svc.Signup(ctx, "ann@example.com", "12345678", "Ann")
	if err != nil {
		t.Fatal(err)
	}
	if got, err := f.svc.User(ctx, u.ID); err != nil || got != u {
		t.Fatalf("User = %+v, %v; want %+v", got, err, u)
	}
	if _, err := f.svc.User(ctx, "usr_nobody"); !errors.Is(err, users.ErrNotFound) {
		t.Fatalf("unknown id: %v", err)
	}
}

// A request whose caller has gone creates nothing.
func TestCancelledContext(t *testing.T) {
	f := newFixture(t, users.WithMaxConcurrentHashes(1))
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := f.svc.Signup(ctx, "ann@example.com", "12345678", "Ann"); !errors.Is(err, context.Canceled) {
		t.Fatalf("Signup: %v, want context.Canceled", err)
	}
	if _, err := f.svc.Login(ctx, "ann@example.com", "12345678"); !errors.Is(err, context.Canceled) {
		t.Fatalf("Login: %v, want context.Canceled", err)
	}
	if _, err := f.store.ByEmail(context.Background(), "ann@example.com"); !errors.Is(err, users.ErrNotFound) {
		t.Fatalf("user stored: %v", err)
	}
}
