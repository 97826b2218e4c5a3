package users

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"log/slog"
	"net/mail"
	"runtime"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/switchyard/switchyard/examples/ecommerce/internal/authn"
	"github.com/switchyard/switchyard/examples/ecommerce/internal/ids"
	"github.com/switchyard/switchyard/middleware/auth"
)

// Limits of the input rules.
const (
	MaxEmailLen       = 254 // bytes, RFC 5321's path limit
	MinPasswordLen    = 8   // characters
	MaxPasswordLen    = 1024
	MaxNameLen        = 100 // characters
	DefaultTokenTTL   = time.Hour
	KnownSourceTTL    = 30 * 24 * time.Hour // a login from an address exempts it from the account budget this long
	ServiceName       = "users"
	userIDPrefix      = "usr"
	dummyPasswordSalt = "not a password anybody has"
)

// Errors of the users service. The transport maps them to HTTP statuses.
var (
	// ErrEmailTaken: a user with the e-mail address exists (409 email_taken).
	ErrEmailTaken = errors.New("users: email already registered")
	// ErrInvalidCredentials: unknown e-mail address or wrong password; the
	// two are indistinguishable on purpose (401 invalid_credentials).
	ErrInvalidCredentials = errors.New("users: invalid email or password")
	// ErrNotFound: no user with that id (404 user_not_found).
	ErrNotFound = errors.New("users: user not found")
)

// InvalidError is a request that breaks an input rule (400
// invalid_argument). Its message is safe to show the caller.
type InvalidError struct {
	Field  string
	Reason string
}

func (e *InvalidError) Error() string { return e.Field + " " + e.Reason }

// User is a user as the API shows it.
type User struct {
	ID    string `json:"id"`
	Email string `json:"email"`
	Name  string `json:"name"`
	Role  string `json:"role"` // authn.RoleUser or authn.RoleAdmin
}

// Token is the answer to a login.
type Token struct {
	Token     string    `json:"token"`
	ExpiresAt time.Time `json:"expires_at"` // RFC 3339, whole seconds, UTC
}

// Service is the users service's logic: sign-up, login, lookup and the
// public keys of its tokens. Implementations are safe for concurrent use.
type Service interface {
	// Signup creates a user with role user. Inputs are normalised and
	// checked first (*InvalidError); an existing address, or the admin
	// address, is ErrEmailTaken.
	Signup(ctx context.Context, email, password, name string) (User, error)
	// Login checks the credentials and returns a signed token, or
	// ErrInvalidCredentials, or a *ThrottledError (without checking the
	// password) when too many logins to the account have failed; the
	// client address it throttles by comes from ctx (NewClientContext).
	Login(ctx context.Context, email, password string) (Token, error)
	// User returns the user with id, or ErrNotFound.
	User(ctx context.Context, id string) (User, error)
	// JWKS returns the JSON Web Key Set of the keys that verify tokens.
	JWKS(ctx context.Context) ([]byte, error)
}

// Option configures NewService.
type Option func(*service)

// WithAdminEmail reserves email for the admin account that [EnsureAdmin]
// creates: a sign-up with it is ErrEmailTaken, whether or not the account
// exists yet, so nobody becomes admin by signing up. Default none. The
// address is normalised like every e-mail address.
func WithAdminEmail(email string) Option {
	return func(s *service) { s.adminEmail = strings.ToLower(strings.TrimSpace(email)) }
}

// WithArgon2 sets the password hashing cost. Default DefaultArgon2. Tests use
// cheap parameters; production keeps the default.
func WithArgon2(p Argon2Params) Option { return func(s *service) { s.argon = p } }

// WithTokenTTL sets how long tokens are valid. Default DefaultTokenTTL.
func WithTokenTTL(d time.Duration) Option { return func(s *service) { s.ttl = d } }

// WithNow sets the clock of token issuance and of the login throttle.
// Default time.Now.
func WithNow(now func() time.Time) Option { return func(s *service) { s.now = now } }

// WithMaxConcurrentHashes bounds how many password hashes run at once; the
// rest wait (bounded by their context). Each costs the argon2 memory, so the
// bound caps memory under a login storm. Default runtime.GOMAXPROCS(0).
func WithMaxConcurrentHashes(n int) Option {
	return func(s *service) {
		if n > 0 {
			s.kdf = make(chan struct{}, n)
		}
	}
}

