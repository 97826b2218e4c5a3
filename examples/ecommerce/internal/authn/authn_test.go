package authn_test

import (
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/switchyard/switchyard/discovery/memory"
	"github.com/switchyard/switchyard/examples/ecommerce/internal/authn"
	"github.com/switchyard/switchyard/middleware/auth"
)

// RFC 8037 appendix A.3: the thumbprint of the example Ed25519 key.
func TestKeyIDRFC8037(t *testing.T) {
	x, err := base64.RawURLEncoding.DecodeString("11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo")
	if err != nil {
		t.Fatal(err)
	}
	if got, want := authn.KeyID(ed25519.PublicKey(x)), "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k"; got != want {
		t.Fatalf("KeyID = %s, want %s", got, want)
	}
}

func newKey(t testing.TB) (ed25519.PublicKey, ed25519.PrivateKey) {
	pub, priv, err := ed25519.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	return pub, priv
}

func staticKeys(pub ed25519.PublicKey) auth.KeySet {
	return auth.StaticKeys(auth.Key{ID: authn.KeyID(pub), Alg: authn.Algorithm, Public: pub})
}

func TestSignTokenValidates(t *testing.T) {
	pub, priv := newKey(t)
	_, otherPriv := newKey(t)
	v, err := authn.NewValidator(staticKeys(pub))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	now := time.Now()
	claims := authn.TokenClaims{UserID: "usr_1", Email: "a@example.com", Role: authn.RoleAdmin}

	tok, err := authn.SignToken(priv, claims, now, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	c, err := v.Validate(ctx, tok)
	if err != nil {
		t.Fatal(err)
	}
	if c.Subject != "usr_1" || c.String("email") != "a@example.com" || c.String("role") != "admin" ||
		c.KeyID != authn.KeyID(pub) || !c.ExpiresAt.Equal(now.Add(time.Hour).Truncate(time.Second)) {
		t.Errorf("claims = %+v", c)
	}

	bad := map[string]func() (string, error){
		"other key":  func() (string, error) { return authn.SignToken(otherPriv, claims, now, time.Hour) },
		"expired":    func() (string, error) { return authn.SignToken(priv, claims, now.Add(-2*time.Hour), time.Hour) },
		"not yet":    func() (string, error) { return authn.SignToken(priv, claims, now.Add(time.Hour), time.Hour) },
		"tampered":   func() (string, error) { return tamper(tok), nil },
		"truncated":  func() (string, error) { return tok[:len(tok)-3], nil },
		"empty":      func() (string, error) { return "", nil },
		"alg header": func() (string, error) { return noneToken(tok), nil },
	}
	for name, mk := range bad {
		t.Run(name, func(t *testing.T) {
			s, err := mk()
			if err != nil {
				t.Fatal(err)
			}
			if _, err := v.Validate(ctx, s); !errors.Is(err, auth.ErrInvalidToken) {
				t.Fatalf("Validate = %v, want ErrInvalidToken", err)
			}
		})
	}

	for name, args := range map[string]struct {
		key ed25519.PrivateKey
		c   authn.TokenClaims
		ttl time.Duration
	}{
		"short key": {priv[:10], claims, time.Hour},
		"no user":   {priv, authn.TokenClaims{}, time.Hour},
		"no ttl":    {priv, claims, 0},
	} {
		if _, err := authn.SignToken(args.key, args.c, now, args.ttl); !errors.Is(err, authn.ErrSign) {
			t.Errorf("%s: err = %v, want ErrSign", name, err)
		}
	}
}

// tamper changes the role in the payload and keeps the signature.
func tamper(tok string) string {
	parts := strings.Split(tok, ".")
	p, _ := base64.RawURLEncoding.DecodeString(parts[1])
	p = []byte(strings.Replace(string(p), `"role":"admin"`, `"role":"root!"`, 1))
	parts[1] = base64.RawURLEncoding.EncodeToString(p)
	return strings.Join(parts, ".")
}

// noneToken rewrites the header to alg "none" and drops the signature.
func noneToken(tok string) string {
	parts := strings.Split(tok, ".")
	h := base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"none","typ":"JWT"}`))
	return h + "." + parts[1] + "."
}

// The verifier fetches users' keys through discovery, and the claims
// helpers read the request's token.
func TestVerifier(t *testing.T) {
	reg := memory.New()
	defer reg.Close()
	pub, priv := newKey(t)
	_, otherPriv := newKey(t)
	doc, err := auth.MarshalJWKS(auth.Key{ID: authn.KeyID(pub), Alg: authn.Algorithm, Public: pub})
	if err != nil {
		t.Fatal(err)
	}
	users := http.NewServeMux()
	users.HandleFunc("GET "+authn.JWKSPath, func(w http.ResponseWriter, _ *http.Request) { w.Write(doc) })
	startService(t, reg, authn.UsersService, users)

	ctx := context.Background()
	v, err := authn.NewVerifier(ctx, reg, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer v.Close()
	if n := v.JWKS.Fetches(); n != 1 {
		t.Errorf("fetches after NewVerifier = %d, want 1", n)
	}
	guarded := v.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "%s %s %v", authn.UserID(r.Context()), authn.Email(r.Context()), authn.IsAdmin(r.Context()))
	}))

	call := func(tok string) (int, string) {
		req := httptest.NewRequest(http.MethodGet, "/", nil)
		if tok != "" {
			req.Header.Set("Authorization", "Bearer "+tok)
		}
		rec := httptest.NewRecorder()
		guarded.ServeHTTP(rec, req)
		return rec.Code, rec.Body.String()
	}
	now := time.Now()
	admin, _ := authn.SignToken(priv, authn.TokenClaims{UserID: "usr_a", Email: "a@x.io", Role: authn.RoleAdmin}, now, time.Hour)
	user, _ := authn.SignToken(priv, authn.TokenClaims{UserID: "usr_u", Email: "u@x.io", Role: authn.RoleUser}, now, time.Hour)
	forged, _ := authn.SignToken(otherPriv, authn.TokenClaims{UserID: "usr_f", Role: authn.RoleAdmin}, now, time.Hour)

	if code, body := call(admin); code != 200 || body != "usr_a a@x.io true" {
		t.Errorf("admin: %d %q", code, body)
	}
	if code, body := call(user); code != 200 || body != "usr_u u@x.io false" {
		t.Errorf("user: %d %q", code, body)
	}
	if code, body := call(forged); code != 401 || !strings.Contains(body, `"unauthorized"`) {
		t.Errorf("token of another key: %d %q", code, body)
	}
	if code, _ := call(""); code != 401 {
		t.Errorf("no token: %d", code)
	}
	// Outside a guarded handler there are no claims.
	if authn.UserID(ctx) != "" || authn.Email(ctx) != "" || authn.IsAdmin(ctx) {
		t.Error("claims helpers found claims in a bare context")
	}
}

// A verifier that starts before users accepts tokens as soon as users is
// registered, without waiting for the key set's refetch interval.
func TestVerifierBeforeUsers(t *testing.T) {
	reg := memory.New()
	defer reg.Close()
	ctx := context.Background()
	v, err := authn.NewVerifier(ctx, reg, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer v.Close()
	pub, priv := newKey(t)
	tok, _ := authn.SignToken(priv, authn.TokenClaims{UserID: "usr_1", Role: authn.RoleUser}, time.Now(), time.Hour)
	if _, err := v.Validate(ctx, tok); !errors.Is(err, auth.ErrInvalidToken) {
		t.Fatalf("without users: %v", err)
	}

	doc, _ := auth.MarshalJWKS(auth.Key{ID: authn.KeyID(pub), Alg: authn.Algorithm, Public: pub})
	users := http.NewServeMux()
	users.HandleFunc("GET "+authn.JWKSPath, func(w http.ResponseWriter, _ *http.Request) { w.Write(doc) })
	startService(t, reg, authn.UsersService, users)
	// The verifier's client sees the new instance asynchronously; poll for
	// it. The key set alone would not fetch again for a second after the
	// failed attempt above, so success well within that second shows the
	// forced fetch at work.
	start := time.Now()
	for {
		c, err := v.Validate(ctx, tok)
		if err == nil && c.Subject == "usr_1" {
			break
		}
		if time.Since(start) > 900*time.Millisecond {
			t.Fatalf("still rejected %v after users arrived: %v", time.Since(start), err)
		}
		time.Sleep(2 * time.Millisecond)
	}
	before := v.JWKS.Fetches()
	req := httptest.NewRequest(http.MethodGet, "/", nil)
	req.Header.Set("Authorization", "Bearer "+tok)
	rec := httptest.NewRecorder()
	v.Handler(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {})).ServeHTTP(rec, req)
	if rec.Code != 200 {
		t.Fatalf("handler: %d", rec.Code)
	}
	if n := v.JWKS.Fetches() - before; n != 0 {
		t.Fatalf("%d more fetches once the keys were known, want none", n)
	}
}
