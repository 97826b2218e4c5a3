package retry

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/go-kit/kit/endpoint"

	"github.com/switchyard/switchyard/internal/clock"
	"github.com/switchyard/switchyard/outcome"
)

// Attempt limits and defaults.
const (
	// MaxAttempts is the most attempts (first try included) any retry
	// layer makes; [WithMaxAttempts] refuses more.
	MaxAttempts = 5
	// DefaultMaxAttempts is the attempts made when no [WithMaxAttempts]
	// is given: the first try and two retries.
	DefaultMaxAttempts = 3
	// DefaultMinAttemptTime is the least time before the caller's deadline
	// that a retry needs to be worth starting: 1 ms.
	DefaultMinAttemptTime = time.Millisecond
)

// ErrInvalidOption is wrapped by the errors of [New], [NewBudget],
// [NewHTTPClient] and [NewTransport] when an option is out of range.
var ErrInvalidOption = errors.New("retry: invalid option")

// Hooks are functions called on retry decisions, for metrics. Each may be
// nil (the default), which skips it. They are called on the calling
// goroutine, never under a lock, and must be safe for concurrent use.
type Hooks struct {
	// OnRetry is called when a retry has been granted, before its backoff,
	// with the number of the attempt about to be made (2 for the first
	// retry) and the error that caused it.
	OnRetry func(attempt int, err error)
	// OnBudgetExhausted is called when the Budget refuses a retry that
	// the policy allowed.
	OnBudgetExhausted func()
	// OnDeadline is called when a retry is given up because the backoff
	// and a minimal attempt would not fit before the caller's deadline.
	OnDeadline func()
}

// Option configures [New], [NewHTTPClient] and [NewTransport].
type Option func(*config)

type config struct {
	maxAttempts int
	base, cap   time.Duration
	backoff     Backoff
	policy      Policy
	classifier  outcome.Classifier
	perTry      time.Duration
	minAttempt  time.Duration
	clk         clock.Clock
	hooks       Hooks
	transport   http.RoundTripper
}

// WithMaxAttempts sets the number of attempts, the first try included,
// between 1 and [MaxAttempts] (default [DefaultMaxAttempts]). 1 disables
// retries but keeps the layer's per-try timeout and its mark on the call
// path.
func WithMaxAttempts(n int) Option { return func(c *config) { c.maxAttempts = n } }

// WithBackoff sets the base and the cap given to the [Backoff] function
// (defaults [DefaultBase], 25 ms, and [DefaultCap], 1 s). Both must be ≥ 0
// and base ≤ cap.
func WithBackoff(base, cap time.Duration) Option {
	return func(c *config) { c.base, c.cap = base, cap }
}

// WithBackoffFunc replaces [DefaultBackoff] (full jitter). nil restores
// the default.
func WithBackoffFunc(f Backoff) Option { return func(c *config) { c.backoff = f } }

// WithPolicy replaces [DefaultPolicy]. nil restores the default. It
// overrides an earlier [WithClassifier].
func WithPolicy(p Policy) Option { return func(c *config) { c.policy = p } }

// WithClassifier sets the rule that tells server-health failures from the
// rest (default [outcome.Default]); it is shorthand for
// WithPolicy(ClassifierPolicy(cl)) and also names the reason of each span
// event. It overrides an earlier [WithPolicy].
func WithClassifier(cl outcome.Classifier) Option {
	return func(c *config) {
		c.classifier = cl
		c.policy = ClassifierPolicy(cl)
	}
}

// WithPerTryTimeout gives every attempt its own deadline, d after it
// starts (default 0: attempts share the caller's deadline only). An
// attempt that runs out of time fails with context.DeadlineExceeded,
// which [outcome.Default] counts as a server failure, so it may be
// retried while the caller's own deadline still allows.
func WithPerTryTimeout(d time.Duration) Option { return func(c *config) { c.perTry = d } }

// WithMinAttemptTime sets the least time that must remain before the
// caller's deadline once the backoff is over for a retry to start
// (default [DefaultMinAttemptTime], 1 ms).
func WithMinAttemptTime(d time.Duration) Option { return func(c *config) { c.minAttempt = d } }

// WithClock sets the clock for backoff sleeps, per-try timeouts and
// deadline checks (default the real clock). The HTTP client built by
// [NewHTTPClient] sleeps on the real clock whatever this says, because
// go-retryablehttp does its own sleeping.
func WithClock(c clock.Clock) Option { return func(cfg *config) { cfg.clk = c } }

// WithHooks sets the metrics hooks (default none).
func WithHooks(h Hooks) Option { return func(c *config) { c.hooks = h } }

// WithTransport sets the RoundTripper that [NewHTTPClient] and
// [NewTransport] send each attempt through (default
// http.DefaultTransport). [New] ignores it.
func WithTransport(rt http.RoundTripper) Option { return func(c *config) { c.transport = rt } }

// retrier holds a validated configuration and makes the retry decisions
// for both the endpoint middleware and the HTTP client.
type retrier struct {
	budget *Budget
	// going marks the attempts of New that may be followed by another,
	// last the last one (see FinalAttempt).
	going, last *layer
	config
}

