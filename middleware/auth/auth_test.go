package auth_test

import (
	"context"
	"crypto/ed25519"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/switchyard/switchyard/middleware/auth"
)

func b64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

func segment(t testing.TB, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b64(b)
}

// hs256 signs claims with HS256 using key as the secret: the key-confusion
// attack, where key is something public.
func hs256(t testing.TB, key []byte, kid string, c jwt.MapClaims) string {
	t.Helper()
	tok := jwt.NewWithClaims(jwt.SigningMethodHS256, c)
	tok.Header["kid"] = kid
	s, err := tok.SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

type call struct {
	status    int
	challenge string
	body      string
	reached   bool
}

// serve runs h behind a real server and sends one request with the given
// Authorization header values.
func serve(t *testing.T, v *auth.Validator, authz ...string) call {
	t.Helper()
	var reached atomic.Bool
	srv := httptest.NewServer(v.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		reached.Store(true)
		c, ok := auth.ClaimsFromContext(r.Context())
		if !ok {
			t.Error("next handler ran without claims")
			return
		}
		io.WriteString(w, c.Subject+" "+c.String("role")+" "+c.KeyID)
	})))
	defer srv.Close()
	req, _ := http.NewRequest(http.MethodGet, srv.URL+"/api/v1/me", nil)
	for _, a := range authz {
		req.Header.Add("Authorization", a)
	}
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return call{resp.StatusCode, resp.Header.Get("WWW-Authenticate"), string(body), reached.Load()}
}

func TestValidTokensPass(t *testing.T) {
	f := newFixture(t)
	for _, s := range []signer{edKey, ecKey} {
		t.Run(s.method.Alg(), func(t *testing.T) {
			c := serve(t, f.validator, "Bearer "+sign(t, s, claims(t0), nil))
			if c.status != http.StatusOK || !c.reached {
				t.Fatalf("valid %s token: %d %q", s.method.Alg(), c.status, c.body)
			}
			if want := "user-42 customer " + s.kid; c.body != want {
				t.Errorf("claims in context: %q, want %q", c.body, want)
			}
		})
	}
	t.Run("claims", func(t *testing.T) {
		cl, err := f.validate(sign(t, edKey, claims(t0), nil))
		if err != nil {
			t.Fatal(err)
		}
		if cl.Subject != "user-42" || cl.Issuer != issuer || len(cl.Audience) != 1 || cl.Audience[0] != audience ||
			!cl.ExpiresAt.Equal(t0.Add(15*time.Minute)) || !cl.IssuedAt.Equal(t0) || !cl.NotBefore.IsZero() ||
			cl.ID != "tok-1" || cl.KeyID != "ed-1" || cl.String("role") != "customer" || cl.String("missing") != "" {
			t.Errorf("claims %+v", cl)
		}
	})
	t.Run("lower-case scheme and extra spaces", func(t *testing.T) {
		if c := serve(t, f.validator, "bearer   "+sign(t, edKey, claims(t0), nil)); c.status != 200 {
			t.Errorf("status %d", c.status)
		}
	})
	t.Run("within leeway", func(t *testing.T) {
		c := claims(t0)
		c["exp"] = t0.Add(-29 * time.Second).Unix()
		c["nbf"] = t0.Add(29 * time.Second).Unix()
		if _, err := f.validate(sign(t, edKey, c, nil)); err != nil {
			t.Errorf("token 29 s past exp and 29 s before nbf rejected with the 30 s leeway: %v", err)
		}
	})
	t.Run("one of several audiences", func(t *testing.T) {
		c := claims(t0)
		c["aud"] = []string{"billing", audience}
		if _, err := f.validate(sign(t, edKey, c, nil)); err != nil {
			t.Errorf("%v", err)
		}
	})
}

