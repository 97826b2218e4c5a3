package hedge

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/go-kit/kit/endpoint"

	"github.com/switchyard/switchyard/internal/clock"
	"github.com/switchyard/switchyard/internal/latency"
	"github.com/switchyard/switchyard/middleware/retry"
	"github.com/switchyard/switchyard/outcome"
)

// Limits and defaults.
const (
	// MaxHedges is the most backup requests per call that [WithMaxHedges]
	// accepts.
	MaxHedges = 4
	// DefaultMaxHedges is the number of backup requests per call: one.
	DefaultMaxHedges = 1
	// DefaultPercentile is the latency quantile after which a backup is
	// sent: the 95th percentile.
	DefaultPercentile = 0.95
	// DefaultInitialDelay is the delay used by the percentile mode until
	// enough latencies have been seen: 10 ms.
	DefaultInitialDelay = 10 * time.Millisecond
)

// ErrInvalidOption is wrapped by the errors of [New] when an option is out
// of range.
var ErrInvalidOption = errors.New("hedge: invalid option")

// Hooks are functions called on hedging decisions, for metrics. Each may
// be nil (the default). They are never called under a lock, may be called
// from a timer's goroutine, and must be safe for concurrent use.
type Hooks struct {
	// OnHedge is called when backup request n (1 for the first) is sent.
	OnHedge func(n int)
	// OnBudgetExhausted is called when the budget refuses a backup.
	OnBudgetExhausted func()
	// OnHedgeWon is called when backup n answers first and its answer is
	// returned to the caller.
	OnHedgeWon func(n int)
}

// Option configures [New].
type Option func(*config)

type config struct {
	maxHedges  int
	fixed      time.Duration // > 0 for a fixed delay
	percentile float64
	initial    time.Duration
	clk        clock.Clock
	classifier outcome.Classifier
	hooks      Hooks
}

// WithDelay sends backups after the fixed delay d (> 0) instead of after
// the latency percentile.
func WithDelay(d time.Duration) Option {
	return func(c *config) { c.fixed, c.percentile = d, 0 }
}

// WithPercentile sends backups once a call has taken longer than the p
// quantile (0 < p < 1) of recent calls' latencies, using initial (> 0)
// until at least 100 calls have been measured (the estimate is refreshed
// every 32 calls, so the first comes after 128). This is the default, with
// [DefaultPercentile] and [DefaultInitialDelay].
func WithPercentile(p float64, initial time.Duration) Option {
	return func(c *config) { c.fixed, c.percentile, c.initial = 0, p, initial }
}

// WithMaxHedges sets how many backups a call may send, 1 to [MaxHedges]
// (default [DefaultMaxHedges]). Backup n is sent n delays after the call
// started, if no answer has come by then.
func WithMaxHedges(n int) Option { return func(c *config) { c.maxHedges = n } }

// WithClock sets the clock for delays and latency measurement (default
// the real clock).
func WithClock(c clock.Clock) Option { return func(cfg *config) { cfg.clk = c } }

// WithClassifier sets the rule that decides which answers end a call
// (default [outcome.Default]): a [outcome.Success] or
// [outcome.CallerFault] (or an [outcome.Aborted] request, which no other
// instance would take better) is final and returned at once; a server failure is
// returned only when no other request of the call is still running.
func WithClassifier(cl outcome.Classifier) Option { return func(c *config) { c.classifier = cl } }

// WithHooks sets the metrics hooks (default none).
func WithHooks(h Hooks) Option { return func(c *config) { c.hooks = h } }

type hedger struct {
	budget *retry.Budget
	config
	latency *latency.Tracker // nil with a fixed delay
}

