package hedge

import (
	"context"
	"errors"
	"fmt"
	"math"
	"sync"
	"time"

	"github.com/go-kit/kit/endpoint"

	"github.com/switchyard/switchyard/internal/latency"
	"github.com/switchyard/switchyard/middleware/retry"
	"github.com/switchyard/switchyard/outcome"
)

// Limits and defaults.
const (
	// MaxHedges is the most backup requests per call that
	// [Config.MaxHedges] accepts.
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

// ErrConfig is wrapped by the error [New] returns for an invalid
// configuration.
var ErrConfig = errors.New("hedge: invalid configuration")

// Config configures a [Hedge]. The zero value is valid: backups after the
// 95th percentile of recent latencies, one per call, with outcome.Default
// deciding which answers are final. [New] rejects an invalid Config with
// an error wrapping [ErrConfig].
type Config struct {
	// Delay, when positive, sends backups after this fixed delay instead
	// of after the latency Percentile. Default 0: the percentile mode;
	// negative is invalid.
	Delay time.Duration

	// Percentile is the quantile (0 < p < 1) of recent calls' latencies
	// after which a call still unanswered gets a backup, in the percentile
	// mode. Default [DefaultPercentile] (0.95); 1 or more, negative and
	// NaN are invalid. The estimate is refreshed every 32 calls once at
	// least 100 have been measured, so the first comes after 128.
	Percentile float64

	// InitialDelay is the delay of the percentile mode until the first
	// estimate. Default [DefaultInitialDelay] (10 ms); negative is
	// invalid.
	InitialDelay time.Duration

	// MaxHedges is how many backups a call may send, 1 to [MaxHedges].
	// Default [DefaultMaxHedges] (1). Backup n is sent n delays after the
	// call started, if no answer has come by then.
	MaxHedges int

	// Classifier decides which answers end a call: an [outcome.Success]
	// or [outcome.CallerFault] (or an [outcome.Aborted] request, which no
	// other instance would take better) is final and returned at once; a
	// server failure is returned only when no other request of the call
	// is still running. nil means outcome.Default.
	Classifier outcome.Classifier

	// Hooks are called on hedging decisions. The zero value calls
	// nothing.
	Hooks Hooks
}

// Hooks are functions a [Hedge] calls on its decisions, for metrics. Each
// nil field is not called. They are never called under a lock, so they
// may do anything but block for long; they may be called from a timer's
// goroutine and must be safe for concurrent use.
type Hooks struct {
	// OnHedge is called when backup request n (1 for the first) is sent.
	OnHedge func(n int)
	// OnBudgetExhausted is called when the budget refuses a backup.
	OnBudgetExhausted func()
	// OnHedgeWon is called when backup n answers first and its answer is
	// returned to the caller.
	OnHedgeWon func(n int)
}

// Hedge hedges idempotent calls: when a call has not answered after a
// delay, it sends a backup request, and returns the first final answer (a
// success, or a caller fault such as a 404) while cancelling the contexts
// of the others. Its face is [Hedge.Endpoint].
//
// The delay is the 95th percentile of recent calls' latencies (see
// [Config.Percentile]) or fixed ([Config.Delay]). Every backup withdraws
// one retry from the [retry.Budget] given to [New], the same the retry
// layer of the same upstream uses, so hedging is bounded by the same share
// of traffic; when the budget refuses, no backup is sent. A call deposits
// into the budget once per call path ([retry.Budget.Enter]). Calls that
// are not idempotent according to [retry.IsIdempotent] are passed through
// untouched.
//
// The original request runs on the caller's goroutine and each backup on
// its own. A losing request's context is cancelled; the caller returns as
// soon as the winner has answered and the original request has returned,
// so endpoints must honour cancellation (go-kit's HTTP and gRPC clients
// do). Backups still running when the call returns end when their endpoint
// returns. Place it inside the retry layer and outside the balancer, so
// that a backup may go to another instance.
//
// Each backup, refusal by the budget and win is a span event on the
// caller's span and calls the [Hooks]. A Hedge is safe for concurrent
// use; build it with [New].
type Hedge struct {
	budget     *retry.Budget
	maxHedges  int
	fixed      time.Duration    // > 0 for a fixed delay
	latency    *latency.Tracker // nil with a fixed delay
	classifier outcome.Classifier
	hooks      Hooks
}

// New returns a Hedge configured by cfg whose backups withdraw from b
// (nil for unlimited hedging, which is not advised). It returns an error
// wrapping [ErrConfig] when cfg is invalid.
func New(b *retry.Budget, cfg Config) (*Hedge, error) {
	switch {
	case cfg.MaxHedges < 0 || cfg.MaxHedges > MaxHedges:
		return nil, fmt.Errorf("%w: MaxHedges %d not in [1, %d]", ErrConfig, cfg.MaxHedges, MaxHedges)
	case cfg.Delay < 0:
		return nil, fmt.Errorf("%w: negative Delay %v", ErrConfig, cfg.Delay)
	case math.IsNaN(cfg.Percentile) || cfg.Percentile < 0 || cfg.Percentile >= 1:
		return nil, fmt.Errorf("%w: Percentile %v not in (0, 1)", ErrConfig, cfg.Percentile)
	case cfg.InitialDelay < 0:
		return nil, fmt.Errorf("%w: negative InitialDelay %v", ErrConfig, cfg.InitialDelay)
	}
	h := &Hedge{
		budget:     b,
		maxHedges:  cfg.MaxHedges,
		fixed:      cfg.Delay,
		classifier: outcome.Or(cfg.Classifier),
		hooks:      cfg.Hooks,
	}
	if h.maxHedges == 0 {
		h.maxHedges = DefaultMaxHedges
	}
	if h.fixed == 0 {
		p, initial := cfg.Percentile, cfg.InitialDelay
		if p == 0 {
			p = DefaultPercentile
		}
		if initial == 0 {
			initial = DefaultInitialDelay
		}
		h.latency = latency.New(p, initial)
	}
	return h, nil
}

func (h *Hedge) delay() time.Duration {
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
	h     *Hedge
	ctx   context.Context
	next  endpoint.Endpoint
	req   any
	delay time.Duration

	mu          sync.Mutex  // guards every field below
	launched    int         // backups sent
	running     int         // backups not yet returned
	primaryDone bool        // the original request has returned
	decided     bool        // the call's answer is known
	result      result      // the answer, once decided
	primary     result      // the original request's failure, kept while backups run
	timer       *time.Timer // the next backup's, stopped when decided
	cancels     [1 + MaxHedges]context.CancelFunc
	waiting     chan struct{} // closed when decided, if the caller waits
}

// Endpoint returns next wrapped in the hedging layer; the method value
// h.Endpoint is an endpoint.Middleware.
func (h *Hedge) Endpoint(next endpoint.Endpoint) endpoint.Endpoint {
	return func(ctx context.Context, req any) (any, error) {
		if !retry.IsIdempotent(ctx, req) {
			return next(ctx, req)
		}
		ctx = h.budget.Enter(ctx)
		c := &call{h: h, ctx: ctx, next: next, req: req, delay: h.delay()}
		pctx, pcancel := context.WithCancel(ctx)
		var start time.Time
		if h.latency != nil {
			start = time.Now()
		}
		c.mu.Lock()
		c.cancels[0] = pcancel
		c.timer = time.AfterFunc(c.delay, c.fire)
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
		elapsed = time.Since(start)
	}
	c.mu.Lock()
	c.primaryDone = true
	timer := c.timer
	if c.decided {
		// A backup won and cancelled us; our time so far is a lower bound
		// of our latency, which keeps the estimate honest.
		r, cancels := c.result, c.cancels
		c.mu.Unlock()
		timer.Stop()
		cancelAll(cancels)
		c.record(elapsed)
		return r.resp, r.err
	}
	if c.final(err) || c.running == 0 || c.ctx.Err() != nil {
		c.decided = true
		cancels := c.cancels
		c.mu.Unlock()
		timer.Stop()
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
	timer.Stop()
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
		c.timer = time.AfterFunc(c.delay, c.fire)
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