// TestAttacks is the attack table: every row must be answered 401 with a
// Bearer challenge and the JSON error body, and must never reach the
// handler behind the validator.
func TestAttacks(t *testing.T) {
	keys(t)
	edPub := edKey.priv.Public().(ed25519.PublicKey)
	spki, _ := x509.MarshalPKIXPublicKey(edPub)
	pemPub := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: spki})
	jwksDoc, _ := auth.MarshalJWKS(edKey.public())
	valid := sign(t, edKey, claims(t0), nil)
	parts := strings.Split(valid, ".")

	with := func(mut func(jwt.MapClaims)) jwt.MapClaims {
		c := claims(t0)
		mut(c)
		return c
	}

	// The attacker's own JWKS, which a token's jku header points to.
	attacker := newJWKSServer(t, otherEdKey.public())

	tests := []struct {
		name  string
		authz func(t *testing.T, f *fixture) []string
		// missing is true when no bearer credentials were presented at
		// all, so the challenge carries no error code (RFC 6750 3.1).
		missing bool
		opts    []auth.Option
	}{
		{name: "alg none, empty signature", authz: func(t *testing.T, f *fixture) []string {
			return []string{"Bearer " + segment(t, map[string]any{"alg": "none", "typ": "JWT", "kid": "ed-1"}) + "." + parts[1] + "."}
		}},
		{name: "alg none via the library", authz: func(t *testing.T, f *fixture) []string {
			tok := jwt.NewWithClaims(jwt.SigningMethodNone, claims(t0))
			tok.Header["kid"] = "ed-1"
			s, _ := tok.SignedString(jwt.UnsafeAllowNoneSignatureType)
			return []string{"Bearer " + s}
		}},
		{name: "alg None capitalised", authz: func(t *testing.T, f *fixture) []string {
			return []string{"Bearer " + segment(t, map[string]any{"alg": "None", "kid": "ed-1"}) + "." + parts[1] + "." + parts[2]}
		}},
		{name: "HS256 signed with the raw public key", authz: func(t *testing.T, f *fixture) []string {
			return []string{"Bearer " + hs256(t, edPub, "ed-1", claims(t0))}
		}},
		{name: "HS256 signed with the PEM public key", authz: func(t *testing.T, f *fixture) []string {
			return []string{"Bearer " + hs256(t, pemPub, "ed-1", claims(t0))}
		}},
		{name: "HS256 signed with the JWKS document", authz: func(t *testing.T, f *fixture) []string {
			return []string{"Bearer " + hs256(t, jwksDoc, "ed-1", claims(t0))}
		}},
		{name: "HS256 signed with the JWK x value", authz: func(t *testing.T, f *fixture) []string {
			return []string{"Bearer " + hs256(t, []byte(b64(edPub)), "ed-1", claims(t0))}
		}},
		{name: "RS256 is not on the default allow-list", authz: func(t *testing.T, f *fixture) []string {
			return []string{"Bearer " + sign(t, rsaKey, claims(t0), nil)}
		}},
		{name: "expired", authz: func(t *testing.T, f *fixture) []string {
			return []string{"Bearer " + sign(t, edKey, with(func(c jwt.MapClaims) {
				c["iat"] = t0.Add(-2 * time.Hour).Unix()
				c["exp"] = t0.Add(-time.Hour).Unix()
			}), nil)}
		}},
		{name: "expired just beyond the leeway", authz: func(t *testing.T, f *fixture) []string {
			return []string{"Bearer " + sign(t, edKey, with(func(c jwt.MapClaims) { c["exp"] = t0.Add(-31 * time.Second).Unix() }), nil)}
		}},
		{name: "expired beyond the leeway cap", opts: []auth.Option{auth.WithLeeway(time.Hour)}, authz: func(t *testing.T, f *fixture) []string {
			return []string{"Bearer " + sign(t, edKey, with(func(c jwt.MapClaims) { c["exp"] = t0.Add(-10 * time.Minute).Unix() }), nil)}
		}},
		{name: "nbf in the future", authz: func(t *testing.T, f *fixture) []string {
			return []string{"Bearer " + sign(t, edKey, with(func(c jwt.MapClaims) { c["nbf"] = t0.Add(time.Hour).Unix() }), nil)}
		}},
		{name: "iat in the future", authz: func(t *testing.T, f *fixture) []string {
			return []string{"Bearer " + sign(t, edKey, with(func(c jwt.MapClaims) { c["iat"] = t0.Add(time.Hour).Unix() }), nil)}
		}},
		{name: "wrong audience", authz: func(t *testing.T, f *fixture) []string {
			return []string{"Bearer " + sign(t, edKey, with(func(c jwt.MapClaims) { c["aud"] = "billing" }), nil)}
		}},
		{name: "no audience", authz: func(t *testing.T, f *fixture) []string {
			return []string{"Bearer " + sign(t, edKey, with(func(c jwt.MapClaims) { delete(c, "aud") }), nil)}
		}},
		{name: "wrong issuer", authz: func(t *testing.T, f *fixture) []string {
			return []string{"Bearer " + sign(t, edKey, with(func(c jwt.MapClaims) { c["iss"] = "https://evil.test" }), nil)}
		}},
		{name: "missing exp", authz: func(t *testing.T, f *fixture) []string {
			return []string{"Bearer " + sign(t, edKey, with(func(c jwt.MapClaims) { delete(c, "exp") }), nil)}
		}},
		{name: "exp as a string", authz: func(t *testing.T, f *fixture) []string {
			return []string{"Bearer " + sign(t, edKey, with(func(c jwt.MapClaims) { c["exp"] = "9999999999" }), nil)}
		}},
		{name: "unknown kid", authz: func(t *testing.T, f *fixture) []string {
			return []string{"Bearer " + sign(t, signer{"nope", edKey.method, edKey.priv}, claims(t0), nil)}
		}},
		{name: "missing kid", authz: func(t *testing.T, f *fixture) []string {
			return []string{"Bearer " + sign(t, edKey, claims(t0), map[string]any{"kid": nil})}
		}},
		{name: "kid of another key type", authz: func(t *testing.T, f *fixture) []string {
			// Signed with ES256 but naming the Ed25519 key.
			return []string{"Bearer " + sign(t, signer{"ed-1", ecKey.method, ecKey.priv}, claims(t0), nil)}
		}},
		{name: "right kid, other key", authz: func(t *testing.T, f *fixture) []string {
			return []string{"Bearer " + sign(t, otherEdKey, claims(t0), nil)}
		}},
		{name: "jku pointing at the attacker's keys", authz: func(t *testing.T, f *fixture) []string {
			return []string{"Bearer " + sign(t, otherEdKey, claims(t0), map[string]any{"jku": attacker.URL})}
		}},
		{name: "embedded jwk", authz: func(t *testing.T, f *fixture) []string {
			pub := otherEdKey.priv.Public().(ed25519.PublicKey)
			return []string{"Bearer " + sign(t, otherEdKey, claims(t0), map[string]any{
				"kid": "attacker", "jwk": map[string]any{"kty": "OKP", "crv": "Ed25519", "x": b64(pub)}})}
		}},
		{name: "tampered payload", authz: func(t *testing.T, f *fixture) []string {
			c := claims(t0)
			c["role"] = "admin"
			return []string{"Bearer " + parts[0] + "." + segment(t, c) + "." + parts[2]}
		}},
		{name: "tampered header", authz: func(t *testing.T, f *fixture) []string {
			return []string{"Bearer " + segment(t, map[string]any{"alg": "EdDSA", "kid": "ed-1", "typ": "JWT", "x": 1}) + "." + parts[1] + "." + parts[2]}
		}},
		{name: "signature with non-canonical base64", authz: func(t *testing.T, f *fixture) []string {
			// A 64-byte signature is 86 base64url characters; the last one
			// carries 4 unused bits, which strict decoding requires to be
			// zero.
			sig := []byte(parts[2])
			sig[len(sig)-1] ^= 1
			return []string{"Bearer " + parts[0] + "." + parts[1] + "." + string(sig)}
		}},
		{name: "signature stripped", authz: func(t *testing.T, f *fixture) []string {
			return []string{"Bearer " + parts[0] + "." + parts[1] + "."}
		}},
		{name: "crit header", authz: func(t *testing.T, f *fixture) []string {
			return []string{"Bearer " + sign(t, edKey, claims(t0), map[string]any{"crit": []string{"exp"}})}
		}},
		{name: "oversized token", authz: func(t *testing.T, f *fixture) []string {
			return []string{"Bearer " + sign(t, edKey, with(func(c jwt.MapClaims) { c["pad"] = strings.Repeat("a", 9<<10) }), nil)}
		}},
		{name: "two Authorization headers", authz: func(t *testing.T, f *fixture) []string {
			return []string{"Bearer " + valid, "Bearer " + valid}
		}},
		{name: "garbage", authz: func(t *testing.T, f *fixture) []string { return []string{"Bearer a.b.c"} }},
		{name: "no header", missing: true, authz: func(t *testing.T, f *fixture) []string { return nil }},
		{name: "Basic scheme", missing: true, authz: func(t *testing.T, f *fixture) []string { return []string{"Basic dXNlcjpwYXNz"} }},
		{name: "Bearer without token", missing: true, authz: func(t *testing.T, f *fixture) []string { return []string{"Bearer "} }},
		{name: "malformed JWKS", authz: func(t *testing.T, f *fixture) []string {
			f.server.setRaw([]byte(`{"keys":[{"kty":"OKP","crv":"Ed25519","kid":"ed-1","x":"!!!"}]}`), http.StatusOK)
			return []string{"Bearer " + valid}
		}},
		{name: "JWKS with a private key", authz: func(t *testing.T, f *fixture) []string {
			pub := edKey.priv.Public().(ed25519.PublicKey)
			seed := edKey.priv.(ed25519.PrivateKey).Seed()
			f.server.setRaw([]byte(`{"keys":[{"kty":"OKP","crv":"Ed25519","kid":"ed-1","x":"`+b64(pub)+`","d":"`+b64(seed)+`"}]}`), http.StatusOK)
			return []string{"Bearer " + valid}
		}},
		{name: "JWKS endpoint failing", authz: func(t *testing.T, f *fixture) []string {
			f.server.setRaw([]byte("oops"), http.StatusInternalServerError)
			return []string{"Bearer " + valid}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, tt.opts...)
			var hooked error
			v, err := auth.NewValidator(f.jwks, issuer, audience, append([]auth.Option{
				auth.WithClock(f.clock),
				auth.WithErrorHook(func(_ context.Context, err error) { hooked = err }),
			}, tt.opts...)...)
			if err != nil {
				t.Fatal(err)
			}
			c := serve(t, v, tt.authz(t, f)...)
			if c.status != http.StatusUnauthorized || c.reached {
				t.Fatalf("status %d, handler reached %v; want 401 and not reached (body %q)", c.status, c.reached, c.body)
			}
			wantChallenge := `Bearer error="invalid_token"`
			wantMsg := "invalid token"
			if tt.missing {
				wantChallenge, wantMsg = "Bearer", "missing bearer token"
			}
			if c.challenge != wantChallenge {
				t.Errorf("WWW-Authenticate %q, want %q", c.challenge, wantChallenge)
			}
			var body struct {
				Error struct{ Code, Message string }
			}
			if err := json.Unmarshal([]byte(c.body), &body); err != nil || body.Error.Code != "unauthorized" || body.Error.Message != wantMsg {
				t.Errorf("body %q (%v)", c.body, err)
			}
			t.Logf("rejected: %v", hooked)
			if hooked == nil {
				t.Error("error hook not called")
			}
			if attacker.hits.Load() != 0 {
				t.Error("the validator fetched keys from a URL named in the token")
			}
		})
	}
}

