package auth_test

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/switchyard/switchyard/middleware/auth"
)

func TestJWKSCachesAndRefreshes(t *testing.T) {
	f := newFixture(t, auth.Config{})
	tok := sign(t, edKey, claims(t0), nil)
	for range 10 {
		if _, err := f.validate(tok); err != nil {
			t.Fatal(err)
		}
	}
	if n := f.server.hits.Load(); n != 1 {
		t.Fatalf("10 validations fetched the JWKS %d times, want 1", n)
	}

	// An unknown kid triggers a refetch only once the minimum interval
	// has passed since the last fetch.
	unknown := sign(t, signer{"rotated-in", edKey.method, edKey.priv}, claims(t0), nil)
	if _, err := f.validate(unknown); !errors.Is(err, auth.ErrUnknownKey) {
		t.Fatalf("unknown kid: %v", err)
	}
	if n := f.server.hits.Load(); n != 1 {
		t.Fatalf("an unknown kid right after the first fetch fetched again (%d fetches)", n)
	}
	f.clock.Advance(auth.DefaultMinRefreshInterval)
	if _, err := f.validate(unknown); !errors.Is(err, auth.ErrUnknownKey) {
		t.Fatalf("unknown kid: %v", err)
	}
	if n := f.server.hits.Load(); n != 2 {
		t.Fatalf("after an unknown kid: %d fetches, want 2", n)
	}
	f.clock.Advance(29 * time.Second)
	for range 5 {
		if _, err := f.validate(unknown); !errors.Is(err, auth.ErrUnknownKey) {
			t.Fatalf("unknown kid again: %v", err)
		}
	}
	if n := f.server.hits.Load(); n != 2 {
		t.Fatalf("unknown kids within 30 s caused %d fetches, want 2 in all", n)
	}

	// The key is rotated in; once the interval has passed it is found.
	rotated := edKey.public()
	rotated.ID = "rotated-in"
	f.server.set(t, edKey.public(), rotated)
	f.clock.Advance(time.Second)
	cl, err := f.validate(unknown)
	if err != nil {
		t.Fatalf("rotated key not picked up: %v", err)
	}
	if cl.KeyID != "rotated-in" || f.server.hits.Load() != 3 {
		t.Fatalf("kid %q after %d fetches", cl.KeyID, f.server.hits.Load())
	}
	if f.jwks.Fetches() != 3 {
		t.Errorf("Fetches() = %d, want 3", f.jwks.Fetches())
	}
}

func TestJWKSKeepsLastKnownGoodWhenStale(t *testing.T) {
	f := newFixture(t, auth.Config{})
	if _, err := f.validate(sign(t, edKey, claims(t0), nil)); err != nil {
		t.Fatal(err)
	}
	f.server.setRaw([]byte("down"), http.StatusServiceUnavailable)
	f.clock.Advance(auth.DefaultMaxAge + time.Second)
	now := t0.Add(auth.DefaultMaxAge + time.Second)
	if _, err := f.validate(sign(t, edKey, claims(now), nil)); err != nil {
		t.Fatalf("stale keys with a failing JWKS endpoint should still verify: %v", err)
	}
	if n := f.server.hits.Load(); n != 2 {
		t.Fatalf("stale keys caused %d fetches in all, want 2", n)
	}
	// The failed refresh is rate-limited too.
	if _, err := f.validate(sign(t, edKey, claims(now), nil)); err != nil {
		t.Fatal(err)
	}
	if n := f.server.hits.Load(); n != 2 {
		t.Fatalf("%d fetches, want 2", n)
	}
	// A key removed from the document stops verifying after the next
	// refresh.
	f.server.set(t, ecKey.public())
	f.clock.Advance(auth.DefaultMinRefreshInterval)
	now = now.Add(auth.DefaultMinRefreshInterval)
	if _, err := f.validate(sign(t, edKey, claims(now), nil)); !errors.Is(err, auth.ErrUnknownKey) {
		t.Fatalf("key removed from the JWKS still verifies: %v", err)
	}
}

