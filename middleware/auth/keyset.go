package auth

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// Errors about keys. A token rejected for one of them fails with an error
// that also wraps [ErrInvalidToken].
var (
	// ErrUnknownKey: no key with the token's "kid", even after a refetch.
	ErrUnknownKey = errors.New("auth: unknown key id")
	// ErrKeyMismatch: the key named by "kid" cannot verify the token's
	// algorithm.
	ErrKeyMismatch = errors.New("auth: key does not fit the token's algorithm")
	// ErrFetch is wrapped by the errors of [FetchURL] and of a [JWKS]
	// whose fetch failed.
	ErrFetch = errors.New("auth: cannot fetch JWKS")
)

// KeySet finds the key that verifies a token. Implementations must be safe
// for concurrent use.
type KeySet interface {
	// Key returns the public key with ID kid for verifying a token signed
	// with alg. It fails with an error wrapping [ErrUnknownKey] when there
	// is no such key and [ErrKeyMismatch] when the key cannot verify alg.
	Key(ctx context.Context, kid, alg string) (any, error)
}

// HMACKey returns a KeySet holding one shared secret, for validators that
// check HMAC-signed tokens (HS256, HS384, HS512). The secret must be at
// least 32 bytes. A validator built on it accepts only HMAC algorithms, and
// one built on any other KeySet never accepts them. The token's "kid", if
// any, is ignored. The secret is copied.
func HMACKey(secret []byte) KeySet {
	return hmacKey{secret: append([]byte(nil), secret...)}
}

// MinHMACKeySize is the shortest secret [New] accepts with
// [HMACKey]: the output size of SHA-256, as RFC 7518 requires for HS256.
const MinHMACKeySize = 32

type hmacKey struct{ secret []byte }

func (k hmacKey) Key(_ context.Context, _, alg string) (any, error) {
	switch alg {
	case "HS256", "HS384", "HS512":
		return k.secret, nil
	}
	return nil, fmt.Errorf("%w: %s with a shared secret", ErrKeyMismatch, alg)
}

// StaticKeys returns a KeySet of fixed keys, for tests and for a service
// that verifies its own tokens. Keys without ID are ignored.
func StaticKeys(keys ...Key) KeySet {
	m := make(map[string]Key, len(keys))
	for _, k := range keys {
		if k.ID != "" {
			m[k.ID] = k
		}
	}
	return staticKeys(m)
}

type staticKeys map[string]Key

func (s staticKeys) Key(_ context.Context, kid, alg string) (any, error) {
	k, ok := s[kid]
	if !ok {
		return nil, fmt.Errorf("%w: %q", ErrUnknownKey, kid)
	}
	return k.verifier(alg)
}

// verifier returns k's public key if it may verify alg.
func (k Key) verifier(alg string) (any, error) {
	if (k.Alg != "" && k.Alg != alg) || !algFits(alg, k.Public) {
		return nil, fmt.Errorf("%w: key %q (%s, alg %q) for %s", ErrKeyMismatch, k.ID, keyKind(k.Public), k.Alg, alg)
	}
	return k.Public, nil
}

// FetchFunc returns the current JWKS document. It is called with a
// context bounded by the JWKS's fetch timeout.
type FetchFunc func(ctx context.Context) ([]byte, error)

