package retry

import (
	"fmt"
	"math"
	"sync"
	"sync/atomic"
	"time"

	"github.com/switchyard/switchyard/internal/clock"
)

// Budget defaults.
const (
	// DefaultRatio is the share of requests that may be retried: each
	// request deposits 0.2 of a retry.
	DefaultRatio = 0.2
	// DefaultMinPerSecond is the number of retries per second allowed
	// however few requests there are, so that a quiet client can still
	// retry.
	DefaultMinPerSecond = 10
	// DefaultTTL is how long a deposit (and a withdrawal) counts.
	DefaultTTL = 10 * time.Second
)

const (
	// budgetSlices is how many slices the TTL window is cut into; deposits
	// expire one slice at a time.
	budgetSlices = 10
	// unitsPerRetry is the fixed-point scale: one retry costs this many
	// units and a request deposits Ratio times as many.
	unitsPerRetry = 1_000_000
	// depositBatch is how many deposits may wait, uncounted, before one of
	// them reads the clock and places them all in the window. Reading the
	// clock costs more than the rest of Deposit (about 100 ns on a VM).
	depositBatch = 32
)

// Budget limits retries (and hedged requests) to a share of the requests
// sent to one upstream, in the manner of Finagle's RetryBudget.
//
// Every request deposits [DefaultRatio] (see [WithRatio]) of a retry and
// every retry withdraws one. Deposits and withdrawals count for a sliding
// window of [DefaultTTL] (see [WithTTL]). On top of the deposits, each
// second of the window grants [DefaultMinPerSecond] retries (see
// [WithMinPerSecond]), so a client with little traffic can still retry.
// Hence, within any window of one TTL,
//
//	retries ≤ Ratio × requests + MinPerSecond × TTL
//
// and, over any time T since NewBudget,
//
//	retries ≤ Ratio × requests + MinPerSecond × T
//
// with T rounded up to the next tenth of the TTL, because the window
// advances a tenth of the TTL at a time (a deposit counts for between 0.9
// and 1.0 TTL). A new Budget therefore does not start with a burst: its
// per-second grants fill the window over the first TTL. A Budget that has
// seen no retries for a TTL holds MinPerSecond × TTL of them, which lets a
// short burst of failures be retried at once. When every call fails, the
// retry traffic settles at Ratio × requests plus MinPerSecond per second,
// instead of multiplying the load by the number of attempts.
//
// One Budget is meant to be shared by everything that retries or hedges
// calls to the same upstream: several [New] middlewares, [NewHTTPClient]
// and middleware/hedge may all be given the same *Budget, and a call that
// passes through several of them deposits only once (see [Budget.Enter]).
//
// A Budget is safe for concurrent use. Deposit is lock-free and
// allocation-free; TryWithdraw, which runs only when a call is about to be
// retried, takes a short lock. Create Budgets with NewBudget; the zero
// Budget is not ready for use. A nil *Budget is valid: it never refuses a
// withdrawal and ignores deposits.
type Budget struct {
	clk     clock.Clock
	origin  time.Time
	slice   time.Duration
	deposit int64 // units deposited per request
	credit  int64 // units granted per slice for the per-second minimum

	ratio        float64
	minPerSecond int
	ttl          time.Duration

	pending atomic.Int64 // deposits not yet placed in a slot

	mu    sync.Mutex // guards slot rotation (epoch changes) and withdrawals
	slots [budgetSlices]budgetSlot
}

type budgetSlot struct {
	epoch atomic.Int64 // index of the slice whose units this slot holds
	units atomic.Int64 // deposits minus withdrawals made in that slice
}

// BudgetOption configures [NewBudget].
type BudgetOption func(*budgetConfig)

type budgetConfig struct {
	ratio        float64
	minPerSecond int
	ttl          time.Duration
	clk          clock.Clock
}

// WithRatio sets the share of requests that may be retried, between 0 and
// 10 (default [DefaultRatio], 0.2). 0 leaves only the per-second minimum.
func WithRatio(r float64) BudgetOption { return func(c *budgetConfig) { c.ratio = r } }

// WithMinPerSecond sets the retries per second allowed whatever the
// request rate, at least 0 (default [DefaultMinPerSecond], 10).
func WithMinPerSecond(n int) BudgetOption { return func(c *budgetConfig) { c.minPerSecond = n } }

// WithTTL sets how long deposits and withdrawals count, between 1 s and
// 60 s (default [DefaultTTL], 10 s).
func WithTTL(d time.Duration) BudgetOption { return func(c *budgetConfig) { c.ttl = d } }

// WithBudgetClock sets the clock that ages deposits (default the real
// clock). Tests pass a fake.
func WithBudgetClock(c clock.Clock) BudgetOption { return func(b *budgetConfig) { b.clk = c } }

