package ratelimit

import (
	"context"
	"errors"
	"fmt"
	"github.com/switchyard/switchyard/internal/httperr"
	"hash/maphash"
	"math"
	"net/http"
	"strconv"
	"time"

	"golang.org/x/time/rate"

	"github.com/switchyard/switchyard/internal/clock"
	"github.com/switchyard/switchyard/middleware/tracing"
)

// ErrLimited is wrapped by every [*Error].
var ErrLimited = errors.New("ratelimit: rate limit exceeded")

// ErrConfig is wrapped by the error [New] returns for an invalid rate,
// burst or [Config].
var ErrConfig = errors.New("ratelimit: invalid configuration")

// Error is returned for a request over the rate. It wraps [ErrLimited].
//
// It reports HTTP status 429 (outcome.Default: the caller's fault — a
// client can exceed a limit on purpose, so it never counts against an
// instance) and, for go-kit's default error encoder, a Retry-After
// header.
type Error struct {
	// RetryAfter is how long until a token will be available, at the rate
	// the limiter had when it refused the request.
	RetryAfter time.Duration
}

func (e *Error) Error() string {
	return "ratelimit: rate limit exceeded, retry after " + e.RetryAfter.String()
}

// Unwrap returns [ErrLimited].
func (e *Error) Unwrap() error { return ErrLimited }

// StatusCode returns 429 Too Many Requests.
func (e *Error) StatusCode() int { return http.StatusTooManyRequests }

// RetryAfterSeconds returns RetryAfter in whole seconds, rounded up, and at
// least 1, as the Retry-After header carries it.
func (e *Error) RetryAfterSeconds() int64 {
	return httperr.RetryAfterSeconds(e.RetryAfter)
}

// Headers returns the Retry-After header, for go-kit's transport/http
// error encoder (its Headerer interface).
func (e *Error) Headers() http.Header {
	return http.Header{"Retry-After": {strconv.FormatInt(e.RetryAfterSeconds(), 10)}}
}

// DefaultMaxKeys is how many keys a per-key [Limiter] holds by default.
const DefaultMaxKeys = 100000

// Config configures a [Limiter]. The zero value is valid: one global
// bucket in error mode, with no hooks.
type Config struct {
	// Key picks the bucket of a call made through [Limiter.Endpoint] (a
	// user ID placed in the context by auth, a tenant in the request).
	// HTTPKey does the same for [Limiter.Handler] (see [RemoteIP]). A
	// limiter with either keeps one bucket per key, and a face without
	// its key function uses the empty key. With neither (the default) the
	// limiter is global: one bucket shared by every request, and
	// [Limiter.Acquire] ignores its key.
	Key     KeyFunc
	HTTPKey HTTPKeyFunc

	// Wait selects wait mode: a request over the rate waits for its token
	// instead of failing, for at most MaxWait (0, the default, means no
	// limit other than the context's deadline). A request whose wait
	// would end after its context's deadline, or after MaxWait, fails at
	// once with an [*Error]. The default is error mode: fail at once.
	// MaxWait without Wait, or a negative MaxWait, is invalid.
	Wait    bool
	MaxWait time.Duration

	// MaxKeys caps the number of keys a per-key limiter holds. Default
	// [DefaultMaxKeys]; negative is invalid. A global limiter ignores it.
	MaxKeys int

	// Hooks are called on the limiter's events. The zero value calls
	// nothing.
	Hooks Hooks
}

// Hooks are functions a [Limiter] calls on its events. Each nil field is
// not called. Hooks are called outside every lock, on the goroutine of the
// request concerned; they must not block.
type Hooks struct {
	// OnLimited is called for each refused request with its key (the
	// empty key for a global limiter), before the refusal is returned. Use
	// it to count refusals; do not use the key as a metric label, since
	// keys are unbounded.
	OnLimited func(key string)
}

func (c Config) validate(r rate.Limit, burst int) error {
	switch {
	case !(r > 0) || burst < 1:
		return fmt.Errorf("%w: rate %v, burst %d (want rate > 0 and burst ≥ 1)", ErrConfig, r, burst)
	case c.MaxWait < 0:
		return fmt.Errorf("%w: negative MaxWait", ErrConfig)
	case c.MaxWait > 0 && !c.Wait:
		return fmt.Errorf("%w: MaxWait without Wait", ErrConfig)
	case c.MaxKeys < 0:
		return fmt.Errorf("%w: negative MaxKeys", ErrConfig)
	}
	return nil
}

// retryAfter returns how long until lim has one token at now.
func retryAfter(lim *rate.Limiter, now time.Time) time.Duration {
	missing := 1 - lim.TokensAt(now)
	if missing <= 0 {
		return 0
	}
	return time.Duration(math.Ceil(missing / float64(lim.Limit()) * float64(time.Second)))
}

