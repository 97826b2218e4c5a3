package client

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-kit/kit/endpoint"

	"github.com/switchyard/switchyard/internal/latency"
	"github.com/switchyard/switchyard/middleware/retry"
	"github.com/switchyard/switchyard/outcome"
)

// Defaults of [AttemptTimeout].
const (
	// DefaultAttemptPercentile is the latency quantile the per-attempt
	// timeout is a multiple of: the 99th percentile.
	DefaultAttemptPercentile = 0.99
	// DefaultAttemptFactor multiplies the percentile: an attempt may take
	// three times as long as 99 % of recent answers did.
	DefaultAttemptFactor = 3.0
	// DefaultAttemptFloor is the shortest per-attempt timeout: 250 ms, so
	// that a fast service's ordinary jitter (a GC pause, a cold cache, a
	// fresh connection's handshake, a busy machine's scheduling delay) does
	// not turn into retries.
	DefaultAttemptFloor = 250 * time.Millisecond
	// DefaultAttemptInitial is the per-attempt timeout until enough
	// answers have been measured (about 130 attempts): 1 s.
	DefaultAttemptInitial = time.Second
)

// AttemptTimeout configures the per-attempt timeout of idempotent calls
// through an [Endpoint] ([Config.AttemptTimeout]; transport/gateway's
// attempts follow the same rule). Each attempt of
// an idempotent call that may be followed by another gets
//
//	timeout = max(Floor, Factor × p)
//
// from when the attempt first waits (the transport's send), where p is the
// Percentile quantile of the latencies of recent attempts, and Initial
// stands for Factor × p until about 130 of them were measured. When the
// caller's deadline comes sooner, the attempt has no timeout of its own:
// the caller's deadline ends it, and that is the caller's cancellation,
// not the instance's failure.
//
// The last attempt of a call — the retry layer's last allowed attempt
// ([retry.FinalAttempt]), or every attempt without a retry layer — has no
// timeout of its own either: it runs until the caller's deadline, so that
// a call to a service that has merely slowed down is still answered.
//
// An attempt that runs out of its timeout counts against the instance —
// its context ends with cause [outcome.ErrTimeout], so outlier detection
// and the instance's breaker see a server failure even though the
// attempt's context is done — and, the call being idempotent, the retry
// layer tries another instance within the retry budget and the caller's
// deadline. A replica that accepts connections and never answers then
// costs a caller about one timeout, and is ejected after
// OutlierConfig.ConsecutiveFailures of them.
//
// The latencies p is taken from are those of attempts that got an answer
// (a success or a 4xx), and of attempts cut off by their timeout, counted
// at the timeout: when every replica slows down past the timeout, p rises
// to the timeout and the timeout to Factor times that, until answers come
// in time again. A single hung replica stretches the timeout only while its
// timeouts are more than 1 − Percentile of the attempts, which outlier
// detection soon ends by ejecting it.
//
// The zero value uses every default. Fields:
type AttemptTimeout struct {
	// Percentile is the latency quantile, in (0, 1). Zero means
	// [DefaultAttemptPercentile].
	Percentile float64
	// Factor multiplies the percentile, at least 1. Zero means
	// [DefaultAttemptFactor].
	Factor float64
	// Floor is the shortest timeout. Zero means [DefaultAttemptFloor].
	Floor time.Duration
	// Initial is the timeout until enough latencies were measured. Zero
	// means [DefaultAttemptInitial]; it is raised to Floor if below.
	Initial time.Duration
	// Off leaves the per-attempt timeout out: an attempt of an idempotent
	// call then waits as long as the caller's deadline allows.
	Off bool
}

// WithDefaults returns a with its zero fields set to their defaults, or an
// error naming a field that is out of range. Off is left as it is.
func (a AttemptTimeout) WithDefaults() (AttemptTimeout, error) {
	if a.Percentile == 0 {
		a.Percentile = DefaultAttemptPercentile
	}
	if a.Factor == 0 {
		a.Factor = DefaultAttemptFactor
	}
	if a.Floor == 0 {
		a.Floor = DefaultAttemptFloor
	}
	if a.Initial == 0 {
		a.Initial = DefaultAttemptInitial
	}
	switch {
	case !(a.Percentile > 0 && a.Percentile < 1):
		return a, fmt.Errorf("attempt timeout percentile %v not in (0, 1)", a.Percentile)
	case a.Factor < 1:
		return a, fmt.Errorf("attempt timeout factor %v below 1", a.Factor)
	case a.Floor < 0 || a.Initial < 0:
		return a, fmt.Errorf("negative attempt timeout floor %v or initial %v", a.Floor, a.Initial)
	}
	a.Initial = max(a.Initial, a.Floor)
	return a, nil
}

// attempts is the per-attempt timeout layer of an Endpoint, between
// the retry layer and the balancer.
type attempts struct {
	cfg        AttemptTimeout
	idempotent bool // every call is idempotent (Config.Idempotent)
	latency    *latency.Tracker
	classify   outcome.Classifier
}