// NewBudget returns a Budget with nothing deposited; it grants
// MinPerSecond retries for each second that passes (up to one TTL's worth)
// and Ratio of a retry for each request. It returns an error wrapping
// [ErrInvalidOption] when an option is out of range.
func NewBudget(opts ...BudgetOption) (*Budget, error) {
	cfg := budgetConfig{ratio: DefaultRatio, minPerSecond: DefaultMinPerSecond, ttl: DefaultTTL}
	for _, o := range opts {
		o(&cfg)
	}
	switch {
	case math.IsNaN(cfg.ratio) || cfg.ratio < 0 || cfg.ratio > 10:
		return nil, fmt.Errorf("%w: budget ratio %v not in [0, 10]", ErrInvalidOption, cfg.ratio)
	case cfg.minPerSecond < 0 || cfg.minPerSecond > 1_000_000:
		return nil, fmt.Errorf("%w: budget minimum %d per second not in [0, 1e6]", ErrInvalidOption, cfg.minPerSecond)
	case cfg.ttl < time.Second || cfg.ttl > time.Minute:
		return nil, fmt.Errorf("%w: budget TTL %v not in [1s, 1m]", ErrInvalidOption, cfg.ttl)
	}
	clk := clock.OrReal(cfg.clk)
	b := &Budget{
		clk:          clk,
		origin:       clk.Now(),
		slice:        cfg.ttl / budgetSlices,
		deposit:      int64(math.Round(cfg.ratio * unitsPerRetry)),
		credit:       int64(math.Round(float64(cfg.minPerSecond) * (cfg.ttl / budgetSlices).Seconds() * unitsPerRetry)),
		ratio:        cfg.ratio,
		minPerSecond: cfg.minPerSecond,
		ttl:          cfg.ttl,
	}
	for i := range b.slots {
		b.slots[i].epoch.Store(math.MinInt64) // never inside a live window
	}
	return b, nil
}

// Ratio returns the configured share of requests that may be retried.
func (b *Budget) Ratio() float64 {
	if b == nil {
		return 0
	}
	return b.ratio
}

// MinPerSecond returns the configured minimum retries per second.
func (b *Budget) MinPerSecond() int {
	if b == nil {
		return 0
	}
	return b.minPerSecond
}

// TTL returns the configured window.
func (b *Budget) TTL() time.Duration {
	if b == nil {
		return 0
	}
	return b.ttl
}

// index returns the number of the slice that now falls in.
func (b *Budget) index() int64 {
	d := b.clk.Now().Sub(b.origin)
	if d < 0 {
		return 0
	}
	return int64(d / b.slice)
}

// current returns the slot for slice idx, recycling it if it still holds
// an older slice.
func (b *Budget) current(idx int64) *budgetSlot {
	s := &b.slots[idx%budgetSlices]
	if s.epoch.Load() != idx {
		b.mu.Lock()
		b.rotate(s, idx)
		b.mu.Unlock()
	}
	return s
}

// rotate recycles s for slice idx. b.mu must be held. A slot that already
// holds a later slice (seen by a caller that read the clock long ago) is
// left alone; that caller's units land in the later slice.
func (b *Budget) rotate(s *budgetSlot, idx int64) {
	if s.epoch.Load() < idx {
		s.units.Store(0)
		s.epoch.Store(idx)
	}
}

// Deposit records one request. It is lock-free and costs one atomic add:
// deposits are placed in the window (which needs the time) in batches of
// 32, or at the next withdrawal if that comes first, so a deposit may
// start counting up to 31 requests late and, in a quiet Budget, up to 6.2
// retries (at the default ratio) may count from later than they were
// made.
func (b *Budget) Deposit() {
	if b == nil || b.deposit == 0 {
		return
	}
	if b.pending.Add(1)%depositBatch == 0 {
		b.flush(b.index())
	}
}

// flush places the pending deposits in the slot of slice idx.
func (b *Budget) flush(idx int64) {
	if n := b.pending.Swap(0); n != 0 {
		b.current(idx).units.Add(n * b.deposit)
	}
}

// TryWithdraw takes one retry from the budget and reports whether there
// was one to take.
func (b *Budget) TryWithdraw() bool {
	if b == nil {
		return true
	}
	idx := b.index()
	b.mu.Lock()
	defer b.mu.Unlock()
	s := &b.slots[idx%budgetSlices]
	b.rotate(s, idx)
	if n := b.pending.Swap(0); n != 0 {
		s.units.Add(n * b.deposit)
	}
	if b.liveUnits(idx)+b.reserveUnits(idx) < unitsPerRetry {
		return false
	}
	s.units.Add(-unitsPerRetry)
	return true
}

// Balance returns how many retries the budget would allow now. It is an
// estimate for metrics and tests; concurrent calls may change it at once.
func (b *Budget) Balance() float64 {
	if b == nil {
		return math.Inf(1)
	}
	idx := b.index()
	b.flush(idx)
	return float64(b.liveUnits(idx)+b.reserveUnits(idx)) / unitsPerRetry
}

// reserveUnits is the per-second minimum's share of the window ending with
// slice idx: MinPerSecond for each second of it, counting only slices since
// NewBudget, so that a new Budget does not start with a burst.
func (b *Budget) reserveUnits(idx int64) int64 {
	return b.credit * min(idx+1, budgetSlices)
}

// liveUnits sums the slots that hold one of the budgetSlices slices ending
// with idx. Deposits may be added concurrently; they only raise the sum.
func (b *Budget) liveUnits(idx int64) int64 {
	var sum int64
	for i := range b.slots {
		s := &b.slots[i]
		if e := s.epoch.Load(); e > idx-budgetSlices && e <= idx {
			sum += s.units.Load()
		}
	}
	return sum
}
