package auth

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// Errors about tokens. Every error [Validator.Validate] returns wraps
// ErrInvalidToken, and also the more specific sentinel or jwt error that
// explains it (for example jwt.ErrTokenExpired).
var (
	// ErrInvalidToken is wrapped by every rejection of a presented token.
	ErrInvalidToken = errors.New("auth: invalid token")
	// ErrMissingToken: no bearer token was presented (no Authorization
	// header, another scheme, or an empty token).
	ErrMissingToken = errors.New("auth: missing bearer token")
	// ErrTokenTooLarge: the token exceeds the validator's size limit.
	ErrTokenTooLarge = errors.New("auth: token too large")
	// ErrMissingKeyID: an asymmetric token without "kid".
	ErrMissingKeyID = errors.New("auth: token has no key id")
	// ErrCritical: the token's header has a "crit" member.
	ErrCritical = errors.New("auth: token has critical header extensions")
	// ErrMissingClaim: the token lacks a claim named in [Config.Required].
	ErrMissingClaim = errors.New("auth: token lacks a required claim")
)

// ErrConfig is wrapped by the errors [New] and [NewJWKS] return for an
// invalid configuration.
var ErrConfig = errors.New("auth: invalid configuration")

// Defaults and limits of [Validator].
const (
	DefaultMaxTokenSize = 8 << 10
	DefaultLeeway       = 30 * time.Second
	MaxLeeway           = 2 * time.Minute
)

// DefaultAlgorithms are the algorithms a validator on an asymmetric
// [KeySet] accepts unless [Config.Algorithms] says otherwise.
var DefaultAlgorithms = []string{"EdDSA", "ES256"}

var (
	asymmetricAlgs = []string{"EdDSA", "ES256", "ES384", "ES512", "RS256", "RS384", "RS512", "PS256", "PS384", "PS512"}
	hmacAlgs       = []string{"HS256", "HS384", "HS512"}
)

// Config configures [New]. Keys, Issuer and Audience are required; every
// other field's zero value is the default written beside it.
type Config struct {
	// Keys find the key that verifies a token: a [JWKS], [StaticKeys], or
	// [HMACKey] for a shared secret. Required.
	Keys KeySet
	// Issuer is the value every token's "iss" must equal. Required.
	Issuer string
	// Audience is the value every token's "aud" must contain. Required.
	Audience string
	// Algorithms is the allow-list of signing algorithms (the pinned
	// "alg" values). Empty means [DefaultAlgorithms] for an asymmetric key
	// set and HS256 for [HMACKey]. The choices are EdDSA, ES256, ES384,
	// ES512, RS256, RS384, RS512, PS256, PS384 and PS512 for an asymmetric
	// key set, and HS256, HS384 and HS512 for HMACKey. "none", an unknown
	// name, or a name of the other family is an error from [New].
	Algorithms []string
	// Leeway is the clock skew tolerated on exp, nbf and iat. Zero means
	// [DefaultLeeway]; a negative value means none. More than [MaxLeeway]
	// is an error from [New].
	Leeway time.Duration
	// MaxTokenSize is the largest token accepted, in bytes. Zero means
	// [DefaultMaxTokenSize]; negative is an error from [New].
	MaxTokenSize int
	// Required names claims every accepted token must carry (with a
	// non-null value), such as "sub" or "jti", on top of exp, iss and aud,
	// which are always required. Nil requires no more; an empty name is an
	// error from [New]. Only presence is checked: read the values from
	// [Claims].
	Required []string
	// Hooks are called on the validator's events. The zero value calls
	// nothing.
	Hooks Hooks
}

// Hooks are functions a [Validator] calls on its events. Each nil field is
// not called. Hooks are called outside every lock, on the goroutine of the
// request concerned; they must be safe for concurrent use and should not
// block.
type Hooks struct {
	// OnReject is called with the reason whenever [Validator.Handler] or
	// [Validator.Endpoint] rejects a request, before the 401 is written or
	// returned, for logging and metrics: the 401 itself says only "invalid
	// token" or "missing bearer token". [Validator.Validate] called
	// directly does not call it.
	OnReject func(ctx context.Context, err error)
}

// Validator checks tokens; see the package documentation for the rules.
// Create it with [New]; the zero value is not usable. A Validator is
// immutable and safe for concurrent use.
type Validator struct {
	keys     KeySet
	algs     []string
	maxSize  int
	required []string
	onReject func(context.Context, error)
	hmac     bool
	parser   *jwt.Parser
	now      func() time.Time // time.Now; tests set it through export_test.go
}

