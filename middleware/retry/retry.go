package retry

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/go-kit/kit/endpoint"

	"github.com/switchyard/switchyard/outcome"
)

// Attempt limits and defaults.
const (
	// MaxAttempts is the most attempts (first try included) any retry
	// layer makes; [New] refuses a larger [Config.MaxAttempts].
	MaxAttempts = 5
	// DefaultMaxAttempts is the attempts made when [Config.MaxAttempts]
	// is 0: the first try and two retries.
	DefaultMaxAttempts = 3
	// DefaultMinAttemptTime is the least time before the caller's deadline
	// that a retry needs to be worth starting: 1 ms.
	DefaultMinAttemptTime = time.Millisecond
)

// ErrConfig is wrapped by the errors of [New] and [NewBudget] for an
// invalid configuration.
var ErrConfig = errors.New("retry: invalid configuration")

// Config configures a [Retry]. The zero value is valid: every zero field
// takes the default written beside it, and both faces of the Retry
// ([Retry.Endpoint] and [Retry.Transport]) honour every field. [New]
// rejects an invalid Config with an error wrapping [ErrConfig].
type Config struct {
	// MaxAttempts is the number of attempts, the first try included,
	// between 1 and [MaxAttempts]. Default [DefaultMaxAttempts] (3). 1
	// disables retries but keeps the per-try timeout and the layer's mark
	// on the call path ([Active], [FinalAttempt]).
	MaxAttempts int

	// BackoffBase and BackoffCap are given to Backoff. Defaults
	// [DefaultBase] (25 ms) and [DefaultCap] (1 s); negative values, and a
	// base above the cap, are invalid.
	BackoffBase, BackoffCap time.Duration

	// Backoff draws the wait before each retry. nil means
	// [DefaultBackoff] (full jitter).
	Backoff Backoff

	// Classifier decides which failures are server-health failures; it is
	// asked once per failed attempt and its answer is given to
	// CheckRetry and names the reason of each span event. nil means
	// outcome.Default.
	Classifier outcome.Classifier

	// CheckRetry decides, given the Classifier's answer, whether a failed
	// attempt is worth retrying. nil means [DefaultCheckRetry]: server
	// failures (and local refusals) of idempotent calls.
	CheckRetry CheckRetry

	// PerTryTimeout gives every attempt its own deadline, this long after
	// it starts. Default 0: attempts share the caller's deadline only;
	// negative is invalid. An attempt that runs out of time fails with
	// context.DeadlineExceeded, which outcome.Default counts as a server
	// failure, so it may be retried while the caller's deadline allows.
	// [Retry.Transport] keeps it until the response body is closed.
	PerTryTimeout time.Duration

	// MinAttemptTime is the least time that must remain before the
	// caller's deadline, once the backoff is over, for a retry to start.
	// Default [DefaultMinAttemptTime] (1 ms); negative is invalid.
	MinAttemptTime time.Duration

	// Hooks are called on retry decisions. The zero value calls nothing.
	Hooks Hooks
}

// Hooks are functions a [Retry] calls on its decisions, for metrics. Each
// nil field is not called. They are called on the calling goroutine,
// never under a lock, so they may do anything but block for long; they
// must be safe for concurrent use.
type Hooks struct {
	// OnRetry is called when a retry has been granted, before its backoff,
	// with the number of the attempt about to be made (2 for the first
	// retry) and the error that caused it.
	OnRetry func(attempt int, err error)
	// OnBudgetExhausted is called when the Budget refuses a retry that
	// CheckRetry allowed.
	OnBudgetExhausted func()
	// OnDeadline is called when a retry is given up because the backoff
	// and MinAttemptTime would not fit before the caller's deadline.
	OnDeadline func()
}

// Retry retries failed calls of idempotent requests through a [Budget].
// Its faces are [Retry.Endpoint] (a go-kit middleware) and
// [Retry.Transport] (an http.RoundTripper built on go-retryablehttp);
// both follow the same rules and draw on the same Budget.
//
// For each call it deposits into the Budget (once per call path, see
// [Budget.Enter]) and makes the first attempt. After a failed attempt it
// stops when the caller's context is done or the error is marked with
// outcome.Abort (the caller broke its request), when MaxAttempts attempts
// were made, or when [CheckRetry] says no — by default, when the
// Classifier does not call the error a server-health failure or the call
// is not idempotent ([IsIdempotent]). Otherwise it draws a [Backoff],
// gives up if the backoff and MinAttemptTime would not fit before the
// caller's deadline, withdraws a retry from the Budget (giving up if there
// is none), sleeps and tries again. When it gives up it returns the last
// attempt's response and error unchanged. Each decision is a span event
// on the caller's span and calls the [Hooks].
//
// One retry layer per call path: a Retry marks the context of each
// attempt, and any retry layer further in (another Retry's face) then
// makes a single attempt. The mark also says whether the attempt is the
// last ([FinalAttempt]). Place it outside the balancer so that each retry
// may pick another instance.
//
// A Retry is safe for concurrent use; build it with [New].
type Retry struct {
	budget      *Budget
	maxAttempts int
	base, cap   time.Duration
	backoff     Backoff
	classifier  outcome.Classifier
	checkRetry  CheckRetry
	perTry      time.Duration
	minAttempt  time.Duration
	hooks       Hooks
	// going marks the attempts of Endpoint that may be followed by
	// another, last the last one (see FinalAttempt).
	going, last *layer
}

