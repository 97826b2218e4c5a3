package authn

import (
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/switchyard/switchyard/client"
	"github.com/switchyard/switchyard/discovery"
	"github.com/switchyard/switchyard/middleware/auth"

	"github.com/switchyard/switchyard/examples/ecommerce/internal/call"
	"github.com/switchyard/switchyard/examples/ecommerce/internal/ids"
)

// The shop's token rules. Tokens are signed by the users service with
// Ed25519 and verified by the gateway and every service with the keys users
// publishes at JWKSPath.
const (
	Issuer    = "switchyard-ecommerce"
	Audience  = "switchyard-ecommerce-api"
	Algorithm = "EdDSA"
	// RoleUser and RoleAdmin are the values of the "role" claim.
	RoleUser  = "user"
	RoleAdmin = "admin"
	// UsersService is the registry name of the service that signs tokens.
	UsersService = "users"
	// JWKSPath is where UsersService publishes its public keys.
	JWKSPath = "/v1/jwks"
	// JWKSRefreshInterval is the least time between two fetches of the
	// JWKS caused by unknown key ids: short enough that a verifier which
	// started before users recovers quickly, long enough that forged kids
	// cannot make it hammer users.
	JWKSRefreshInterval = 2 * time.Second
)

// ErrSign is wrapped by the errors of SignToken.
var ErrSign = errors.New("authn: cannot sign token")

// NewValidator returns a validator for the shop's tokens on keys: algorithm
// pinned to EdDSA, issuer Issuer, audience Audience, exp required (as
// middleware/auth always requires it). hooks, if given (at most one), are
// the validator's [auth.Hooks].
func NewValidator(keys auth.KeySet, hooks ...auth.Hooks) (*auth.Validator, error) {
	cfg := auth.Config{Keys: keys, Issuer: Issuer, Audience: Audience, Algorithms: []string{Algorithm}}
	switch len(hooks) {
	case 0:
	case 1:
		cfg.Hooks = hooks[0]
	default:
		return nil, fmt.Errorf("%w: more than one auth.Hooks", auth.ErrConfig)
	}
	return auth.New(cfg)
}

// Verifier checks the shop's tokens with the keys that the users service
// publishes, fetched through discovery and the full client path (so the
// fetch is balanced over users' replicas and survives one of them failing).
// The embedded Validator's Handler guards routes; JWKS exposes the key cache.
// Use Verifier.Handler and Verifier.Validate rather than the embedded
// Validator's: until the first fetch of the keys succeeds they fetch on every
// call (one fetch at a time), so a service that started before users accepts
// tokens as soon as users answers. Create it with NewVerifier and Close it
// when done; it is safe for concurrent use.
type Verifier struct {
	*auth.Validator
	JWKS   *auth.JWKS
	client *call.Client
	// loaded turns true after the first successful fetch. Until then every
	// check forces a fetch (joining one in progress), so that a verifier
	// that started before users accepts tokens as soon as users answers,
	// instead of after the key set's refetch interval.
	loaded atomic.Bool
}

// NewVerifier returns a Verifier that follows the users service through r.
// It tries one fetch of the keys at once, bounded by ctx, and ignores its
// failure: users may not be up yet, and the first token with an unknown key
// id fetches again (at most once per JWKSRefreshInterval). hooks are passed
// to NewValidator. With peers, the keys are fetched over mutual TLS from
// instances that prove they are the users service (call.WithTLS); nil
// peers fetch over plain HTTP.
func NewVerifier(ctx context.Context, r discovery.Resolver, peers *call.Peers, hooks ...auth.Hooks) (*Verifier, error) {
	var opts []call.Option
	if peers != nil {
		opts = append(opts, call.WithTLS(peers))
	}
	c, err := call.New(ctx, r, UsersService, http.MethodGet, JWKSPath, client.Config{Operation: "users.jwks"}, opts...)
	if err != nil {
		return nil, err
	}
	ver := &Verifier{client: c}
	ver.JWKS, err = auth.NewJWKS(func(ctx context.Context) ([]byte, error) {
		doc, err := c.Call(ctx, call.Request{})
		if err == nil {
			ver.loaded.Store(true)
		}
		return doc, err
	}, auth.JWKSConfig{MinRefreshInterval: JWKSRefreshInterval})
	if err == nil {
		ver.Validator, err = NewValidator(ver.JWKS, hooks...)
	}
	if err != nil {
		c.Close()
		return nil, err
	}
	_ = ver.JWKS.Refresh(ctx)
	return ver, nil
}

