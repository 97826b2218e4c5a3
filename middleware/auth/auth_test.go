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

	"github.com/go-kit/kit/endpoint"
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
	f := newFixture(t, auth.Config{})
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
		cfg     auth.Config
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
		{name: "expired beyond the largest leeway", cfg: auth.Config{Leeway: auth.MaxLeeway}, authz: func(t *testing.T, f *fixture) []string {
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
			f := newFixture(t, tt.cfg)
			var hooked error
			cfg := tt.cfg
			cfg.Hooks.OnReject = func(_ context.Context, err error) { hooked = err }
			v := f.newValidator(t, cfg)
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
				t.Error("OnReject not called")
			}
			if attacker.hits.Load() != 0 {
				t.Error("the validator fetched keys from a URL named in the token")
			}
		})
	}
}

func TestErrorsAreClassified(t *testing.T) {
	f := newFixture(t, auth.Config{})
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

func TestNewRejectsUnsafeConfigurations(t *testing.T) {
	keys(t)
	asym := auth.StaticKeys(edKey.public())
	secret := []byte(strings.Repeat("s", 32))
	tests := []struct {
		name string
		cfg  auth.Config
	}{
		{"none", auth.Config{Keys: asym, Issuer: issuer, Audience: audience, Algorithms: []string{"none"}}},
		{"none among others", auth.Config{Keys: asym, Issuer: issuer, Audience: audience, Algorithms: []string{"EdDSA", "none"}}},
		{"HS256 with public keys", auth.Config{Keys: asym, Issuer: issuer, Audience: audience, Algorithms: []string{"EdDSA", "HS256"}}},
		{"EdDSA with a secret", auth.Config{Keys: auth.HMACKey(secret), Issuer: issuer, Audience: audience, Algorithms: []string{"HS256", "EdDSA"}}},
		{"short secret", auth.Config{Keys: auth.HMACKey([]byte("short")), Issuer: issuer, Audience: audience}},
		{"unknown algorithm", auth.Config{Keys: asym, Issuer: issuer, Audience: audience, Algorithms: []string{"ES257"}}},
		{"no issuer", auth.Config{Keys: asym, Audience: audience}},
		{"no audience", auth.Config{Keys: asym, Issuer: issuer}},
		{"no keys", auth.Config{Issuer: issuer, Audience: audience}},
		{"leeway above the cap", auth.Config{Keys: asym, Issuer: issuer, Audience: audience, Leeway: auth.MaxLeeway + time.Second}},
		{"negative token size", auth.Config{Keys: asym, Issuer: issuer, Audience: audience, MaxTokenSize: -1}},
		{"empty required claim", auth.Config{Keys: asym, Issuer: issuer, Audience: audience, Required: []string{"sub", ""}}},
	}
	for _, tt := range tests {
		if v, err := auth.New(tt.cfg); !errors.Is(err, auth.ErrConfig) || v != nil {
			t.Errorf("%s: err %v, want ErrConfig", tt.name, err)
		}
	}
}

// TestConfigDefaults checks what the zero values of the optional fields
// mean, and the documented alternatives to them.
func TestConfigDefaults(t *testing.T) {
	keys(t)
	ks := auth.StaticKeys(edKey.public(), rsaKey.public())
	cfg := auth.Config{Keys: ks, Issuer: issuer, Audience: audience}
	at := func(mut func(c jwt.MapClaims)) string {
		c := claims(t0)
		mut(c)
		return sign(t, edKey, c, nil)
	}
	expiredBy := func(d time.Duration) string {
		return at(func(c jwt.MapClaims) { c["exp"] = t0.Add(-d).Unix() })
	}
	ctx := context.Background()
	tests := []struct {
		name   string
		cfg    func(auth.Config) auth.Config
		tok    string
		wantOK bool
	}{
		{"zero leeway is the default", func(c auth.Config) auth.Config { return c }, expiredBy(29 * time.Second), true},
		{"zero leeway is not none", func(c auth.Config) auth.Config { return c }, expiredBy(31 * time.Second), false},
		{"negative leeway is none", func(c auth.Config) auth.Config { c.Leeway = -1; return c }, expiredBy(time.Second), false},
		{"the largest leeway", func(c auth.Config) auth.Config { c.Leeway = auth.MaxLeeway; return c }, expiredBy(time.Minute), true},
		{"zero size is the default", func(c auth.Config) auth.Config { return c }, at(func(c jwt.MapClaims) { c["pad"] = strings.Repeat("a", 5<<10) }), true},
		{"a smaller size", func(c auth.Config) auth.Config { c.MaxTokenSize = 256; return c }, at(func(jwt.MapClaims) {}), false},
		{"default algorithms refuse RS256", func(c auth.Config) auth.Config { return c }, sign(t, rsaKey, claims(t0), nil), false},
		{"required claim present", func(c auth.Config) auth.Config { c.Required = []string{"sub", "jti"}; return c }, at(func(jwt.MapClaims) {}), true},
		{"required claim absent", func(c auth.Config) auth.Config { c.Required = []string{"sub", "email"}; return c }, at(func(jwt.MapClaims) {}), false},
		{"required claim null", func(c auth.Config) auth.Config { c.Required = []string{"sub"}; return c }, at(func(c jwt.MapClaims) { c["sub"] = nil }), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := atT0(t, tt.cfg(cfg)).Validate(ctx, tt.tok)
			if (err == nil) != tt.wantOK {
				t.Fatalf("err %v, want ok=%v", err, tt.wantOK)
			}
			if err != nil && !errors.Is(err, auth.ErrInvalidToken) {
				t.Errorf("%v does not wrap ErrInvalidToken", err)
			}
		})
	}
	_, err := atT0(t, auth.Config{Keys: ks, Issuer: issuer, Audience: audience, Required: []string{"email"}}).Validate(ctx, sign(t, edKey, claims(t0), nil))
	if !errors.Is(err, auth.ErrMissingClaim) {
		t.Errorf("missing required claim: %v, want ErrMissingClaim", err)
	}
}