// New returns a middleware that hedges idempotent calls: when a call has
// not answered after a delay, it sends a backup request, and returns the
// first final answer (a success, or a caller fault such as a 404) while
// cancelling the contexts of the others.
//
// The delay is the 95th percentile of recent calls' latencies (see
// [WithPercentile]) or fixed ([WithDelay]). Every backup withdraws one
// retry from b, the same [retry.Budget] the retry layer and the HTTP client
// of the same upstream use, so hedging is bounded by the same share of
// traffic; when the budget refuses, no backup is sent. A call deposits into
// b once per call path ([retry.Budget.Enter]). Calls that are not
// idempotent according to [retry.IsIdempotent] are passed through
// untouched. b may be nil for unlimited hedging, which is not advised.
//
// The original request runs on the caller's goroutine and each backup on
// its own. A losing request's context is cancelled; the caller returns as
// soon as the winner has answered and the original request has returned,
// so endpoints must honour cancellation (go-kit's HTTP and gRPC clients
// do). Backups still running when the call returns end when their endpoint
// returns. Place the middleware inside the retry middleware and outside
// the balancer, so that a backup may go to another instance.
//
// Each backup, refusal by the budget and win is a span event on the
// caller's span and calls the [Hooks]. The middleware is safe for
// concurrent use.
func New(b *retry.Budget, opts ...Option) (endpoint.Middleware, error) {
	h := &hedger{budget: b, config: config{
		maxHedges:  DefaultMaxHedges,
		percentile: DefaultPercentile,
		initial:    DefaultInitialDelay,
	}}
	for _, o := range opts {
		o(&h.config)
	}
	switch {
	case h.maxHedges < 1 || h.maxHedges > MaxHedges:
		return nil, fmt.Errorf("%w: %d hedges not in [1, %d]", ErrInvalidOption, h.maxHedges, MaxHedges)
	case h.fixed < 0:
		return nil, fmt.Errorf("%w: negative delay %v", ErrInvalidOption, h.fixed)
	case h.fixed == 0 && !(h.percentile > 0 && h.percentile < 1):
		return nil, fmt.Errorf("%w: percentile %v not in (0, 1)", ErrInvalidOption, h.percentile)
	case h.fixed == 0 && h.initial <= 0:
		return nil, fmt.Errorf("%w: initial delay %v not positive", ErrInvalidOption, h.initial)
	}
	if h.fixed == 0 {
		h.latency = latency.New(h.percentile, h.initial)
	}
	h.clk = clock.OrReal(h.clk)
	h.classifier = outcome.Or(h.classifier)
	return h.middleware, nil
}

func (h *hedger) delay() time.Duration {
	if h.latency == nil {
		return h.fixed
	}
	return h.latency.Delay()
}

type result struct {
	resp any
	err  error
}

// call is one hedged call.
type call struct {
	h     *hedger
	ctx   context.Context
	next  endpoint.Endpoint
	req   any
	delay time.Duration

	mu          sync.Mutex // guards every field below
	launched    int        // backups sent
	running     int        // backups not yet returned
	primaryDone bool       // the original request has returned
	decided     bool       // the call's answer is known
	result      result     // the answer, once decided
	primary     result     // the original request's failure, kept while backups run
	stopTimer   func() bool
	cancels     [1 + MaxHedges]context.CancelFunc
	waiting     chan struct{} // closed when decided, if the caller waits
}

func (h *hedger) middleware(next endpoint.Endpoint) endpoint.Endpoint {
	return func(ctx context.Context, req any) (any, error) {
		if !retry.IsIdempotent(ctx, req) {
			return next(ctx, req)
		}
		ctx = h.budget.Enter(ctx)
		c := &call{h: h, ctx: ctx, next: next, req: req, delay: h.delay()}
		pctx, pcancel := context.WithCancel(ctx)
		var start time.Time
		if h.latency != nil {
			start = h.clk.Now()
		}
		c.mu.Lock()
		c.cancels[0] = pcancel
		c.stopTimer = h.clk.AfterFunc(c.delay, c.fire)
		c.mu.Unlock()
		resp, err := next(pctx, req)
		return c.primaryReturned(start, resp, err)
	}
}

// final reports whether an answer ends the call whatever the other
// requests would say.
func (c *call) final(err error) bool {
	switch c.h.classifier(c.ctx, err) {
	case outcome.Success, outcome.CallerFault, outcome.Aborted:
		return true
	}
	return false
}