// Validate is auth.Validator.Validate, with a forced fetch of the keys while
// none has succeeded yet.
func (v *Verifier) Validate(ctx context.Context, token string) (*auth.Claims, error) {
	v.ensureKeys(ctx)
	return v.Validator.Validate(ctx, token)
}

// Handler is auth.Validator.Handler, with a forced fetch of the keys while
// none has succeeded yet.
func (v *Verifier) Handler(next http.Handler) http.Handler {
	h := v.Validator.Handler(next)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		v.ensureKeys(r.Context())
		h.ServeHTTP(w, r)
	})
}

func (v *Verifier) ensureKeys(ctx context.Context) {
	if !v.loaded.Load() {
		_ = v.JWKS.Refresh(ctx)
	}
}

// Close stops following the users service.
func (v *Verifier) Close() error { return v.client.Close() }

// Authenticator guards routes with the shop's tokens: *auth.Validator (a
// service that knows the keys, or a test) and *Verifier (keys fetched from
// users) both are one.
type Authenticator interface {
	// Handler runs next only for requests with a valid bearer token, with
	// its claims in the request context; others get 401.
	Handler(next http.Handler) http.Handler
}

var (
	_ Authenticator = (*auth.Validator)(nil)
	_ Authenticator = (*Verifier)(nil)
)

// TokenClaims are what a shop token says about its bearer.
type TokenClaims struct {
	UserID string // "sub"
	Email  string // "email"
	Role   string // "role": RoleUser or RoleAdmin
}

// SignToken returns a token for c signed with key, valid from now for ttl:
// header {"alg":"EdDSA","typ":"JWT","kid":KeyID(public key)}, claims iss, aud,
// sub, email, role, iat, nbf, exp and a random jti.
func SignToken(key ed25519.PrivateKey, c TokenClaims, now time.Time, ttl time.Duration) (string, error) {
	if len(key) != ed25519.PrivateKeySize {
		return "", fmt.Errorf("%w: not an Ed25519 private key", ErrSign)
	}
	if c.UserID == "" || ttl <= 0 {
		return "", fmt.Errorf("%w: user id and a positive lifetime are required", ErrSign)
	}
	t := jwt.NewWithClaims(jwt.SigningMethodEdDSA, jwt.MapClaims{
		"iss":   Issuer,
		"aud":   Audience,
		"sub":   c.UserID,
		"email": c.Email,
		"role":  c.Role,
		"iat":   now.Unix(),
		"nbf":   now.Unix(),
		"exp":   now.Add(ttl).Unix(),
		"jti":   ids.New("tok"),
	})
	t.Header["kid"] = KeyID(key.Public().(ed25519.PublicKey))
	s, err := t.SignedString(key)
	if err != nil {
		return "", fmt.Errorf("%w: %w", ErrSign, err)
	}
	return s, nil
}

// KeyID returns the RFC 7638 JWK thumbprint of pub: the base64url (unpadded)
// SHA-256 of {"crv":"Ed25519","kty":"OKP","x":"<base64url of pub>"}.
func KeyID(pub ed25519.PublicKey) string {
	sum := sha256.Sum256([]byte(`{"crv":"Ed25519","kty":"OKP","x":"` + base64.RawURLEncoding.EncodeToString(pub) + `"}`))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

// UserID returns the "sub" of the token that authenticated the request whose
// context is ctx, or "" when there is none.
func UserID(ctx context.Context) string {
	if c, ok := auth.ClaimsFromContext(ctx); ok {
		return c.Subject
	}
	return ""
}

// Email returns the "email" claim of the request's token, or "".
func Email(ctx context.Context) string {
	if c, ok := auth.ClaimsFromContext(ctx); ok {
		return c.String("email")
	}
	return ""
}

// IsAdmin reports whether the request's token carries role RoleAdmin.
func IsAdmin(ctx context.Context) bool {
	c, ok := auth.ClaimsFromContext(ctx)
	return ok && c.String("role") == RoleAdmin
}