// FetchURL returns a FetchFunc that GETs url with client (nil means a
// client with a 10-second timeout) and returns the body of a 200 answer.
// Other statuses and bodies larger than [MaxJWKSSize] are errors wrapping
// [ErrFetch].
func FetchURL(url string, client *http.Client) FetchFunc {
	if client == nil {
		client = &http.Client{Timeout: 10 * time.Second}
	}
	return func(ctx context.Context) ([]byte, error) {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return nil, fmt.Errorf("%w: %w", ErrFetch, err)
		}
		req.Header.Set("Accept", "application/jwk-set+json, application/json")
		resp, err := client.Do(req)
		if err != nil {
			return nil, fmt.Errorf("%w: %w", ErrFetch, err)
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			io.Copy(io.Discard, io.LimitReader(resp.Body, 4096))
			return nil, fmt.Errorf("%w: %s answered %s", ErrFetch, url, resp.Status)
		}
		body, err := io.ReadAll(io.LimitReader(resp.Body, MaxJWKSSize+1))
		if err != nil {
			return nil, fmt.Errorf("%w: %w", ErrFetch, err)
		}
		if len(body) > MaxJWKSSize {
			return nil, fmt.Errorf("%w: document exceeds %d bytes", ErrFetch, MaxJWKSSize)
		}
		return body, nil
	}
}

// Defaults of [JWKS].
const (
	// DefaultMinRefreshInterval is the least time between two fetches
	// caused by tokens with unknown key IDs or by stale keys.
	DefaultMinRefreshInterval = 30 * time.Second
	// DefaultMaxAge is how long fetched keys are used before the next
	// lookup refetches them.
	DefaultMaxAge = 10 * time.Minute
	// DefaultFetchTimeout bounds one fetch.
	DefaultFetchTimeout = 5 * time.Second
	// emptyRetryInterval replaces the minimum refresh interval while no
	// document has ever been fetched, so that a gateway that starts before
	// the signer recovers within a second of the signer's arrival.
	emptyRetryInterval = time.Second
)

// JWKSConfig configures [NewJWKS]. The zero value is valid: every field's
// zero value is the default written beside it.
type JWKSConfig struct {
	// MinRefreshInterval is the least time between two fetches caused by
	// tokens with unknown key IDs or by stale keys ([JWKS.Refresh] is not
	// limited). Zero means [DefaultMinRefreshInterval]; anything else
	// below one second is an error from [NewJWKS]. Until a first fetch has
	// succeeded, fetches may come once a second whatever this says.
	MinRefreshInterval time.Duration
	// MaxAge is how long fetched keys are used before the next lookup
	// refetches them. Zero means [DefaultMaxAge]; negative is an error.
	MaxAge time.Duration
	// FetchTimeout bounds each fetch. Zero means [DefaultFetchTimeout];
	// negative is an error.
	FetchTimeout time.Duration
}

// JWKS is a [KeySet] that fetches a JWKS document, caches its keys, and
// fetches again when a token names an unknown key (at most once per
// minimum refresh interval) or the keys are older than the maximum age.
// Fetches happen on the caller's goroutine, one at a time: concurrent
// lookups that need the same fetch wait for it. A failed fetch or an
// invalid document leaves the cached keys in place.
//
// A JWKS starts no goroutine. Create it with [NewJWKS]; the zero value is
// not usable. It is safe for concurrent use.
type JWKS struct {
	fetch       FetchFunc
	now         func() time.Time // time.Now; tests set it through export_test.go
	minInterval time.Duration
	maxAge      time.Duration
	timeout     time.Duration

	keys atomic.Pointer[fetchedKeys] // nil until the first good fetch

	mu          sync.Mutex // guards lastAttempt and inflight
	lastAttempt time.Time
	inflight    *fetchCall
	fetches     atomic.Int64
}

type fetchedKeys struct {
	keys map[string]Key
	at   time.Time
}

type fetchCall struct {
	done chan struct{}
	err  error
}