// WithThrottle sets the throttle of failed logins. Default
// NewThrottle(ThrottleSettings{}); nil turns throttling off.
func WithThrottle(t *Throttle) Option { return func(s *service) { s.throttle = t } }

// WithLogger sets where the service logs trouble that does not fail a
// request (a login source it could not record). Default slog.Default().
func WithLogger(l *slog.Logger) Option {
	return func(s *service) {
		if l != nil {
			s.log = l
		}
	}
}

type service struct {
	store      Store
	key        ed25519.PrivateKey
	jwks       []byte
	adminEmail string
	argon      Argon2Params
	ttl        time.Duration
	now        func() time.Time
	kdf        chan struct{} // semaphore: one token per running hash
	dummyHash  string        // verified for unknown e-mail addresses, so they cost what a known one costs
	throttle   *Throttle     // nil: no throttling
	log        *slog.Logger
}

// NewService returns the users service on store, signing tokens with key. It
// hashes one dummy password at start (one KDF run).
func NewService(store Store, key ed25519.PrivateKey, opts ...Option) (Service, error) {
	s := &service{store: store, key: key, argon: DefaultArgon2, ttl: DefaultTokenTTL, now: time.Now,
		throttle: NewThrottle(ThrottleSettings{}), log: slog.Default()}
	for _, o := range opts {
		o(s)
	}
	if s.kdf == nil {
		s.kdf = make(chan struct{}, runtime.GOMAXPROCS(0))
	}
	if len(key) != ed25519.PrivateKeySize {
		return nil, fmt.Errorf("%w: not an Ed25519 private key", ErrKey)
	}
	pub := key.Public().(ed25519.PublicKey)
	jwks, err := auth.MarshalJWKS(auth.Key{ID: authn.KeyID(pub), Alg: authn.Algorithm, Public: pub})
	if err != nil {
		return nil, err
	}
	s.jwks = jwks
	if s.dummyHash, err = s.argon.Hash(dummyPasswordSalt); err != nil {
		return nil, err
	}
	return s, nil
}

// NormalizeEmail returns email trimmed and lower-cased if it is a bare
// address (no display name) that net/mail accepts and at most MaxEmailLen
// bytes long, and an *InvalidError otherwise.
func NormalizeEmail(email string) (string, error) {
	e := strings.ToLower(strings.TrimSpace(email))
	if e == "" {
		return "", &InvalidError{"email", "is required"}
	}
	if len(e) > MaxEmailLen {
		return "", &InvalidError{"email", fmt.Sprintf("must be at most %d bytes", MaxEmailLen)}
	}
	a, err := mail.ParseAddress(e)
	if err != nil || a.Name != "" || a.Address != e {
		return "", &InvalidError{"email", "is not a valid e-mail address"}
	}
	return e, nil
}

func checkPassword(pw string) error {
	if n := utf8.RuneCountInString(pw); n < MinPasswordLen || len(pw) > MaxPasswordLen {
		return &InvalidError{"password", fmt.Sprintf("must be %d to %d characters", MinPasswordLen, MaxPasswordLen)}
	}
	return nil
}

func normalizeName(name string) (string, error) {
	n := strings.TrimSpace(name)
	if c := utf8.RuneCountInString(n); c < 1 || c > MaxNameLen {
		return "", &InvalidError{"name", fmt.Sprintf("must be 1 to %d characters", MaxNameLen)}
	}
	if strings.IndexFunc(n, unicode.IsControl) >= 0 {
		return "", &InvalidError{"name", "must not contain control characters"}
	}
	return n, nil
}

func (s *service) Signup(ctx context.Context, email, password, name string) (User, error) {
	email, err := NormalizeEmail(email)
	if err != nil {
		return User{}, err
	}
	if err := checkPassword(password); err != nil {
		return User{}, err
	}
	if name, err = normalizeName(name); err != nil {
		return User{}, err
	}
	// The admin address is taken even before EnsureAdmin has run, so
	// that nobody can claim it in the moment after a first start.
	if s.adminEmail != "" && email == s.adminEmail {
		return User{}, ErrEmailTaken
	}
	hash, err := s.hash(ctx, password)
	if err != nil {
		return User{}, err
	}
	r := Record{
		User:         User{ID: ids.New(userIDPrefix), Email: email, Name: name, Role: authn.RoleUser},
		PasswordHash: hash,
		CreatedAt:    s.now().UTC(),
	}
	if err := s.store.Create(ctx, r); err != nil {
		return User{}, err
	}
	return r.User, nil
}

