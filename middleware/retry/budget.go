package retry

import (
	"fmt"
	"math"
	"sync"
	"sync/atomic"
	"time"
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
// Every request deposits [BudgetConfig.Ratio] ([DefaultRatio]) of a retry
// and every retry withdraws one. Deposits and withdrawals count for a
// sliding window of [BudgetConfig.TTL] ([DefaultTTL]). On top of the
// deposits, each second of the window grants [BudgetConfig.MinPerSecond]
// ([DefaultMinPerSecond]) retries, so a client with little traffic can
// still retry.
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
// calls to the same upstream: several [Retry] layers (either face) and
// middleware/hedge may all be given the same *Budget, and a call that
// passes through several of them deposits only once (see [Budget.Enter]).
//
// A Budget is safe for concurrent use. Deposit is lock-free and
// allocation-free; TryWithdraw, which runs only when a call is about to be
// retried, takes a short lock. Create Budgets with NewBudget; the zero
// Budget is not ready for use. A nil *Budget is valid: it never refuses a
// withdrawal and ignores deposits.
type Budget struct {
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

// BudgetConfig configures a [Budget]. The zero value is valid: every zero
// field takes the default written beside it. [NewBudget] rejects an
// invalid BudgetConfig with an error wrapping [ErrConfig].
type BudgetConfig struct {
	// Ratio is the share of requests that may be retried: each request
	// deposits this much of a retry. Default [DefaultRatio] (0.2); a
	// negative value means none (only MinPerSecond is granted); above 10,
	// and NaN, are invalid.
	Ratio float64

	// MinPerSecond is the number of retries per second allowed whatever
	// the request rate. Default [DefaultMinPerSecond] (10); a negative
	// value means none; above 1,000,000 is invalid.
	MinPerSecond int

	// TTL is how long deposits and withdrawals count, between 1 s and
	// 60 s. Default [DefaultTTL] (10 s).
	TTL time.Duration
}

// NewBudget returns a Budget with nothing deposited; it grants
// MinPerSecond retries for each second that passes (up to one TTL's worth)
// and Ratio of a retry for each request. It returns an error wrapping
// [ErrConfig] when cfg is invalid.
func NewBudget(cfg BudgetConfig) (*Budget, error) {
	switch {
	case math.IsNaN(cfg.Ratio) || cfg.Ratio > 10:
		return nil, fmt.Errorf("%w: budget Ratio %v not in [0, 10]", ErrConfig, cfg.Ratio)
	case cfg.MinPerSecond > 1_000_000:
		return nil, fmt.Errorf("%w: budget MinPerSecond %d above 1e6", ErrConfig, cfg.MinPerSecond)
	case cfg.TTL != 0 && (cfg.TTL < time.Second || cfg.TTL > time.Minute):
		return nil, fmt.Errorf("%w: budget TTL %v not in [1s, 1m]", ErrConfig, cfg.TTL)
	}
	ratio, perSecond := cfg.Ratio, cfg.MinPerSecond
	switch {
	case ratio == 0:
		ratio = DefaultRatio
	case ratio < 0:
		ratio = 0
	}
	switch {
	case perSecond == 0:
		perSecond = DefaultMinPerSecond
	case perSecond < 0:
		perSecond = 0
	}
	ttl := or(cfg.TTL, DefaultTTL)
	b := &Budget{
		origin:       time.Now(),
		slice:        ttl / budgetSlices,
		deposit:      int64(math.Round(ratio * unitsPerRetry)),
		credit:       int64(math.Round(float64(perSecond) * (ttl / budgetSlices).Seconds() * unitsPerRetry)),
		ratio:        ratio,
		minPerSecond: perSecond,
		ttl:          ttl,
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
	d := time.Since(b.origin)
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