func TestErrorsAreClassified(t *testing.T) {
	f := newFixture(t)
	expired := claims(t0)
	expired["exp"] = t0.Add(-time.Hour).Unix()
	big := claims(t0)
	big["pad"] = strings.Repeat("x", 9<<10)
	tests := []struct {
		name string
		tok  string
		want error
	}{
		{"expired", sign(t, edKey, expired, nil), jwt.ErrTokenExpired},
		{"unknown kid", sign(t, signer{"nope", edKey.method, edKey.priv}, claims(t0), nil), auth.ErrUnknownKey},
		{"missing kid", sign(t, edKey, claims(t0), map[string]any{"kid": nil}), auth.ErrMissingKeyID},
		{"key mismatch", sign(t, signer{"ed-1", ecKey.method, ecKey.priv}, claims(t0), nil), auth.ErrKeyMismatch},
		{"too large", sign(t, edKey, big, nil), auth.ErrTokenTooLarge},
		{"crit", sign(t, edKey, claims(t0), map[string]any{"crit": []string{"x"}}), auth.ErrCritical},
		{"empty", "", auth.ErrMissingToken},
	}
	for _, tt := range tests {
		_, err := f.validate(tt.tok)
		if !errors.Is(err, auth.ErrInvalidToken) || !errors.Is(err, tt.want) {
			t.Errorf("%s: %v, want %v wrapped in ErrInvalidToken", tt.name, err, tt.want)
		}
	}
}

