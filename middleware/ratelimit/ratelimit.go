package ratelimit

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net/http"
	"strconv"
	"time"

	"golang.org/x/time/rate"

	"github.com/switchyard/switchyard/internal/clock"
	"github.com/switchyard/switchyard/middleware/tracing"
)

// Limiter admits or refuses requests. [Global] and [PerKey] implement it.
type Limiter interface {
	// Acquire takes a token for key (ignored by a global limiter). It
	// returns nil when the request may proceed, an [*Error] when it is
	// over the rate, or, in wait mode, the context's error wrapped if ctx
	// ended while waiting.
	Acquire(ctx context.Context, key string) error
}

// ErrLimited is wrapped by every [*Error].
var ErrLimited = errors.New("ratelimit: rate limit exceeded")

// ErrInvalid is wrapped by the panic of a constructor given a rate that is
// not positive or a burst below 1.
var ErrInvalid = errors.New("ratelimit: invalid rate or burst")

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
	s := int64(math.Ceil(e.RetryAfter.Seconds()))
	if s < 1 {
		s = 1
	}
	return s
}

// Headers returns the Retry-After header, for go-kit's transport/http
// error encoder (its Headerer interface).
func (e *Error) Headers() http.Header {
	return http.Header{"Retry-After": {strconv.FormatInt(e.RetryAfterSeconds(), 10)}}
}

// Option configures a limiter.
type Option func(*config)

type config struct {
	clock     clock.Clock
	wait      bool
	maxWait   time.Duration
	maxKeys   int
	onLimited func(key string)
}

// DefaultMaxKeys is how many keys a [PerKey] limiter holds by default.
const DefaultMaxKeys = 100000

func newConfig(opts []Option) config {
	c := config{clock: clock.Real{}, maxKeys: DefaultMaxKeys}
	for _, o := range opts {
		o(&c)
	}
	return c
}

// WithClock sets the clock the buckets are driven by. Default the real
// clock; tests pass a fake.
func WithClock(c clock.Clock) Option { return func(cfg *config) { cfg.clock = clock.OrReal(c) } }

// WithWait selects wait mode: a request over the rate waits for its token
// instead of failing, for at most maxWait (0 means no limit other than the
// context's deadline). A request whose wait would end after its context's
// deadline, or after maxWait, fails at once with an [*Error]. The default
// is error mode.
func WithWait(maxWait time.Duration) Option {
	return func(cfg *config) { cfg.wait, cfg.maxWait = true, maxWait }
}

// WithMaxKeys caps the number of keys a [PerKey] limiter holds (default
// [DefaultMaxKeys]). Non-positive values keep the default.
func WithMaxKeys(n int) Option {
	return func(cfg *config) {
		if n > 0 {
			cfg.maxKeys = n
		}
	}
}

// WithOnLimited sets a hook called, outside every lock, for each refused
// request with its key. Use it to count refusals; do not use the key as a
// metric label, since keys are unbounded.
func WithOnLimited(f func(key string)) Option { return func(cfg *config) { cfg.onLimited = f } }

func validate(r rate.Limit, burst int) {
	if !(r > 0) || burst < 1 {
		panic(fmt.Errorf("%w: rate %v, burst %d", ErrInvalid, r, burst))
	}
}

// retryAfter returns how long until lim has one token at now.
func retryAfter(lim *rate.Limiter, now time.Time) time.Duration {
	missing := 1 - lim.TokensAt(now)
	if missing <= 0 {
		return 0
	}
	return time.Duration(math.Ceil(missing / float64(lim.Limit()) * float64(time.Second)))
}

// Global is one token bucket shared by every request. Create it with
// [NewGlobal]; it is safe for concurrent use.
type Global struct {
	lim *rate.Limiter
	cfg config
}

var _ Limiter = (*Global)(nil)

// NewGlobal returns a limiter that admits r requests per second on
// average and bursts of up to burst requests (rate.Inf admits all). It
// panics if r is not positive or burst is below 1.
func NewGlobal(r rate.Limit, burst int, opts ...Option) *Global {
	validate(r, burst)
	return &Global{lim: rate.NewLimiter(r, burst), cfg: newConfig(opts)}
}

// Acquire implements [Limiter]; key is ignored.
func (g *Global) Acquire(ctx context.Context, key string) error {
	now := g.cfg.clock.Now()
	if g.lim.AllowN(now, 1) {
		return nil
	}
	if !g.cfg.wait {
		return g.cfg.refuse(ctx, key, retryAfter(g.lim, now), "rate_exceeded")
	}
	return g.cfg.wait1(ctx, key, g.lim.ReserveN(now, 1), now)
}

// Limiter returns the underlying bucket, for changing its rate or burst
// at run time (SetLimitAt, SetBurstAt).
func (g *Global) Limiter() *rate.Limiter { return g.lim }

func (c *config) refuse(ctx context.Context, key string, d time.Duration, reason string) error {
	tracing.Event(ctx, evLimit, reason)
	if c.onLimited != nil {
		c.onLimited(key)
	}
	return &Error{RetryAfter: d}
}

// wait1 waits for the reservation r, made at now, unless that would take
// too long.
func (c *config) wait1(ctx context.Context, key string, r *rate.Reservation, now time.Time) error {
	d := r.DelayFrom(now)
	if d == 0 {
		return nil
	}
	if c.maxWait > 0 && d > c.maxWait {
		r.CancelAt(now)
		return c.refuse(ctx, key, d, "wait_exceeds_max")
	}
	if dl, ok := ctx.Deadline(); ok && time.Until(dl) < d {
		r.CancelAt(now)
		return c.refuse(ctx, key, d, "wait_exceeds_deadline")
	}
	tracing.Event(ctx, evWait, "token_delay")
	done := make(chan struct{})
	stop := c.clock.AfterFunc(d, func() { close(done) })
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		stop()
		r.CancelAt(c.clock.Now())
		return fmt.Errorf("ratelimit: waiting for a token: %w", ctx.Err())
	}
}

const (
	evLimit = "switchyard.ratelimit.limit"
	evWait  = "switchyard.ratelimit.wait"
)