func (s *service) Login(ctx context.Context, email, password string) (Token, error) {
	if strings.TrimSpace(email) == "" || password == "" {
		return Token{}, &InvalidError{"email and password", "are required"}
	}
	account := strings.ToLower(strings.TrimSpace(email))
	client := ClientFromContext(ctx)
	begun, exempt := false, false
	if s.throttle != nil {
		var err error
		if exempt, err = s.begin(ctx, account, client); err != nil {
			return Token{}, err
		}
		begun = true
	}
	hash := s.dummyHash
	r, err := s.store.ByEmail(ctx, account)
	switch {
	case err == nil:
		hash = r.PasswordHash
	case !errors.Is(err, ErrNotFound):
		s.refund(begun, exempt, account, client) // the service failed, not the caller
		return Token{}, err
	}
	ok, err := s.verify(ctx, hash, password)
	if err != nil {
		s.refund(begun, exempt, account, client)
		return Token{}, err
	}
	if !ok || hash == s.dummyHash {
		return Token{}, ErrInvalidCredentials
	}
	if begun {
		s.throttle.Success(account, client, exempt)
		s.remember(ctx, r, client)
	}
	now := s.now()
	tok, err := authn.SignToken(s.key, authn.TokenClaims{UserID: r.ID, Email: r.Email, Role: r.Role}, now, s.ttl)
	if err != nil {
		return Token{}, err
	}
	return Token{Token: tok, ExpiresAt: now.Add(s.ttl).Truncate(time.Second).UTC()}, nil
}

// begin asks the throttle to admit a login attempt. When only the
// account's budget refuses it, an address the account has logged in from
// within KnownSourceTTL is let through: that is how the owner gets in while
// somebody else fails logins to the account from other addresses. The
// database is only asked then, so an ordinary login costs no query here.
// It reports whether the attempt was let through as exempt.
func (s *service) begin(ctx context.Context, account, client string) (exempt bool, err error) {
	now := s.now()
	wait, byAccount := s.throttle.Begin(account, client, false, now)
	if wait > 0 && byAccount {
		known, err := s.store.KnownSource(ctx, account, client, now.Add(-KnownSourceTTL))
		if err != nil {
			return false, err
		}
		if known {
			wait, _ = s.throttle.Begin(account, client, true, now)
			exempt = true
		}
	}
	if wait > 0 {
		return false, &ThrottledError{RetryAfter: wait}
	}
	return exempt, nil
}

// refund takes back the failure begin counted for an attempt that ended
// in the service's own error or the caller's cancellation.
func (s *service) refund(begun, exempt bool, account, client string) {
	if begun {
		s.throttle.Refund(account, client, exempt)
	}
}

// remember records client as a known address of r's account, at most once
// a day per address. A failure to record it is logged, not returned: the
// password was right, and the cost is only that this address is not
// exempt from the account's budget.
func (s *service) remember(ctx context.Context, r Record, client string) {
	now := s.now()
	known, err := s.store.KnownSource(ctx, r.Email, client, now.Add(-24*time.Hour))
	if err == nil && !known {
		err = s.store.RememberSource(ctx, r.ID, client, now)
	}
	if err != nil {
		s.log.WarnContext(ctx, "users: recording a login source failed", "user", r.ID, "error", err)
	}
}

func (s *service) User(ctx context.Context, id string) (User, error) {
	r, err := s.store.ByID(ctx, id)
	if err != nil {
		return User{}, err
	}
	return r.User, nil
}

func (s *service) JWKS(context.Context) ([]byte, error) { return s.jwks, nil }

// hash and verify run the KDF under the concurrency bound.
func (s *service) hash(ctx context.Context, password string) (string, error) {
	if err := s.acquire(ctx); err != nil {
		return "", err
	}
	defer func() { <-s.kdf }()
	return s.argon.Hash(password)
}

func (s *service) verify(ctx context.Context, hash, password string) (bool, error) {
	if err := s.acquire(ctx); err != nil {
		return false, err
	}
	defer func() { <-s.kdf }()
	return VerifyPassword(hash, password)
}

func (s *service) acquire(ctx context.Context) error {
	select {
	case s.kdf <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