// New returns a validator configured by cfg, or an error wrapping
// [ErrConfig] when cfg is invalid: no Keys, Issuer or Audience, an
// algorithm that is "none", unknown or of the wrong family for Keys, an
// [HMACKey] secret shorter than [MinHMACKeySize], a Leeway above
// [MaxLeeway], a negative MaxTokenSize, or an empty Required name.
func New(cfg Config) (*Validator, error) {
	if cfg.Keys == nil {
		return nil, fmt.Errorf("%w: no key set", ErrConfig)
	}
	if cfg.Issuer == "" || cfg.Audience == "" {
		return nil, fmt.Errorf("%w: issuer and audience are required", ErrConfig)
	}
	leeway := cfg.Leeway
	switch {
	case leeway == 0:
		leeway = DefaultLeeway
	case leeway < 0:
		leeway = 0
	case leeway > MaxLeeway:
		return nil, fmt.Errorf("%w: leeway %v exceeds %v", ErrConfig, leeway, MaxLeeway)
	}
	maxSize := cfg.MaxTokenSize
	switch {
	case maxSize == 0:
		maxSize = DefaultMaxTokenSize
	case maxSize < 0:
		return nil, fmt.Errorf("%w: negative MaxTokenSize", ErrConfig)
	}
	for _, name := range cfg.Required {
		if name == "" {
			return nil, fmt.Errorf("%w: empty name in Required", ErrConfig)
		}
	}
	hk, isHMAC := cfg.Keys.(hmacKey)
	if isHMAC && len(hk.secret) < MinHMACKeySize {
		return nil, fmt.Errorf("%w: HMAC secret of %d bytes, want at least %d", ErrConfig, len(hk.secret), MinHMACKeySize)
	}
	algs := slices.Clone(cfg.Algorithms)
	allowed, kind := asymmetricAlgs, "an asymmetric key set"
	if isHMAC {
		allowed, kind = hmacAlgs, "a shared secret"
	}
	switch {
	case len(algs) > 0:
	case isHMAC:
		algs = []string{"HS256"}
	default:
		algs = slices.Clone(DefaultAlgorithms)
	}
	for _, a := range algs {
		if !slices.Contains(allowed, a) {
			return nil, fmt.Errorf("%w: algorithm %q cannot be used with %s", ErrConfig, a, kind)
		}
	}
	v := &Validator{
		keys:     cfg.Keys,
		algs:     algs,
		maxSize:  maxSize,
		required: slices.Clone(cfg.Required),
		onReject: cfg.Hooks.OnReject,
		hmac:     isHMAC,
		now:      time.Now,
	}
	v.parser = jwt.NewParser(
		jwt.WithValidMethods(algs),
		jwt.WithIssuer(cfg.Issuer),
		jwt.WithAudience(cfg.Audience),
		jwt.WithExpirationRequired(),
		jwt.WithIssuedAt(),
		jwt.WithLeeway(leeway),
		jwt.WithTimeFunc(func() time.Time { return v.now() }),
		jwt.WithStrictDecoding(),
	)
	return v, nil
}

// Claims are the claims of a validated token.
type Claims struct {
	Subject   string
	Issuer    string
	Audience  []string
	ExpiresAt time.Time
	// NotBefore and IssuedAt are zero when the token has no nbf or iat.
	NotBefore time.Time
	IssuedAt  time.Time
	ID        string
	// KeyID is the "kid" of the key that verified the token; empty for
	// HMAC.
	KeyID string
	// Raw holds every claim as decoded from JSON (numbers as float64).
	Raw map[string]any
}

// String returns the claim name if it is a string, or "".
func (c *Claims) String(name string) string {
	s, _ := c.Raw[name].(string)
	return s
}

// Validate checks token and returns its claims. Every error wraps
// [ErrInvalidToken]; see the package documentation for the rules.
func (v *Validator) Validate(ctx context.Context, token string) (*Claims, error) {
	if token == "" {
		return nil, fmt.Errorf("%w: %w", ErrInvalidToken, ErrMissingToken)
	}
	if len(token) > v.maxSize {
		return nil, fmt.Errorf("%w: %w: %d bytes, limit %d", ErrInvalidToken, ErrTokenTooLarge, len(token), v.maxSize)
	}
	var kid string
	mc := jwt.MapClaims{}
	_, err := v.parser.ParseWithClaims(token, mc, func(t *jwt.Token) (any, error) {
		if _, ok := t.Header["crit"]; ok {
			return nil, ErrCritical
		}
		alg := t.Method.Alg()
		if v.hmac {
			return v.keys.Key(ctx, "", alg)
		}
		kid, _ = t.Header["kid"].(string)
		if kid == "" {
			return nil, ErrMissingKeyID
		}
		return v.keys.Key(ctx, kid, alg)
	})
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidToken, err)
	}
	for _, name := range v.required {
		if mc[name] == nil {
			return nil, fmt.Errorf("%w: %w: %q", ErrInvalidToken, ErrMissingClaim, name)
		}
	}
	return claimsFrom(mc, kid)
}

func claimsFrom(mc jwt.MapClaims, kid string) (*Claims, error) {
	c := &Claims{KeyID: kid, Raw: mc}
	var err error
	get := func(f func() (*jwt.NumericDate, error)) time.Time {
		d, e := f()
		if e != nil {
			err = e
		}
		if d == nil {
			return time.Time{}
		}
		return d.Time
	}
	c.ExpiresAt = get(mc.GetExpirationTime)
	c.NotBefore = get(mc.GetNotBefore)
	c.IssuedAt = get(mc.GetIssuedAt)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidToken, err)
	}
	if c.Subject, err = mc.GetSubject(); err != nil {
		return nil, fmt.Errorf("%w: sub: %w", ErrInvalidToken, err)
	}
	if c.Issuer, err = mc.GetIssuer(); err != nil {
		return nil, fmt.Errorf("%w: iss: %w", ErrInvalidToken, err)
	}
	if c.Audience, err = mc.GetAudience(); err != nil {
		return nil, fmt.Errorf("%w: aud: %w", ErrInvalidToken, err)
	}
	if jti, ok := mc["jti"]; ok {
		s, ok := jti.(string)
		if !ok {
			return nil, fmt.Errorf("%w: jti is not a string", ErrInvalidToken)
		}
		c.ID = s
	}
	return c, nil
}

// bearer extracts the token from an Authorization header value: the
// scheme "Bearer" in any case, one or more spaces, then the token.
func bearer(h string) (string, bool) {
	const scheme = "bearer"
	if len(h) <= len(scheme) || !strings.EqualFold(h[:len(scheme)], scheme) || h[len(scheme)] != ' ' {
		return "", false
	}
	tok := strings.TrimLeft(h[len(scheme):], " ")
	if tok == "" || strings.ContainsAny(tok, " \t") {
		return "", false
	}
	return tok, true
}