func TestNewValidatorRejectsUnsafeConfigurations(t *testing.T) {
	keys(t)
	asym := auth.StaticKeys(edKey.public())
	secret := []byte(strings.Repeat("s", 32))
	tests := []struct {
		name string
		keys auth.KeySet
		iss  string
		aud  string
		opts []auth.Option
	}{
		{"none", asym, issuer, audience, []auth.Option{auth.WithAlgorithms("none")}},
		{"none among others", asym, issuer, audience, []auth.Option{auth.WithAlgorithms("EdDSA", "none")}},
		{"HS256 with public keys", asym, issuer, audience, []auth.Option{auth.WithAlgorithms("EdDSA", "HS256")}},
		{"EdDSA with a secret", auth.HMACKey(secret), issuer, audience, []auth.Option{auth.WithAlgorithms("HS256", "EdDSA")}},
		{"short secret", auth.HMACKey([]byte("short")), issuer, audience, nil},
		{"unknown algorithm", asym, issuer, audience, []auth.Option{auth.WithAlgorithms("ES257")}},
		{"empty allow-list", asym, issuer, audience, []auth.Option{auth.WithAlgorithms()}},
		{"no issuer", asym, "", audience, nil},
		{"no audience", asym, issuer, "", nil},
		{"no keys", nil, issuer, audience, nil},
	}
	for _, tt := range tests {
		if _, err := auth.NewValidator(tt.keys, tt.iss, tt.aud, tt.opts...); !errors.Is(err, auth.ErrConfig) {
			t.Errorf("%s: err %v, want ErrConfig", tt.name, err)
		}
	}
}