// Limiter admits requests at a steady rate with room for bursts: one
// token bucket, or one per key (see [Config.Key]). Create it with [New];
// the zero value is not usable. It is safe for concurrent use.
//
// A per-key limiter spreads its keys over up to 64 shards (of at least 64
// keys), each with its own mutex, map and slot array. A shard that is
// full makes room with a clock sweep: a new key starts unmarked, every
// later use marks it, and the sweep hand clears marks as it passes and
// evicts the first unmarked key it meets. So a key used once (a scan, a
// flood of made-up keys) goes first, and a key used again before the hand
// comes round survives.
type Limiter struct {
	r     rate.Limit
	burst int

	global *rate.Limiter // the bucket of a global limiter; nil when per key
	seed   maphash.Seed
	shards []keyShard

	key       KeyFunc
	httpKey   HTTPKeyFunc
	wait      bool
	maxWait   time.Duration
	onLimited func(key string)
	clock     clock.Clock // the real clock; tests with real I/O replace it (export_test.go)
}

// New returns a limiter that admits r requests per second on average and
// bursts of up to burst requests (rate.Inf admits all), globally or per
// key as cfg says. It returns an error wrapping [ErrConfig] if r is not
// positive, burst is below 1 or cfg is invalid.
func New(r rate.Limit, burst int, cfg Config) (*Limiter, error) {
	if err := cfg.validate(r, burst); err != nil {
		return nil, err
	}
	l := &Limiter{
		r: r, burst: burst,
		key: cfg.Key, httpKey: cfg.HTTPKey,
		wait: cfg.Wait, maxWait: cfg.MaxWait,
		onLimited: cfg.Hooks.OnLimited,
		clock:     clock.Real{},
	}
	if cfg.Key == nil && cfg.HTTPKey == nil {
		l.global = rate.NewLimiter(r, burst)
		return l, nil
	}
	maxKeys := cfg.MaxKeys
	if maxKeys == 0 {
		maxKeys = DefaultMaxKeys
	}
	l.seed = maphash.MakeSeed()
	n := min(maxShards, max(1, maxKeys/minShardKeys))
	l.shards = make([]keyShard, n)
	for i := range l.shards {
		s := &l.shards[i]
		s.max = maxKeys / n
		if i < maxKeys%n {
			s.max++
		}
		s.idx = make(map[string]int32)
	}
	return l, nil
}

// Acquire takes a token for key (ignored by a global limiter). It returns
// nil when the request may proceed, an [*Error] when it is over the rate,
// or, in wait mode, the context's error wrapped if ctx ended while
// waiting.
func (l *Limiter) Acquire(ctx context.Context, key string) error {
	now := l.clock.Now()
	if l.global != nil {
		if l.global.AllowN(now, 1) {
			return nil
		}
		if !l.wait {
			return l.refuse(ctx, key, retryAfter(l.global, now), "rate_exceeded")
		}
		return l.wait1(ctx, key, l.global.ReserveN(now, 1), now)
	}
	s := &l.shards[maphash.String(l.seed, key)%uint64(len(l.shards))]
	s.mu.Lock()
	lim := s.bucket(key, l)
	if lim.AllowN(now, 1) {
		s.mu.Unlock()
		return nil
	}
	if !l.wait {
		d := retryAfter(lim, now)
		s.mu.Unlock()
		return l.refuse(ctx, key, d, "rate_exceeded")
	}
	r := lim.ReserveN(now, 1)
	s.mu.Unlock()
	return l.wait1(ctx, key, r, now)
}

// Len returns the number of keys a per-key limiter holds; 0 for a global
// limiter.
func (l *Limiter) Len() int {
	n := 0
	for i := range l.shards {
		s := &l.shards[i]
		s.mu.Lock()
		n += len(s.slots)
		s.mu.Unlock()
	}
	return n
}

func (l *Limiter) refuse(ctx context.Context, key string, d time.Duration, reason string) error {
	tracing.Event(ctx, evLimit, reason)
	if l.onLimited != nil {
		l.onLimited(key)
	}
	return &Error{RetryAfter: d}
}

// wait1 waits for the reservation r, made at now, unless that would take
// too long.
func (l *Limiter) wait1(ctx context.Context, key string, r *rate.Reservation, now time.Time) error {
	d := r.DelayFrom(now)
	if d == 0 {
		return nil
	}
	if l.maxWait > 0 && d > l.maxWait {
		r.CancelAt(now)
		return l.refuse(ctx, key, d, "wait_exceeds_max")
	}
	if dl, ok := ctx.Deadline(); ok && dl.Sub(now) < d {
		r.CancelAt(now)
		return l.refuse(ctx, key, d, "wait_exceeds_deadline")
	}
	tracing.Event(ctx, evWait, "token_delay")
	done := make(chan struct{})
	stop := l.clock.AfterFunc(d, func() { close(done) })
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		stop()
		r.CancelAt(l.clock.Now())
		return fmt.Errorf("ratelimit: waiting for a token: %w", ctx.Err())
	}
}

const (
	evLimit = "switchyard.ratelimit.limit"
	evWait  = "switchyard.ratelimit.wait"
)
