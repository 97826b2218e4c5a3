package concurrency

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/switchyard/switchyard/middleware/tracing"
	"github.com/switchyard/switchyard/outcome"
)

// ErrLimitExceeded is wrapped by every [*Error].
var ErrLimitExceeded = errors.New("concurrency: limit exceeded")

// Error is returned for a call that was shed. It wraps
// [ErrLimitExceeded], reports HTTP status 503 and Temporary() == true, so
// outcome.Default classifies it as a server failure (this instance is
// overloaded; another may not be).
type Error struct {
	// Limit is the limit in force when the call was shed.
	Limit int
}

func (e *Error) Error() string {
	return fmt.Sprintf("concurrency: limit of %d calls in flight reached", e.Limit)
}

// Unwrap returns [ErrLimitExceeded].
func (e *Error) Unwrap() error { return ErrLimitExceeded }

// StatusCode returns 503 Service Unavailable.
func (e *Error) StatusCode() int { return http.StatusServiceUnavailable }

// Temporary returns true.
func (e *Error) Temporary() bool { return true }

// DefaultRetryAfter is the Retry-After [Limiter.Handler] sends by default.
const DefaultRetryAfter = time.Second

// Config configures a [Limiter]. The zero value is valid: an adaptive
// limit with the defaults of [Adaptive], shedding at once.
type Config struct {
	// Limit, if positive, fixes the limit at Limit calls in flight: a
	// bulkhead. Zero (the default) makes the limit adaptive, tuned by
	// Adaptive. Negative is invalid.
	Limit int

	// Adaptive tunes the adaptive limit; its zero value takes the
	// defaults written on each field. It must be left zero with a fixed
	// Limit.
	Adaptive Adaptive

	// Wait makes calls over the limit wait, in arrival order, for a slot
	// instead of failing; a waiting call gives up when its context ends.
	// The default is to shed at once.
	Wait bool

	// Classifier decides which outcomes are latency samples for the
	// adaptive limit: calls the caller cancelled (outcome.Canceled,
	// Aborted, Skipped: see Class.Neutral) are not. nil means
	// outcome.Default.
	Classifier outcome.Classifier

	// RetryAfter is the Retry-After that [Limiter.Handler] sends with a
	// 503, rounded up to whole seconds. Default [DefaultRetryAfter] (1s);
	// negative is invalid.
	RetryAfter time.Duration

	// Hooks are called on the limiter's events. The zero value calls
	// nothing.
	Hooks Hooks
}

// Hooks are functions a [Limiter] calls on its events. Each nil field is
// not called. Hooks are called outside every lock, on the goroutine of the
// call concerned; they must not block.
type Hooks struct {
	// OnLimitChange is called with the old and the new limit each time an
	// adaptive limit changes. Use it for a gauge.
	OnLimitChange func(from, to int)
}

// ErrConfig is wrapped by the error [New] returns for an invalid [Config].
var ErrConfig = errors.New("concurrency: invalid configuration")

// Limiter caps the number of calls in flight. Create it with [New]; the
// zero value is not usable. All methods are safe for concurrent use.
// [Limiter.Endpoint] and [Limiter.Handler] run calls under its slots.
//
// Admission is lock-free (a compare-and-swap on the in-flight count) unless
// calls are waiting; only queueing takes a mutex.
type Limiter struct {
	limit    atomic.Int64
	inflight atomic.Int64
	nwait    atomic.Int64 // callers queued or about to be

	mu      sync.Mutex // guards waiters
	waiters []*waiter

	wait       bool
	classify   outcome.Classifier
	onChange   func(from, to int)
	retryAfter time.Duration
	adapt      *gradient // nil for a fixed limit
}

type waiter struct {
	ch      chan struct{}
	granted bool // guarded by Limiter.mu
}

// New returns a limiter with a fixed or an adaptive limit, as cfg says, or
// an error wrapping [ErrConfig] if cfg is invalid.
func New(cfg Config) (*Limiter, error) {
	switch {
	case cfg.Limit < 0:
		return nil, fmt.Errorf("%w: negative Limit", ErrConfig)
	case cfg.Limit > 0 && cfg.Adaptive != (Adaptive{}):
		return nil, fmt.Errorf("%w: Adaptive set with a fixed Limit", ErrConfig)
	case cfg.RetryAfter < 0:
		return nil, fmt.Errorf("%w: negative RetryAfter", ErrConfig)
	}
	l := &Limiter{
		wait:       cfg.Wait,
		classify:   outcome.Or(cfg.Classifier),
		onChange:   cfg.Hooks.OnLimitChange,
		retryAfter: cfg.RetryAfter,
	}
	if l.retryAfter == 0 {
		l.retryAfter = DefaultRetryAfter
	}
	if cfg.Limit > 0 {
		l.limit.Store(int64(cfg.Limit))
		return l, nil
	}
	a, err := cfg.Adaptive.withDefaults()
	if err != nil {
		return nil, err
	}
	l.limit.Store(int64(a.Initial))
	g := &gradient{cfg: a, estimate: float64(a.Initial)}
	g.windowEnd.Store(time.Now().Add(a.Window).UnixNano())
	l.adapt = g
	return l, nil
}

