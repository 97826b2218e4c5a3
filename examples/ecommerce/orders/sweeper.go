package orders

import (
	"context"
	"errors"
	"sync"
	"time"
)

// Sweeper defaults.
const (
	// DefaultSweepInterval is the time between two sweeps.
	DefaultSweepInterval = 5 * time.Second
	// DefaultSweepBatch bounds the claims abandoned and the releases sent
	// by one sweep.
	DefaultSweepBatch = 100
	// maxReleaseBackoff caps the wait before a failed release is retried.
	maxReleaseBackoff = 5 * time.Minute
	// sweepTimeout bounds one sweep.
	sweepTimeout = 30 * time.Second
)

// WithSweepInterval sets the time between sweeps. Default
// DefaultSweepInterval; values ≤ 0 keep the default.
func WithSweepInterval(d time.Duration) Option {
	return func(c *config) {
		if d > 0 {
			c.interval = d
		}
	}
}

// WithSweepGrace sets how long after its lease ended an in-flight claim is
// abandoned by the sweeper; until then a retry of the request may take it
// over and finish the order. Default: the lease.
func WithSweepGrace(d time.Duration) Option {
	return func(c *config) { c.grace = d }
}

// WithSweepBatch sets the most claims and releases one sweep handles.
// Default DefaultSweepBatch; values ≤ 0 keep the default.
func WithSweepBatch(n int) Option {
	return func(c *config) {
		if n > 0 {
			c.batch = n
		}
	}
}

// SweepStats reports what one sweep did.
type SweepStats struct {
	// Abandoned counts in-flight claims given up, their releases enqueued.
	Abandoned int
	// Released counts releases the catalog confirmed.
	Released int
	// Failed counts releases that failed and were rescheduled.
	Failed int
}

// Sweeper is the orders service's background janitor. Each sweep abandons
// idempotency claims left in flight for longer than the lease plus the
// grace (their instance crashed and no retry came), enqueueing the release
// of whatever they reserved, and then sends due pending releases to the
// catalog, rescheduling failures with exponential backoff (from the sweep
// interval up to 5 minutes). Work per sweep is bounded by the batch size.
//
// Create it with [NewSweeper], Start it, and Stop it on shutdown. Sweeps
// run one at a time. It is safe for concurrent use.
type Sweeper struct {
	store   Store
	catalog Catalog
	cfg     config

	ctx    context.Context
	cancel context.CancelFunc

	mu sync.Mutex // guards stop and stopped
	// stop cancels the next scheduled sweep; nil when none is scheduled.
	stop    func() bool
	stopped bool
	running sync.WaitGroup
}

// NewSweeper returns a stopped Sweeper on store and catalog. It honours the
// options WithClock, WithLease, WithLogger, WithSweepInterval,
// WithSweepGrace and WithSweepBatch.
func NewSweeper(store Store, catalog Catalog, opts ...Option) *Sweeper {
	ctx, cancel := context.WithCancel(context.Background())
	return &Sweeper{store: store, catalog: catalog, cfg: newConfig(opts), ctx: ctx, cancel: cancel}
}

// Start schedules a sweep every interval on the sweeper's clock, the first
// one interval from now. Calling Start again, or after Stop, does nothing.
func (sw *Sweeper) Start() {
	sw.mu.Lock()
	defer sw.mu.Unlock()
	if sw.stopped || sw.stop != nil {
		return
	}
	sw.schedule()
}

// schedule arms the next sweep; sw.mu must be held.
func (sw *Sweeper) schedule() {
	sw.running.Add(1)
	sw.stop = sw.cfg.clock.AfterFunc(sw.cfg.interval, func() {
		defer sw.running.Done()
		sw.mu.Lock()
		if sw.stopped {
			sw.mu.Unlock()
			return
		}
		sw.mu.Unlock()
		if _, err := sw.Sweep(sw.ctx); err != nil && !errors.Is(err, context.Canceled) {
			sw.cfg.logger.Warn("orders: sweep failed", "err", err)
		}
		sw.mu.Lock()
		defer sw.mu.Unlock()
		if !sw.stopped {
			sw.schedule()
		}
	})
}

// Stop cancels the scheduled sweep, interrupts one in progress, and waits
// for it to return. It is safe to call more than once.
func (sw *Sweeper) Stop() {
	sw.mu.Lock()
	sw.stopped = true
	if sw.stop != nil && sw.stop() {
		sw.running.Done() // the callback will never run
	}
	sw.stop = nil
	sw.mu.Unlock()
	sw.cancel()
	sw.running.Wait()
}

// Sweep runs one sweep now, bounded by ctx and 30 s, and reports what it
// did. Start calls it on a timer; tests and tools may call it directly.
func (sw *Sweeper) Sweep(ctx context.Context) (SweepStats, error) {
	ctx, cancel := context.WithTimeout(ctx, sweepTimeout)
	defer cancel()
	var st SweepStats
	now := sw.cfg.clock.Now()
	n, err := sw.store.AbandonStale(ctx, now.Add(-sw.cfg.grace), now, sw.cfg.batch)
	if err != nil {
		return st, err
	}
	st.Abandoned = n
	if n > 0 {
		sw.cfg.logger.Info("orders: abandoned idempotency claims left in flight", "count", n)
	}
	due, err := sw.store.DueReleases(ctx, now, sw.cfg.batch)
	if err != nil {
		return st, err
	}
	for _, p := range due {
		if err := ctx.Err(); err != nil {
			return st, err
		}
		if err := sw.catalog.Release(ctx, p.OrderID); err != nil {
			st.Failed++
			next := now.Add(backoff(sw.cfg.interval, p.Attempts))
			sw.cfg.logger.Warn("orders: release of stock failed", "order_id", p.OrderID,
				"attempts", p.Attempts+1, "retry_at", next, "err", err)
			if err := sw.store.ReleaseFailed(ctx, p.OrderID, next); err != nil {
				return st, err
			}
			continue
		}
		if err := sw.store.ReleaseDone(ctx, p.OrderID); err != nil {
			return st, err
		}
		st.Released++
	}
	return st, nil
}

// backoff returns base × 2^attempts, capped at maxReleaseBackoff.
func backoff(base time.Duration, attempts int) time.Duration {
	d := base
	for range attempts {
		d *= 2
		if d >= maxReleaseBackoff {
			return maxReleaseBackoff
		}
	}
	return min(d, maxReleaseBackoff)
}
