package auth

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/switchyard/switchyard/internal/clock"
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
	// ErrConfig is wrapped by the errors [NewValidator] returns.
	ErrConfig = errors.New("auth: invalid validator configuration")
)

// Defaults and limits of [Validator].
const (
	DefaultMaxTokenSize = 8 << 10
	DefaultLeeway       = 30 * time.Second
	MaxLeeway           = 2 * time.Minute
)

// DefaultAlgorithms are the algorithms a validator on an asymmetric
// [KeySet] accepts unless told otherwise.
var DefaultAlgorithms = []string{"EdDSA", "ES256"}

var (
	asymmetricAlgs = []string{"EdDSA", "ES256", "ES384", "ES512", "RS256", "RS384", "RS512", "PS256", "PS384", "PS512"}
	hmacAlgs       = []string{"HS256", "HS384", "HS512"}
)

// Option configures [NewValidator].
type Option func(*Validator)

// WithAlgorithms replaces the allow-list of signing algorithms. For an
// asymmetric key set the default is [DefaultAlgorithms] and the choices are
// EdDSA, ES256, ES384, ES512, RS256, RS384, RS512, PS256, PS384 and PS512;
// for [HMACKey] the default is HS256 and the choices HS256, HS384 and
// HS512. "none", an unknown name, an empty list, or a mix of the two
// families makes [NewValidator] fail.
func WithAlgorithms(algs ...string) Option {
	return func(v *Validator) { v.algs = append([]string(nil), algs...) }
}

// WithLeeway sets the clock skew tolerated on exp, nbf and iat. Default
// [DefaultLeeway]; negative values mean none and values above [MaxLeeway]
// are lowered to it.
func WithLeeway(d time.Duration) Option {
	return func(v *Validator) { v.leeway = min(max(d, 0), MaxLeeway) }
}

// WithMaxTokenSize sets the largest token accepted, in bytes. Default
// [DefaultMaxTokenSize]; values of zero or less keep the default.
func WithMaxTokenSize(n int) Option {
	return func(v *Validator) {
		if n > 0 {
			v.maxSize = n
		}
	}
}

// WithClock sets the clock that exp, nbf and iat are checked against. The
// default is the real clock; tests pass a fake.
func WithClock(c clock.Clock) Option { return func(v *Validator) { v.clock = clock.OrReal(c) } }

// WithErrorHook sets a function called with the reason whenever the
// HTTP handler or the endpoint middleware rejects a request, for logging
// and metrics: the 401 answer itself says only "invalid token". Default
// none. It must be safe for concurrent use.
func WithErrorHook(f func(ctx context.Context, err error)) Option {
	return func(v *Validator) { v.onError = f }
}

// Validator checks tokens; see the package documentation for the rules.
// Create it with [NewValidator]; the zero value is not usable. It is safe
// for concurrent use.
type Validator struct {
	keys     KeySet
	issuer   string
	audience string
	algs     []string
	leeway   time.Duration
	maxSize  int
	clock    clock.Clock
	onError  func(context.Context, error)
	hmac     bool
	parser   *jwt.Parser
}

// NewValidator returns a validator that accepts tokens verified by keys,
// issued by issuer for audience. issuer and audience are required.
func NewValidator(keys KeySet, issuer, audience string, opts ...Option) (*Validator, error) {
	if keys == nil {
		return nil, fmt.Errorf("%w: nil key set", ErrConfig)
	}
	if issuer == "" || audience == "" {
		return nil, fmt.Errorf("%w: issuer and audience are required", ErrConfig)
	}
	v := &Validator{
		keys:     keys,
		issuer:   issuer,
		audience: audience,
		leeway:   DefaultLeeway,
		maxSize:  DefaultMaxTokenSize,
		clock:    clock.Real{},
	}
	hk, isHMAC := keys.(hmacKey)
	v.hmac = isHMAC
	if isHMAC {
		v.algs = []string{"HS256"}
	} else {
		v.algs = slices.Clone(DefaultAlgorithms)
	}
	for _, o := range opts {
		o(v)
	}
	if isHMAC && len(hk.secret) < MinHMACKeySize {
		return nil, fmt.Errorf("%w: HMAC secret of %d bytes, want at least %d", ErrConfig, len(hk.secret), MinHMACKeySize)
	}
	if len(v.algs) == 0 {
		return nil, fmt.Errorf("%w: no algorithms allowed", ErrConfig)
	}
	allowed := asymmetricAlgs
	if isHMAC {
		allowed = hmacAlgs
	}
	for _, a := range v.algs {
		if !slices.Contains(allowed, a) {
			kind := "an asymmetric key set"
			if isHMAC {
				kind = "a shared secret"
			}
			return nil, fmt.Errorf("%w: algorithm %q cannot be used with %s", ErrConfig, a, kind)
		}
	}
	v.parser = jwt.NewParser(
		jwt.WithValidMethods(v.algs),
		jwt.WithIssuer(issuer),
		jwt.WithAudience(audience),
		jwt.WithExpirationRequired(),
		jwt.WithIssuedAt(),
		jwt.WithLeeway(v.leeway),
		jwt.WithTimeFunc(v.clock.Now),
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