// cancelAll cancels every request of the call. c.mu must not be held;
// cancels is a copy taken under it.
func cancelAll(cancels [1 + MaxHedges]context.CancelFunc) {
	for _, cancel := range cancels {
		if cancel != nil {
			cancel()
		}
	}
}

func (c *call) primaryReturned(start time.Time, resp any, err error) (any, error) {
	var elapsed time.Duration
	if c.h.latency != nil {
		elapsed = c.h.clk.Now().Sub(start)
	}
	c.mu.Lock()
	c.primaryDone = true
	stop := c.stopTimer
	if c.decided {
		// A backup won and cancelled us; our time so far is a lower bound
		// of our latency, which keeps the estimate honest.
		r, cancels := c.result, c.cancels
		c.mu.Unlock()
		stop()
		cancelAll(cancels)
		c.record(elapsed)
		return r.resp, r.err
	}
	if c.final(err) || c.running == 0 || c.ctx.Err() != nil {
		c.decided = true
		cancels := c.cancels
		c.mu.Unlock()
		stop()
		cancelAll(cancels)
		if err == nil {
			c.record(elapsed)
		}
		return resp, err
	}
	// The original failed while backups run: wait for one of them.
	c.primary = result{resp, err}
	c.waiting = make(chan struct{})
	wait := c.waiting
	c.mu.Unlock()
	stop()
	<-wait // backups are children of ctx, so this ends when ctx does
	c.mu.Lock()
	r := c.result
	c.mu.Unlock()
	return r.resp, r.err
}

func (c *call) record(d time.Duration) {
	if c.h.latency != nil {
		c.h.latency.Record(d)
	}
}

// fire runs when a delay has passed without an answer: it sends the next
// backup if the budget allows.
func (c *call) fire() {
	c.mu.Lock()
	if c.decided || c.primaryDone || c.ctx.Err() != nil {
		c.mu.Unlock()
		return
	}
	if !c.h.budget.TryWithdraw() {
		c.mu.Unlock()
		c.h.event(c.ctx, EventBudgetExhausted, "budget_exhausted", c.launched+1, c.delay)
		if c.h.hooks.OnBudgetExhausted != nil {
			c.h.hooks.OnBudgetExhausted()
		}
		return
	}
	c.launched++
	n := c.launched
	hctx, cancel := context.WithCancel(c.ctx)
	c.cancels[n] = cancel
	c.running++
	if n < c.h.maxHedges {
		c.stopTimer = c.h.clk.AfterFunc(c.delay, c.fire)
	}
	c.mu.Unlock()
	c.h.event(c.ctx, EventFired, "delay", n, c.delay)
	if c.h.hooks.OnHedge != nil {
		c.h.hooks.OnHedge(n)
	}
	go c.run(n, hctx, cancel)
}

func (c *call) run(n int, ctx context.Context, cancel context.CancelFunc) {
	resp, err := c.next(ctx, c.req)
	c.mu.Lock()
	c.running--
	switch {
	case c.decided:
		c.mu.Unlock()
		cancel()
	case c.final(err):
		c.decided = true
		c.result = result{resp, err}
		cancels, wait := c.cancels, c.waiting
		c.mu.Unlock()
		// Report before releasing the caller, so that the caller's span
		// and metrics hold the win when the call returns.
		c.h.event(c.ctx, EventWon, "first_answer", n, c.delay)
		if c.h.hooks.OnHedgeWon != nil {
			c.h.hooks.OnHedgeWon(n)
		}
		cancelAll(cancels)
		if wait != nil {
			close(wait)
		}
	case c.primaryDone && c.running == 0:
		// Every request failed: answer with the original's failure.
		c.decided = true
		c.result = c.primary
		cancels, wait := c.cancels, c.waiting
		c.mu.Unlock()
		cancelAll(cancels)
		close(wait)
	default:
		c.mu.Unlock()
		cancel()
	}
}
