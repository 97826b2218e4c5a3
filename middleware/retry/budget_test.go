package retry_test

import (
	"errors"
	"math"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/switchyard/switchyard/internal/clock"
	"github.com/switchyard/switchyard/middleware/retry"
)

func newBudget(t testing.TB, opts ...retry.BudgetOption) *retry.Budget {
	t.Helper()
	b, err := retry.NewBudget(opts...)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func withdrawAll(b *retry.Budget) int {
	n := 0
	for b.TryWithdraw() {
		n++
		if n > 1_000_000 {
			panic("budget never refuses")
		}
	}
	return n
}

func TestBudgetDefaults(t *testing.T) {
	b := newBudget(t)
	if b.Ratio() != 0.2 || b.MinPerSecond() != 10 || b.TTL() != 10*time.Second {
		t.Fatalf("defaults = %v, %d, %v; want 0.2, 10, 10s", b.Ratio(), b.MinPerSecond(), b.TTL())
	}
}

func TestBudgetPerSecondGrantsFillTheWindow(t *testing.T) {
	clk := clock.NewFake(time.Unix(0, 0))
	b := newBudget(t, retry.WithBudgetClock(clk), retry.WithRatio(0))
	// A new budget holds one slice (a second) of grants, not a burst.
	if got := withdrawAll(b); got != 10 {
		t.Fatalf("new budget allowed %d retries, want 10", got)
	}
	// Each second adds ten more.
	clk.Advance(time.Second)
	if got := withdrawAll(b); got != 10 {
		t.Fatalf("after 1 s: %d retries, want 10", got)
	}
	// Left alone for a whole TTL, the budget holds a TTL's worth.
	clk.Advance(10 * time.Second)
	if got := b.Balance(); got != 100 {
		t.Fatalf("Balance after an idle TTL = %v, want 100", got)
	}
	if got := withdrawAll(b); got != 100 {
		t.Fatalf("after an idle TTL: %d retries, want 100", got)
	}
}

func TestBudgetDepositsExpireAfterTTL(t *testing.T) {
	clk := clock.NewFake(time.Unix(0, 0))
	b := newBudget(t, retry.WithBudgetClock(clk), retry.WithMinPerSecond(0))
	for range 50 {
		b.Deposit()
	}
	if got := b.Balance(); math.Abs(got-10) > 1e-9 {
		t.Fatalf("Balance after 50 requests = %v, want 10", got)
	}
	clk.Advance(9 * time.Second) // still inside the window
	if got := b.Balance(); math.Abs(got-10) > 1e-9 {
		t.Fatalf("Balance 9 s later = %v, want 10", got)
	}
	clk.Advance(time.Second) // the deposits' slice leaves the window
	if got := b.Balance(); got != 0 {
		t.Fatalf("Balance one TTL later = %v, want 0", got)
	}
	if b.TryWithdraw() {
		t.Fatal("withdrew from an empty budget")
	}
}

func TestBudgetWithdrawalsExpireToo(t *testing.T) {
	clk := clock.NewFake(time.Unix(0, 0))
	b := newBudget(t, retry.WithBudgetClock(clk), retry.WithMinPerSecond(0), retry.WithRatio(1))
	for range 5 {
		b.Deposit()
	}
	if got := withdrawAll(b); got != 5 {
		t.Fatalf("5 requests at ratio 1 allowed %d retries, want 5", got)
	}
	clk.Advance(5 * time.Second)
	for range 3 {
		b.Deposit()
	}
	if got := withdrawAll(b); got != 3 {
		t.Fatalf("3 fresh requests allowed %d retries, want 3", got)
	}
}

func TestBudgetRatioOfRequests(t *testing.T) {
	b := newBudget(t, retry.WithBudgetClock(clock.NewFake(time.Unix(0, 0))), retry.WithMinPerSecond(0))
	for range 1000 {
		b.Deposit()
	}
	if got := withdrawAll(b); got != 200 {
		t.Fatalf("1000 requests at ratio 0.2 allowed %d retries, want 200", got)
	}
}

// TestBudgetConcurrent checks the invariant under concurrency: however
// deposits and withdrawals interleave, the withdrawals granted never
// exceed ratio × deposits + the grants.
func TestBudgetConcurrent(t *testing.T) {
	b := newBudget(t, retry.WithBudgetClock(clock.NewFake(time.Unix(0, 0))))
	const workers, each = 8, 2000
	var granted atomic.Int64
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for i := range each {
				b.Deposit()
				if i%2 == 0 && b.TryWithdraw() {
					granted.Add(1)
				}
			}
		})
	}
	wg.Wait()
	// The last attempt overall found less than one retry, and at most one
	// deposit per worker (0.2 each) came after it, so at most 2.6 retries
	// are left unused.
	limit := int64(0.2*workers*each) + 10
	if g := granted.Load(); g > limit || g < limit-3 {
		t.Fatalf("granted %d withdrawals, want %d-3..%d (0.2 × %d + 10)", g, limit, limit, workers*each)
	}
}

func TestBudgetOptionsValidated(t *testing.T) {
	for _, tc := range []struct {
		name string
		opt  retry.BudgetOption
	}{
		{"negative ratio", retry.WithRatio(-0.1)},
		{"NaN ratio", retry.WithRatio(math.NaN())},
		{"huge ratio", retry.WithRatio(11)},
		{"negative minimum", retry.WithMinPerSecond(-1)},
		{"short TTL", retry.WithTTL(999 * time.Millisecond)},
		{"long TTL", retry.WithTTL(61 * time.Second)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := retry.NewBudget(tc.opt); !errors.Is(err, retry.ErrInvalidOption) {
				t.Fatalf("NewBudget error = %v, want ErrInvalidOption", err)
			}
		})
	}
}

func TestNilBudgetNeverRefuses(t *testing.T) {
	var b *retry.Budget
	b.Deposit()
	for range 100 {
		if !b.TryWithdraw() {
			t.Fatal("nil budget refused")
		}
	}
	if !math.IsInf(b.Balance(), 1) {
		t.Fatalf("nil Balance = %v, want +Inf", b.Balance())
	}
}

func TestBudgetDoesNotAllocate(t *testing.T) {
	b := newBudget(t)
	if n := testing.AllocsPerRun(1000, b.Deposit); n != 0 {
		t.Fatalf("Deposit allocates %v times", n)
	}
	if n := testing.AllocsPerRun(1000, func() { b.TryWithdraw() }); n != 0 {
		t.Fatalf("TryWithdraw allocates %v times", n)
	}
}