// newJWKS builds a JWKS on fetch or fails the test.
func newJWKS(t testing.TB, fetch auth.FetchFunc, cfg auth.JWKSConfig) *auth.JWKS {
	t.Helper()
	s, err := auth.NewJWKS(fetch, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestJWKSRetriesQuicklyUntilFirstFetch runs in a synctest bubble: the
// fetch function does no I/O, and time.Sleep moves the bubble's clock.
func TestJWKSRetriesQuicklyUntilFirstFetch(t *testing.T) {
	keys(t)
	doc, _ := auth.MarshalJWKS(edKey.public())
	synctest.Test(t, func(t *testing.T) {
		var calls atomic.Int64
		up := atomic.Bool{}
		s := newJWKS(t, func(context.Context) ([]byte, error) {
			calls.Add(1)
			if !up.Load() {
				return nil, errors.New("users service not registered yet")
			}
			return doc, nil
		}, auth.JWKSConfig{})
		ctx := context.Background()
		if _, err := s.Key(ctx, "ed-1", "EdDSA"); !errors.Is(err, auth.ErrUnknownKey) || !errors.Is(err, auth.ErrFetch) {
			t.Fatalf("first lookup: %v", err)
		}
		time.Sleep(999 * time.Millisecond)
		s.Key(ctx, "ed-1", "EdDSA") // within a second: not retried
		if calls.Load() != 1 {
			t.Fatalf("%d fetches, want 1", calls.Load())
		}
		up.Store(true)
		time.Sleep(time.Millisecond)
		if _, err := s.Key(ctx, "ed-1", "EdDSA"); err != nil {
			t.Fatalf("after the signer came up: %v", err)
		}
		if calls.Load() != 2 {
			t.Fatalf("%d fetches, want 2", calls.Load())
		}
		// Explicit refresh ignores the rate limit.
		if err := s.Refresh(ctx); err != nil || calls.Load() != 3 {
			t.Fatalf("Refresh: %v after %d fetches", err, calls.Load())
		}
	})
}

// TestJWKSConfig checks the configured intervals in a synctest bubble, and
// that values out of range are errors.
func TestJWKSConfig(t *testing.T) {
	keys(t)
	doc, _ := auth.MarshalJWKS(edKey.public())
	synctest.Test(t, func(t *testing.T) {
		var calls atomic.Int64
		s := newJWKS(t, func(ctx context.Context) ([]byte, error) {
			calls.Add(1)
			if _, ok := ctx.Deadline(); !ok {
				t.Error("fetch without a deadline")
			}
			return doc, nil
		}, auth.JWKSConfig{MinRefreshInterval: 5 * time.Second, MaxAge: time.Minute})
		ctx := context.Background()
		if _, err := s.Key(ctx, "ed-1", "EdDSA"); err != nil {
			t.Fatal(err)
		}
		time.Sleep(4 * time.Second)
		s.Key(ctx, "new", "EdDSA")
		if calls.Load() != 1 {
			t.Fatalf("unknown kid within MinRefreshInterval: %d fetches, want 1", calls.Load())
		}
		time.Sleep(time.Second)
		s.Key(ctx, "new", "EdDSA")
		if calls.Load() != 2 {
			t.Fatalf("unknown kid after MinRefreshInterval: %d fetches, want 2", calls.Load())
		}
		time.Sleep(time.Minute)
		if _, err := s.Key(ctx, "ed-1", "EdDSA"); err != nil || calls.Load() != 3 {
			t.Fatalf("keys older than MaxAge: %v after %d fetches, want 3", err, calls.Load())
		}
	})

	fetch := func(context.Context) ([]byte, error) { return nil, nil }
	for name, tt := range map[string]struct {
		fetch auth.FetchFunc
		cfg   auth.JWKSConfig
	}{
		"nil fetch":              {nil, auth.JWKSConfig{}},
		"sub-second interval":    {fetch, auth.JWKSConfig{MinRefreshInterval: time.Millisecond}},
		"negative interval":      {fetch, auth.JWKSConfig{MinRefreshInterval: -time.Second}},
		"negative max age":       {fetch, auth.JWKSConfig{MaxAge: -1}},
		"negative fetch timeout": {fetch, auth.JWKSConfig{FetchTimeout: -1}},
	} {
		if s, err := auth.NewJWKS(tt.fetch, tt.cfg); !errors.Is(err, auth.ErrConfig) || s != nil {
			t.Errorf("%s: %v, want ErrConfig", name, err)
		}
	}
}

func TestJWKSConcurrentLookupsShareOneFetch(t *testing.T) {
	keys(t)
	doc, _ := auth.MarshalJWKS(edKey.public())
	release, started := make(chan struct{}), make(chan struct{})
	var calls atomic.Int64
	s := newJWKS(t, func(context.Context) ([]byte, error) {
		if calls.Add(1) == 1 {
			close(started)
		}
		<-release
		return doc, nil
	}, auth.JWKSConfig{})
	const n = 16
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for range n {
		wg.Go(func() {
			_, err := s.Key(context.Background(), "ed-1", "EdDSA")
			errs <- err
		})
	}
	<-started
	close(release)
	wg.Wait()
	close(errs)
	// Every lookup either made the fetch, waited for it, or came after
	// it; none was turned away by the rate limit.
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
	if calls.Load() != 1 {
		t.Fatalf("%d concurrent lookups made %d fetches, want 1", n, calls.Load())
	}
}

func TestFetchURL(t *testing.T) {
	keys(t)
	s := newJWKSServer(t, edKey.public())
	ctx := context.Background()
	if body, err := auth.FetchURL(s.URL, nil)(ctx); err != nil || !strings.Contains(string(body), `"ed-1"`) {
		t.Fatalf("fetch: %v %s", err, body)
	}
	s.setRaw([]byte("nope"), http.StatusNotFound)
	if _, err := auth.FetchURL(s.URL, nil)(ctx); !errors.Is(err, auth.ErrFetch) {
		t.Errorf("404: %v", err)
	}
	s.setRaw([]byte(strings.Repeat(" ", auth.MaxJWKSSize+1)), http.StatusOK)
	if _, err := auth.FetchURL(s.URL, nil)(ctx); !errors.Is(err, auth.ErrFetch) {
		t.Errorf("oversized: %v", err)
	}
	if _, err := auth.FetchURL("http://127.0.0.1:1/", nil)(ctx); !errors.Is(err, auth.ErrFetch) {
		t.Errorf("refused: %v", err)
	}
}

func TestParseJWKS(t *testing.T) {
	keys(t)
	edPub := edKey.priv.Public().(ed25519.PublicKey)
	ecPub := ecKey.priv.Public().(*ecdsa.PublicKey)
	ecBytes, _ := ecPub.Bytes()
	x, y := b64(ecBytes[1:33]), b64(ecBytes[33:])
	small, _ := rsa.GenerateKey(rand.Reader, 1024)
	ed := func(extra string) string {
		return `{"kty":"OKP","crv":"Ed25519","kid":"ed","x":"` + b64(edPub) + `"` + extra + `}`
	}
	doc := func(ks ...string) string { return `{"keys":[` + strings.Join(ks, ",") + `]}` }
	offCurveY := []byte(ecBytes[33:])
	offCurveY[31] ^= 1

	valid, _ := auth.MarshalJWKS(edKey.public(), ecKey.public(), rsaKey.public(), ecP384Key.public())
	if ks, err := auth.ParseJWKS(valid); err != nil || len(ks) != 4 {
		t.Fatalf("valid document: %d keys, %v", len(ks), err)
	}

	good := []struct {
		name string
		doc  string
		kids []string
	}{
		{"one Ed25519 key", doc(ed("")), []string{"ed"}},
		{"EC P-256", doc(`{"kty":"EC","crv":"P-256","kid":"ec","x":"` + x + `","y":"` + y + `","alg":"ES256"}`), []string{"ec"}},
		{"skips keys without kid", doc(ed(""), `{"kty":"OKP","crv":"Ed25519","x":"`+b64(edPub)+`"}`), []string{"ed"}},
		{"skips encryption keys", doc(ed(""), `{"kty":"RSA","kid":"enc","use":"enc","n":"AQAB","e":"AQAB"}`), []string{"ed"}},
		{"skips key_ops without verify", doc(ed(""), `{"kty":"OKP","crv":"Ed25519","kid":"w","key_ops":["encrypt"],"x":"`+b64(edPub)+`"}`), []string{"ed"}},
		{"skips unknown key types and curves", doc(ed(""), `{"kty":"OKP","crv":"X25519","kid":"x","x":"AA"}`, `{"kty":"EC","crv":"secp256k1","kid":"k","x":"AA","y":"AA"}`, `{"kty":"PQ","kid":"pq"}`), []string{"ed"}},
		{"ignores unknown members", doc(ed(`,"x5t":"abc","ext":true`)), []string{"ed"}},
	}
	for _, tt := range good {
		ks, err := auth.ParseJWKS([]byte(tt.doc))
		if err != nil {
			t.Errorf("%s: %v", tt.name, err)
			continue
		}
		if len(ks) != len(tt.kids) {
			t.Errorf("%s: %d keys, want %v", tt.name, len(ks), tt.kids)
		}
		for _, k := range tt.kids {
			if _, ok := ks[k]; !ok {
				t.Errorf("%s: key %q missing", tt.name, k)
			}
		}
	}

	bad := []struct{ name, doc string }{
		{"not JSON", `{"keys":[`},
		{"array", `[]`},
		{"no keys member", `{}`},
		{"null keys", `{"keys":null}`},
		{"empty keys", `{"keys":[]}`},
		{"trailing data", doc(ed("")) + `{}`},
		{"key not an object", `{"keys":[42]}`},
		{"private Ed25519", doc(ed(`,"d":"AAAA"`))},
		{"symmetric oct key", doc(ed(""), `{"kty":"oct","kid":"h","k":"c2VjcmV0"}`)},
		{"duplicate kid", doc(ed(""), ed(""))},
		{"padded base64", doc(`{"kty":"OKP","crv":"Ed25519","kid":"ed","x":"` + b64(edPub) + `="}`)},
		{"standard base64", doc(`{"kty":"OKP","crv":"Ed25519","kid":"ed","x":"+/+/"}`)},
		{"short Ed25519", doc(`{"kty":"OKP","crv":"Ed25519","kid":"ed","x":"AAAA"}`)},
		{"EC point off the curve", doc(`{"kty":"EC","crv":"P-256","kid":"ec","x":"` + x + `","y":"` + b64(offCurveY) + `"}`)},
		{"EC short coordinate", doc(`{"kty":"EC","crv":"P-256","kid":"ec","x":"` + x[2:] + `","y":"` + y + `"}`)},
		{"RSA 1024", doc(fmt.Sprintf(`{"kty":"RSA","kid":"r","n":"%s","e":"AQAB"}`, b64(small.N.Bytes())))},
		{"RSA even exponent", doc(fmt.Sprintf(`{"kty":"RSA","kid":"r","n":"%s","e":"Ag"}`, b64(rsaKey.priv.Public().(*rsa.PublicKey).N.Bytes())))},
		{"RSA exponent 1", doc(fmt.Sprintf(`{"kty":"RSA","kid":"r","n":"%s","e":"AQ"}`, b64(rsaKey.priv.Public().(*rsa.PublicKey).N.Bytes())))},
		{"alg none on a key", doc(ed(`,"alg":"none"`))},
		{"alg HS256 on a public key", doc(ed(`,"alg":"HS256"`))},
		{"alg ES384 on a P-256 key", doc(`{"kty":"EC","crv":"P-256","kid":"ec","alg":"ES384","x":"` + x + `","y":"` + y + `"}`)},
		{"only unusable keys", doc(`{"kty":"OKP","crv":"X25519","kid":"x","x":"AA"}`)},
		{"too many keys", doc(strings.Repeat(`{"kty":"PQ"},`, auth.MaxJWKSKeys) + ed(""))},
		{"too large", `{"keys":[` + ed("") + `]}` + strings.Repeat(" ", auth.MaxJWKSSize)},
	}
	for _, tt := range bad {
		if ks, err := auth.ParseJWKS([]byte(tt.doc)); !errors.Is(err, auth.ErrJWKS) {
			t.Errorf("%s: accepted (%d keys, err %v)", tt.name, len(ks), err)
		}
	}
}

func TestMarshalJWKS(t *testing.T) {
	keys(t)
	in := []auth.Key{edKey.public(), ecKey.public(), rsaKey.public(), ecP384Key.public(), {ID: "bare", Public: edKey.priv.Public()}}
	doc, err := auth.MarshalJWKS(in...)
	if err != nil {
		t.Fatal(err)
	}
	out, err := auth.ParseJWKS(doc)
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range in {
		got, ok := out[k.ID]
		if !ok || got.Alg != k.Alg {
			t.Errorf("%s: got %+v", k.ID, got)
			continue
		}
		type equaler interface{ Equal(crypto.PublicKey) bool }
		if !k.Public.(equaler).Equal(got.Public) {
			t.Errorf("%s: public key changed in the round trip", k.ID)
		}
	}
	p521, _ := ecdsa.GenerateKey(elliptic.P521(), rand.Reader)
	if _, err := auth.MarshalJWKS(auth.Key{ID: "p521", Alg: "ES512", Public: &p521.PublicKey}); err != nil {
		t.Errorf("P-521: %v", err)
	}
	for name, k := range map[string]auth.Key{
		"no ID":         {Public: edKey.priv.Public()},
		"private key":   {ID: "x", Public: edKey.priv},
		"alg mismatch":  {ID: "x", Alg: "ES256", Public: edKey.priv.Public()},
		"unknown type":  {ID: "x", Public: "key"},
		"small RSA key": {ID: "x", Public: &rsa.PublicKey{N: bigOdd(1024), E: 65537}},
	} {
		if _, err := auth.MarshalJWKS(k); !errors.Is(err, auth.ErrJWKS) {
			t.Errorf("%s: %v", name, err)
		}
	}
}