func newRetrier(b *Budget, opts []Option) (*retrier, error) {
	r := &retrier{budget: b, config: config{
		maxAttempts: DefaultMaxAttempts,
		base:        DefaultBase,
		cap:         DefaultCap,
		minAttempt:  DefaultMinAttemptTime,
	}}
	for _, o := range opts {
		o(&r.config)
	}
	switch {
	case r.maxAttempts < 1 || r.maxAttempts > MaxAttempts:
		return nil, fmt.Errorf("%w: %d attempts not in [1, %d]", ErrInvalidOption, r.maxAttempts, MaxAttempts)
	case r.base < 0 || r.cap < r.base:
		return nil, fmt.Errorf("%w: backoff base %v and cap %v (want 0 ≤ base ≤ cap)", ErrInvalidOption, r.base, r.cap)
	case r.perTry < 0:
		return nil, fmt.Errorf("%w: negative per-try timeout %v", ErrInvalidOption, r.perTry)
	case r.minAttempt < 0:
		return nil, fmt.Errorf("%w: negative minimum attempt time %v", ErrInvalidOption, r.minAttempt)
	}
	if r.backoff == nil {
		r.backoff = DefaultBackoff
	}
	r.classifier = outcome.Or(r.classifier)
	if r.policy == nil {
		r.policy = ClassifierPolicy(r.classifier)
	}
	r.clk = clock.OrReal(r.clk)
	r.going = &layer{budget: b}
	r.last = &layer{budget: b, final: true}
	return r, nil
}

// New returns a middleware that retries failed calls of idempotent
// requests through b (which may be shared, or nil for no budget).
//
// For each call it deposits into b (once per call path, see
// [Budget.Enter]) and makes the first attempt. After a failed attempt it
// stops when the caller's context is done or the error is marked with
// outcome.Abort (the caller broke its request), when [MaxAttempts] (see
// [WithMaxAttempts]) attempts were made, or when the [Policy] says no —
// by default, when the error is not a server-health failure or the call
// is not idempotent. Otherwise it draws a [Backoff], gives up if the
// backoff and [WithMinAttemptTime] would not fit before the caller's
// deadline, withdraws a retry from b (giving up if there is none), sleeps
// and tries again. When it gives up it returns the last attempt's
// response and error unchanged. Each decision is a span event on the
// caller's span and calls the [Hooks].
//
// One retry layer per call path: the middleware marks the context of each
// attempt, and any retry layer further in (another New, or the transport
// of [NewHTTPClient]) then makes a single attempt. The mark also says
// whether the attempt is the last ([FinalAttempt]). Place it
// outside the balancer so that each retry may pick another instance.
//
// The middleware is safe for concurrent use. On a call that succeeds at
// once it allocates one context value (the attempt's mark) and sets no
// timer.
func New(b *Budget, opts ...Option) (endpoint.Middleware, error) {
	r, err := newRetrier(b, opts)
	if err != nil {
		return nil, err
	}
	return r.middleware, nil
}

func (r *retrier) middleware(next endpoint.Endpoint) endpoint.Endpoint {
	return func(ctx context.Context, req any) (any, error) {
		if Active(ctx) {
			return next(ctx, req)
		}
		r.budget.enterLayer(ctx)
		for attempts := 1; ; attempts++ {
			mark := r.going
			if attempts >= r.maxAttempts {
				mark = r.last
			}
			resp, err := r.attempt(context.WithValue(ctx, layerKey{}, mark), next, req)
			if err == nil {
				return resp, nil
			}
			wait, ok := r.decide(ctx, req, attempts, err, 0)
			if !ok {
				return resp, err
			}
			if clock.Sleep(ctx, r.clk, wait) != nil {
				return resp, err
			}
		}
	}
}

func (r *retrier) attempt(ctx context.Context, next endpoint.Endpoint, req any) (any, error) {
	if r.perTry <= 0 {
		return next(ctx, req)
	}
	actx, cancel := clock.WithTimeout(ctx, r.clk, r.perTry)
	defer cancel()
	return next(actx, req)
}

// decide reports whether attempt number attempts+1 is to be made after
// err, and after which wait (at least floor). A granted retry has been
// withdrawn from the budget.
func (r *retrier) decide(ctx context.Context, req any, attempts int, err error, floor time.Duration) (time.Duration, bool) {
	if ctx.Err() != nil || errors.Is(err, outcome.ErrAborted) {
		// The caller gave up, or broke its own request (its body failed
		// to read): never retried, whatever the policy says.
		return 0, false
	}
	if !r.policy(ctx, req, attempts, err) {
		return 0, false
	}
	if attempts >= r.maxAttempts {
		r.event(ctx, EventAttemptsExhausted, err, attempts, 0)
		return 0, false
	}
	wait := max(r.backoff(r.base, r.cap, attempts-1), floor, 0)
	if dl, ok := ctx.Deadline(); ok && !r.clk.Now().Add(wait+r.minAttempt).Before(dl) {
		r.event(ctx, EventDeadline, err, attempts, wait)
		if r.hooks.OnDeadline != nil {
			r.hooks.OnDeadline()
		}
		return 0, false
	}
	if !r.budget.TryWithdraw() {
		r.event(ctx, EventBudgetExhausted, err, attempts, wait)
		if r.hooks.OnBudgetExhausted != nil {
			r.hooks.OnBudgetExhausted()
		}
		return 0, false
	}
	r.event(ctx, EventRetry, err, attempts+1, wait)
	if r.hooks.OnRetry != nil {
		r.hooks.OnRetry(attempts+1, err)
	}
	return wait, true
}