func TestHMACValidator(t *testing.T) {
	keys(t)
	secret := []byte(strings.Repeat("k", 32))
	v := atT0(t, auth.Config{Keys: auth.HMACKey(secret), Issuer: issuer, Audience: audience})
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
	f := newFixture(t, auth.Config{Algorithms: []string{"RS256", "ES384"}})
	if _, err := f.validate(sign(t, rsaKey, claims(t0), nil)); err != nil {
		t.Errorf("RS256 allowed but rejected: %v", err)
	}
	if _, err := f.validate(sign(t, edKey, claims(t0), nil)); err == nil {
		t.Error("EdDSA accepted though not on the list")
	}
	v := atT0(t, auth.Config{Keys: auth.StaticKeys(ecP384Key.public()), Issuer: issuer, Audience: audience, Algorithms: []string{"ES384"}})
	if _, err := v.Validate(context.Background(), sign(t, ecP384Key, claims(t0), nil)); err != nil {
		t.Errorf("ES384: %v", err)
	}
}

func TestEndpoint(t *testing.T) {
	f := newFixture(t, auth.Config{})
	var seen *auth.Claims
	var rejected []error
	v := f.newValidator(t, auth.Config{Hooks: auth.Hooks{OnReject: func(_ context.Context, err error) { rejected = append(rejected, err) }}})
	ep := v.Endpoint(func(ctx context.Context, req any) (any, error) {
		seen, _ = auth.ClaimsFromContext(ctx)
		return "ok", nil
	})

	req := httptest.NewRequest(http.MethodGet, "/", nil)
	req.Header.Set("Authorization", "Bearer "+sign(t, edKey, claims(t0), nil))
	ctx := auth.HTTPToContext(context.Background(), req)
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
	if len(rejected) != 2 {
		t.Errorf("OnReject called with %v, want the two rejections' reasons", rejected)
	}
	for _, err := range rejected {
		if !errors.Is(err, auth.ErrMissingToken) && !errors.Is(err, auth.ErrInvalidToken) {
			t.Errorf("OnReject got %v", err)
		}
	}

	// The method value is the go-kit middleware.
	var mw endpoint.Middleware = v.Endpoint
	_ = mw

	req = httptest.NewRequest(http.MethodGet, "/", nil)
	req.Header.Set("Authorization", "Basic abc")
	if _, ok := auth.TokenFromContext(auth.HTTPToContext(context.Background(), req)); ok {
		t.Error("HTTPToContext took a Basic credential for a token")
	}
}