// New returns a Retry configured by cfg that draws its retries from b
// (which may be shared with other Retries and middleware/hedge, or nil
// for no budget). It returns an error wrapping [ErrConfig] when cfg is
// invalid.
func New(b *Budget, cfg Config) (*Retry, error) {
	switch {
	case cfg.MaxAttempts < 0 || cfg.MaxAttempts > MaxAttempts:
		return nil, fmt.Errorf("%w: MaxAttempts %d not in [1, %d]", ErrConfig, cfg.MaxAttempts, MaxAttempts)
	case cfg.BackoffBase < 0 || cfg.BackoffCap < 0:
		return nil, fmt.Errorf("%w: negative BackoffBase %v or BackoffCap %v", ErrConfig, cfg.BackoffBase, cfg.BackoffCap)
	case cfg.PerTryTimeout < 0:
		return nil, fmt.Errorf("%w: negative PerTryTimeout %v", ErrConfig, cfg.PerTryTimeout)
	case cfg.MinAttemptTime < 0:
		return nil, fmt.Errorf("%w: negative MinAttemptTime %v", ErrConfig, cfg.MinAttemptTime)
	}
	r := &Retry{
		budget:      b,
		maxAttempts: or(cfg.MaxAttempts, DefaultMaxAttempts),
		base:        or(cfg.BackoffBase, DefaultBase),
		cap:         or(cfg.BackoffCap, DefaultCap),
		backoff:     cfg.Backoff,
		classifier:  outcome.Or(cfg.Classifier),
		checkRetry:  cfg.CheckRetry,
		perTry:      cfg.PerTryTimeout,
		minAttempt:  or(cfg.MinAttemptTime, DefaultMinAttemptTime),
		hooks:       cfg.Hooks,
	}
	if r.base > r.cap {
		return nil, fmt.Errorf("%w: BackoffBase %v above BackoffCap %v", ErrConfig, r.base, r.cap)
	}
	if r.backoff == nil {
		r.backoff = DefaultBackoff
	}
	if r.checkRetry == nil {
		r.checkRetry = DefaultCheckRetry
	}
	r.going = &layer{budget: b}
	r.last = &layer{budget: b, final: true}
	return r, nil
}

// or returns v, or def when v is zero.
func or[T comparable](v, def T) T {
	var zero T
	if v == zero {
		return def
	}
	return v
}

// Endpoint returns next wrapped in the retry layer; the method value
// r.Endpoint is an endpoint.Middleware. On a call that succeeds at once
// it allocates one context value (the attempt's mark) and sets no timer.
func (r *Retry) Endpoint(next endpoint.Endpoint) endpoint.Endpoint {
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
			if sleep(ctx, wait) != nil {
				return resp, err
			}
		}
	}
}

func (r *Retry) attempt(ctx context.Context, next endpoint.Endpoint, req any) (any, error) {
	if r.perTry <= 0 {
		return next(ctx, req)
	}
	actx, cancel := context.WithTimeout(ctx, r.perTry)
	defer cancel()
	return next(actx, req)
}

// sleep waits d or until ctx is done, whichever comes first; it returns
// ctx.Err() when ctx ended first. A non-positive d sets no timer.
func sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// decide reports whether attempt number attempts+1 is to be made after
// err, and after which wait (at least floor). A granted retry has been
// withdrawn from the budget.
func (r *Retry) decide(ctx context.Context, req any, attempts int, err error, floor time.Duration) (time.Duration, bool) {
	if ctx.Err() != nil || errors.Is(err, outcome.ErrAborted) {
		// The caller gave up, or broke its own request (its body failed
		// to read): never retried, whatever CheckRetry says.
		return 0, false
	}
	class := r.classifier(ctx, err)
	if !r.checkRetry(ctx, req, attempts, class, err) {
		return 0, false
	}
	if attempts >= r.maxAttempts {
		r.event(ctx, EventAttemptsExhausted, class, attempts, 0)
		return 0, false
	}
	wait := max(r.backoff(r.base, r.cap, attempts-1), floor, 0)
	if dl, ok := ctx.Deadline(); ok && !time.Now().Add(wait+r.minAttempt).Before(dl) {
		r.event(ctx, EventDeadline, class, attempts, wait)
		if r.hooks.OnDeadline != nil {
			r.hooks.OnDeadline()
		}
		return 0, false
	}
	if !r.budget.TryWithdraw() {
		r.event(ctx, EventBudgetExhausted, class, attempts, wait)
		if r.hooks.OnBudgetExhausted != nil {
			r.hooks.OnBudgetExhausted()
		}
		return 0, false
	}
	r.event(ctx, EventRetry, class, attempts+1, wait)
	if r.hooks.OnRetry != nil {
		r.hooks.OnRetry(attempts+1, err)
	}
	return wait, true
}