func newAttempts(cfg AttemptTimeout, idempotent bool, classify outcome.Classifier) (*attempts, error) {
	cfg, err := cfg.WithDefaults()
	if err != nil {
		return nil, err
	}
	// The tracker estimates p; until it has samples it reports
	// Initial/Factor, so that the timeout is Initial.
	initial := time.Duration(float64(cfg.Initial) / cfg.Factor)
	return &attempts{
		cfg:        cfg,
		idempotent: idempotent,
		latency:    latency.New(cfg.Percentile, initial),
		classify:   outcome.Or(classify),
	}, nil
}

// timeout returns the current per-attempt timeout.
func (a *attempts) timeout() time.Duration {
	return max(a.cfg.Floor, time.Duration(a.cfg.Factor*float64(a.latency.Delay())))
}

func (a *attempts) middleware(next endpoint.Endpoint) endpoint.Endpoint {
	return func(ctx context.Context, req any) (any, error) {
		if !a.idempotent && !retry.IsIdempotent(ctx, callerRequest(req)) {
			return next(ctx, req)
		}
		actx := &attemptCtx{Context: ctx, a: a, final: retry.FinalAttempt(ctx)}
		resp, err := next(actx, req)
		if t := actx.timer.Load(); t != nil {
			a.learn(actx, t, err)
		}
		actx.end()
		return resp, err
	}
}

// learn records the latency of an attempt that got an answer, and the
// timeout of one that ran out of it.
func (a *attempts) learn(ctx context.Context, t *armed, err error) {
	if err == nil || a.classify(ctx, err) == outcome.CallerFault {
		a.latency.Record(time.Since(t.start))
		return
	}
	// The attempt's own deadline (sooner than the caller's) passed: the
	// instance took at least that long. Unrecorded, a service that slows
	// down past the timeout would never see it grow.
	if t.limit > 0 && context.Cause(t.ctx) == outcome.ErrTimeout {
		a.latency.Record(t.limit)
	}
}

// attemptCtx is the context of one attempt: its parent's, with the
// deadline brought forward to the attempt's timeout, whose expiry has the
// cause outcome.ErrTimeout — what outcome.WithTimeout returns, armed
// lazily. The attempt's clock starts, and the timer context is made (four
// allocations: the context, its timer, the timer's function and the cancel
// function), when something first asks for its Deadline or Done, or for
// Err once the attempt has ended. A network call does both at once (the
// deadline header, the transport's wait) and pays for it beside its own
// cost; an in-process endpoint that answers without waiting never does —
// it has nothing a timeout could cut short — which keeps the client chain
// within its allocation budget and off the clock. Only armed attempts are
// latency samples. The last attempt of a call is armed all the same, to
// measure it, but with no timeout: its context only ends with the attempt
// (three allocations).
type attemptCtx struct {
	context.Context // the caller's context

	a     *attempts
	final bool // no retry follows (retry.FinalAttempt): no timeout

	mu    sync.Mutex // serialises arming, so the timer is made once
	ended atomic.Bool
	timer atomic.Pointer[armed] // set once, under mu
}

type armed struct {
	ctx    context.Context
	cancel context.CancelFunc
	start  time.Time
	limit  time.Duration // the attempt's own timeout, or 0 under the caller's deadline
}

func (c *attemptCtx) arm() *armed {
	if t := c.timer.Load(); t != nil {
		return t
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if t := c.timer.Load(); t != nil {
		return t
	}
	t := &armed{start: time.Now()}
	if c.final {
		t.ctx, t.cancel = context.WithCancel(c.Context)
	} else {
		// outcome.WithDeadline keeps the caller's deadline, and its cause,
		// when that comes first: then the caller's deadline ends the
		// attempt.
		limit := c.a.timeout()
		dl := t.start.Add(limit)
		if pdl, ok := c.Context.Deadline(); !ok || dl.Before(pdl) {
			t.limit = limit
		}
		t.ctx, t.cancel = outcome.WithDeadline(c.Context, dl)
	}
	c.timer.Store(t)
	// Store the timer, then look at ended; end stores ended, then looks at
	// the timer: one of the two sees the other, so an attempt armed as it
	// ends is still cancelled (twice, harmlessly).
	if c.ended.Load() {
		t.cancel()
	}
	return t
}

// end cancels the attempt, as a CancelFunc would. It takes no lock: on
// the common path, an attempt that was never armed, it is two atomics.
func (c *attemptCtx) end() {
	c.ended.Store(true)
	if t := c.timer.Load(); t != nil {
		t.cancel()
	}
}

func (c *attemptCtx) Deadline() (time.Time, bool) { return c.arm().ctx.Deadline() }

func (c *attemptCtx) Done() <-chan struct{} { return c.arm().ctx.Done() }

// Err is the parent's error until the attempt is armed (its clock has not
// started, so it cannot have run out) or has ended.
func (c *attemptCtx) Err() error {
	if t := c.timer.Load(); t != nil {
		return t.ctx.Err()
	}
	if err := c.Context.Err(); err != nil {
		return err
	}
	if c.ended.Load() {
		return c.arm().ctx.Err()
	}
	return nil
}

// Value answers from the timer context once armed, so that context.Cause
// finds its cause.
func (c *attemptCtx) Value(key any) any {
	if t := c.timer.Load(); t != nil {
		return t.ctx.Value(key)
	}
	return c.Context.Value(key)
}

func (c *attemptCtx) String() string { return "client.attemptContext" }
