package platform

import (
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/switchyard/switchyard/discovery"
	"github.com/switchyard/switchyard/middleware/auth"
	shttp "github.com/switchyard/switchyard/transport/http"
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
var ErrSign = errors.New("platform: cannot sign token")

// NewValidator returns a validator for the shop's tokens on keys: algorithm
// pinned to EdDSA, issuer Issuer, audience Audience, exp required (as
// middleware/auth always requires it). opts are applied after, but cannot
// change the issuer or audience.
func NewValidator(keys auth.KeySet, opts ...auth.Option) (*auth.Validator, error) {
	all := append([]auth.Option{auth.WithAlgorithms(Algorithm)}, opts...)
	return auth.NewValidator(keys, Issuer, Audience, all...)
}

// Verifier checks the shop's tokens with the keys that the users service
// publishes, fetched through discovery and the full client path (so the
// fetch is balanced over users' replicas and survives one of them failing).
// The embedded Validator's Handler guards routes; JWKS exposes the key cache.
// Create it with NewVerifier and Close it when done; it is safe for
// concurrent use.
type Verifier struct {
	*auth.Validator
	JWKS   *auth.JWKS
	client *Client
}

// NewVerifier returns a Verifier that follows the users service through r.
// It tries one fetch of the keys at once, bounded by ctx, and ignores its
// failure: users may not be up yet, and the first token with an unknown key
// id fetches again (at most once per JWKSRefreshInterval). opts are passed to
// NewValidator.
func NewVerifier(ctx context.Context, r discovery.Resolver, opts ...auth.Option) (*Verifier, error) {
	c, err := NewClient(ctx, r, UsersService, http.MethodGet, JWKSPath, shttp.WithOperation("users.jwks"))
	if err != nil {
		return nil, err
	}
	jwks := auth.NewJWKS(func(ctx context.Context) ([]byte, error) {
		return c.Call(ctx, Request{})
	}, auth.WithMinRefreshInterval(JWKSRefreshInterval))
	v, err := NewValidator(jwks, opts...)
	if err != nil {
		c.Close()
		return nil, err
	}
	_ = jwks.Refresh(ctx)
	return &Verifier{Validator: v, JWKS: jwks, client: c}, nil
}

// Close stops following the users service.
func (v *Verifier) Close() error { return v.client.Close() }

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
		"jti":   NewID("tok"),
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