// NewJWKS returns a key set that fetches its document with fetch,
// configured by cfg. Nothing is fetched until the first lookup or
// [JWKS.Refresh]. It fails with an error wrapping [ErrConfig] when fetch is
// nil or cfg holds a value out of range.
func NewJWKS(fetch FetchFunc, cfg JWKSConfig) (*JWKS, error) {
	if fetch == nil {
		return nil, fmt.Errorf("%w: nil FetchFunc", ErrConfig)
	}
	s := &JWKS{
		fetch:       fetch,
		now:         time.Now,
		minInterval: DefaultMinRefreshInterval,
		maxAge:      DefaultMaxAge,
		timeout:     DefaultFetchTimeout,
	}
	switch d := cfg.MinRefreshInterval; {
	case d == 0:
	case d < time.Second:
		return nil, fmt.Errorf("%w: MinRefreshInterval %v is below one second", ErrConfig, d)
	default:
		s.minInterval = d
	}
	for _, f := range []struct {
		name string
		in   time.Duration
		out  *time.Duration
	}{{"MaxAge", cfg.MaxAge, &s.maxAge}, {"FetchTimeout", cfg.FetchTimeout, &s.timeout}} {
		switch {
		case f.in < 0:
			return nil, fmt.Errorf("%w: negative %s", ErrConfig, f.name)
		case f.in > 0:
			*f.out = f.in
		}
	}
	return s, nil
}

// Key returns the key with ID kid for verifying alg, fetching the document
// first if the key is unknown or the keys are stale and the rate limit
// allows it.
func (s *JWKS) Key(ctx context.Context, kid, alg string) (any, error) {
	now := s.now()
	cur := s.keys.Load()
	if cur != nil {
		if k, ok := cur.keys[kid]; ok && now.Sub(cur.at) < s.maxAge {
			return k.verifier(alg)
		}
	}
	// Unknown kid, nothing fetched yet, or stale keys: fetch if allowed.
	fetchErr := s.refresh(ctx, false)
	if cur = s.keys.Load(); cur != nil {
		if k, ok := cur.keys[kid]; ok {
			return k.verifier(alg)
		}
	}
	if fetchErr != nil {
		return nil, fmt.Errorf("%w: %q: %w", ErrUnknownKey, kid, fetchErr)
	}
	return nil, fmt.Errorf("%w: %q", ErrUnknownKey, kid)
}

// errRateLimited means a fetch was due but the rate limit held it back.
var errRateLimited = errors.New("auth: JWKS refetch rate-limited")

// Refresh fetches the document now, whatever the rate limit, and replaces
// the cached keys if it is valid. A fetch already in progress is joined
// rather than repeated.
func (s *JWKS) Refresh(ctx context.Context) error { return s.refresh(ctx, true) }

// Fetches reports how many fetches have been started, for tests and
// metrics.
func (s *JWKS) Fetches() int64 { return s.fetches.Load() }

func (s *JWKS) refresh(ctx context.Context, force bool) error {
	s.mu.Lock()
	if c := s.inflight; c != nil {
		s.mu.Unlock()
		select {
		case <-c.done:
			return c.err
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	now := s.now()
	interval := s.minInterval
	if s.keys.Load() == nil {
		interval = min(interval, emptyRetryInterval)
	}
	if !force && !s.lastAttempt.IsZero() && now.Sub(s.lastAttempt) < interval {
		s.mu.Unlock()
		return errRateLimited
	}
	s.lastAttempt = now
	c := &fetchCall{done: make(chan struct{})}
	s.inflight = c
	s.mu.Unlock()

	defer func() {
		// Even if fetch panics, release the waiters.
		s.mu.Lock()
		s.inflight = nil
		s.mu.Unlock()
		close(c.done)
	}()
	c.err = s.doFetch(ctx)
	return c.err
}

func (s *JWKS) doFetch(ctx context.Context) error {
	s.fetches.Add(1)
	// Waiters share this fetch, so one caller's cancellation must not fail
	// it for all; the timeout bounds it instead.
	fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.timeout)
	defer cancel()
	body, err := s.fetch(fctx)
	if err != nil {
		if !errors.Is(err, ErrFetch) {
			err = fmt.Errorf("%w: %w", ErrFetch, err)
		}
		return err
	}
	keys, err := ParseJWKS(body)
	if err != nil {
		return err
	}
	s.keys.Store(&fetchedKeys{keys: keys, at: s.now()})
	return nil
}
