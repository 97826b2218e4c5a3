package auth_test

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"math/big"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/switchyard/switchyard/internal/clock"
	"github.com/switchyard/switchyard/middleware/auth"
)

const (
	issuer   = "https://users.shop.test"
	audience = "shop-gateway"
)

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

type signer struct {
	kid    string
	method jwt.SigningMethod
	priv   crypto.Signer
}

func (s signer) public() auth.Key {
	return auth.Key{ID: s.kid, Alg: s.method.Alg(), Public: s.priv.Public()}
}

var (
	keysOnce             sync.Once
	edKey, ecKey, rsaKey signer
	otherEdKey           signer
	ecP384Key            signer
	rsaKeyErr            error
)

func keys(t testing.TB) {
	t.Helper()
	keysOnce.Do(func() {
		_, ed, _ := ed25519.GenerateKey(rand.Reader)
		_, ed2, _ := ed25519.GenerateKey(rand.Reader)
		ec, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		ec384, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
		rs, err := rsa.GenerateKey(rand.Reader, 2048)
		rsaKeyErr = err
		edKey = signer{"ed-1", jwt.SigningMethodEdDSA, ed}
		otherEdKey = signer{"ed-1", jwt.SigningMethodEdDSA, ed2} // same kid, different key
		ecKey = signer{"ec-1", jwt.SigningMethodES256, ec}
		ecP384Key = signer{"ec384-1", jwt.SigningMethodES384, ec384}
		rsaKey = signer{"rsa-1", jwt.SigningMethodRS256, rs}
	})
	if rsaKeyErr != nil {
		t.Fatal(rsaKeyErr)
	}
}

// claims returns valid claims at time now.
func claims(now time.Time) jwt.MapClaims {
	return jwt.MapClaims{
		"iss":  issuer,
		"aud":  audience,
		"sub":  "user-42",
		"role": "customer",
		"iat":  now.Unix(),
		"exp":  now.Add(15 * time.Minute).Unix(),
		"jti":  "tok-1",
	}
}

func sign(t testing.TB, s signer, c jwt.MapClaims, header map[string]any) string {
	t.Helper()
	tok := jwt.NewWithClaims(s.method, c)
	tok.Header["kid"] = s.kid
	for k, v := range header {
		if v == nil {
			delete(tok.Header, k)
		} else {
			tok.Header[k] = v
		}
	}
	out, err := tok.SignedString(s.priv)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// jwksServer serves a JWKS document that the test may replace, and counts
// the requests it gets.
type jwksServer struct {
	*httptest.Server
	mu   sync.Mutex // guards doc and status
	doc  []byte
	code int
	hits atomic.Int64
}

func newJWKSServer(t testing.TB, ks ...auth.Key) *jwksServer {
	t.Helper()
	s := &jwksServer{code: http.StatusOK}
	s.set(t, ks...)
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.hits.Add(1)
		s.mu.Lock()
		doc, code := s.doc, s.code
		s.mu.Unlock()
		w.Header().Set("Content-Type", "application/jwk-set+json")
		w.WriteHeader(code)
		w.Write(doc)
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *jwksServer) set(t testing.TB, ks ...auth.Key) {
	t.Helper()
	doc, err := auth.MarshalJWKS(ks...)
	if err != nil {
		t.Fatal(err)
	}
	s.setRaw(doc, http.StatusOK)
}

func (s *jwksServer) setRaw(doc []byte, code int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.doc, s.code = doc, code
}

// fixture is a validator on a JWKS served over HTTP, on a fake clock.
type fixture struct {
	clock     *clock.Fake
	server    *jwksServer
	jwks      *auth.JWKS
	validator *auth.Validator
}

// newFixture serves the test keys as a JWKS and builds a validator on
// them with cfg, whose Keys, Issuer and Audience it fills in when empty.
func newFixture(t testing.TB, cfg auth.Config) *fixture {
	t.Helper()
	keys(t)
	f := &fixture{clock: clock.NewFake(t0)}
	f.server = newJWKSServer(t, edKey.public(), ecKey.public(), rsaKey.public())
	var err error
	if f.jwks, err = auth.NewJWKS(auth.FetchURL(f.server.URL, f.server.Client()), auth.JWKSConfig{}); err != nil {
		t.Fatal(err)
	}
	auth.SetJWKSNow(f.jwks, f.clock.Now)
	f.validator = f.newValidator(t, cfg)
	return f
}

// newValidator builds a validator from cfg on the fixture's clock, with
// the fixture's JWKS, issuer and audience unless cfg names others.
func (f *fixture) newValidator(t testing.TB, cfg auth.Config) *auth.Validator {
	t.Helper()
	if cfg.Keys == nil {
		cfg.Keys = f.jwks
	}
	if cfg.Issuer == "" {
		cfg.Issuer = issuer
	}
	if cfg.Audience == "" {
		cfg.Audience = audience
	}
	v, err := auth.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	auth.SetNow(v, f.clock.Now)
	return v
}

// atT0 builds a validator from cfg whose clock stands at t0.
func atT0(t testing.TB, cfg auth.Config) *auth.Validator {
	t.Helper()
	v, err := auth.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	auth.SetNow(v, func() time.Time { return t0 })
	return v
}

func (f *fixture) validate(tok string) (*auth.Claims, error) {
	return f.validator.Validate(context.Background(), tok)
}

func bigOdd(bits int) *big.Int {
	n := new(big.Int).Lsh(big.NewInt(1), uint(bits-1))
	return n.Add(n, big.NewInt(1))
}