// Limit returns the current limit.
func (l *Limiter) Limit() int { return int(l.limit.Load()) }

// InFlight returns the number of calls admitted and not yet released.
func (l *Limiter) InFlight() int { return int(l.inflight.Load()) }

// Token is an admitted call's slot. Release it exactly once, when the call
// is over. The zero Token releases nothing.
type Token struct {
	l     *Limiter
	start time.Time // zero unless the limit is adaptive
	n     int64     // calls in flight when this one was admitted
}

// tryAcquire takes a slot if one is free.
func (l *Limiter) tryAcquire() (int64, bool) {
	for {
		n := l.inflight.Load()
		if n >= l.limit.Load() {
			return 0, false
		}
		if l.inflight.CompareAndSwap(n, n+1) {
			return n + 1, true
		}
	}
}

// Acquire admits a call or sheds it. It returns a [*Error] when the limit
// is reached (or, in wait mode, the context's error wrapped if ctx ends
// first).
func (l *Limiter) Acquire(ctx context.Context) (Token, error) {
	if l.nwait.Load() == 0 {
		if n, ok := l.tryAcquire(); ok {
			return l.token(n), nil
		}
	}
	if !l.wait {
		return Token{}, l.shed(ctx, "limit_reached")
	}
	return l.enqueue(ctx)
}

func (l *Limiter) token(n int64) Token {
	t := Token{l: l, n: n}
	if l.adapt != nil {
		t.start = time.Now()
	}
	return t
}

func (l *Limiter) shed(ctx context.Context, reason string) error {
	tracing.Event(ctx, evShed, reason)
	return &Error{Limit: l.Limit()}
}

func (l *Limiter) enqueue(ctx context.Context) (Token, error) {
	if err := ctx.Err(); err != nil {
		return Token{}, fmt.Errorf("concurrency: %w", err)
	}
	l.mu.Lock()
	// Announce the waiter before the last try, so that a release racing
	// with us either frees the slot we then take, or sees us and hands
	// the slot over.
	l.nwait.Add(1)
	if len(l.waiters) == 0 {
		if n, ok := l.tryAcquire(); ok {
			l.nwait.Add(-1)
			l.mu.Unlock()
			return l.token(n), nil
		}
	}
	w := &waiter{ch: make(chan struct{})}
	l.waiters = append(l.waiters, w)
	l.mu.Unlock()

	select {
	case <-w.ch:
		return l.token(l.inflight.Load()), nil
	case <-ctx.Done():
	}
	l.mu.Lock()
	if w.granted {
		// The slot arrived as we gave up: pass it on.
		l.mu.Unlock()
		l.release()
	} else {
		for i, x := range l.waiters {
			if x == w {
				l.waiters = append(l.waiters[:i], l.waiters[i+1:]...)
				break
			}
		}
		l.nwait.Add(-1)
		l.mu.Unlock()
	}
	tracing.Event(ctx, evShed, "wait_canceled")
	return Token{}, fmt.Errorf("concurrency: waiting for a slot: %w", ctx.Err())
}

// release frees a slot and hands free slots to waiters.
func (l *Limiter) release() {
	l.inflight.Add(-1)
	if l.nwait.Load() != 0 {
		l.mu.Lock()
		l.grantLocked()
		l.mu.Unlock()
	}
}

// grantLocked admits queued callers while there is room. Called with mu.
func (l *Limiter) grantLocked() {
	for len(l.waiters) > 0 {
		if _, ok := l.tryAcquire(); !ok {
			return
		}
		w := l.waiters[0]
		l.waiters[0] = nil
		l.waiters = l.waiters[1:]
		w.granted = true
		l.nwait.Add(-1)
		close(w.ch)
	}
}

// Release ends the call: it frees the slot and, for an adaptive limit,
// records the call's latency unless the classifier says the caller
// cancelled it. ctx is the call's context (its span receives limit
// events); err is the call's result.
func (t Token) Release(ctx context.Context, err error) {
	l := t.l
	if l == nil {
		return
	}
	if l.adapt != nil && !l.classify(ctx, err).Neutral() {
		now := time.Now()
		l.adapt.sample(ctx, l, now, now.Sub(t.start), t.n)
	}
	l.release()
}

// setLimit publishes a new limit and admits waiters if it grew.
func (l *Limiter) setLimit(n int) {
	old := l.limit.Swap(int64(n))
	if int64(n) > old && l.nwait.Load() != 0 {
		l.mu.Lock()
		l.grantLocked()
		l.mu.Unlock()
	}
}

const (
	evShed  = "switchyard.concurrency.shed"
	evLimit = "switchyard.concurrency.limit"
)