func TestHMACValidator(t *testing.T) {
	keys(t)
	secret := []byte(strings.Repeat("k", 32))
	v, err := auth.NewValidator(auth.HMACKey(secret), issuer, audience, auth.WithClock(newFixture(t).clock))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if _, err := v.Validate(ctx, hs256(t, secret, "", claims(t0))); err != nil {
		t.Errorf("HS256 with the secret: %v", err)
	}
	if _, err := v.Validate(ctx, hs256(t, []byte(strings.Repeat("x", 32)), "", claims(t0))); err == nil {
		t.Error("HS256 with another secret accepted")
	}
	if _, err := v.Validate(ctx, sign(t, edKey, claims(t0), nil)); err == nil {
		t.Error("EdDSA token accepted by an HMAC validator")
	}
	tok := jwt.NewWithClaims(jwt.SigningMethodHS512, claims(t0))
	s, _ := tok.SignedString(secret)
	if _, err := v.Validate(ctx, s); err == nil {
		t.Error("HS512 accepted though only HS256 is allowed")
	}
}

func TestOtherAlgorithmsWhenAllowed(t *testing.T) {
	keys(t)
	f := newFixture(t, auth.WithAlgorithms("RS256", "ES384"))
	if _, err := f.validate(sign(t, rsaKey, claims(t0), nil)); err != nil {
		t.Errorf("RS256 allowed but rejected: %v", err)
	}
	if _, err := f.validate(sign(t, edKey, claims(t0), nil)); err == nil {
		t.Error("EdDSA accepted though not on the list")
	}
	v, err := auth.NewValidator(auth.StaticKeys(ecP384Key.public()), issuer, audience,
		auth.WithAlgorithms("ES384"), auth.WithClock(f.clock))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := v.Validate(context.Background(), sign(t, ecP384Key, claims(t0), nil)); err != nil {
		t.Errorf("ES384: %v", err)
	}
}

func TestEndpoint(t *testing.T) {
	f := newFixture(t)
	var seen *auth.Claims
	ep := f.validator.Endpoint()(func(ctx context.Context, req any) (any, error) {
		seen, _ = auth.ClaimsFromContext(ctx)
		return "ok", nil
	})

	req := httptest.NewRequest(http.MethodGet, "/", nil)
	req.Header.Set("Authorization", "Bearer "+sign(t, edKey, claims(t0), nil))
	ctx := auth.HTTPToContext()(context.Background(), req)
	if resp, err := ep(ctx, nil); err != nil || resp != "ok" || seen == nil || seen.Subject != "user-42" {
		t.Fatalf("valid token: %v %v %+v", resp, err, seen)
	}

	for name, ctx := range map[string]context.Context{
		"no token":  context.Background(),
		"bad token": auth.NewTokenContext(context.Background(), "x.y.z"),
	} {
		seen = nil
		_, err := ep(ctx, nil)
		var ae *auth.Error
		if !errors.As(err, &ae) || ae.StatusCode() != http.StatusUnauthorized || ae.Headers().Get("WWW-Authenticate") == "" {
			t.Errorf("%s: err %v, want *auth.Error with 401 and a challenge", name, err)
		}
		if seen != nil {
			t.Errorf("%s: next endpoint called", name)
		}
	}

	req = httptest.NewRequest(http.MethodGet, "/", nil)
	req.Header.Set("Authorization", "Basic abc")
	if _, ok := auth.TokenFromContext(auth.HTTPToContext()(context.Background(), req)); ok {
		t.Error("HTTPToContext took a Basic credential for a token")
	}
}
