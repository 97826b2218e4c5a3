package retry_test

import (
	"errors"
	"math"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/switchyard/switchyard/middleware/retry"
)

func newBudget(t testing.TB, cfg retry.BudgetConfig) *retry.Budget {
	t.Helper()
	b, err := retry.NewBudget(cfg)
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
	b := newBudget(t, retry.BudgetConfig{})
	if b.Ratio() != 0.2 || b.MinPerSecond() != 10 || b.TTL() != 10*time.Second {
		t.Fatalf("defaults = %v, %d, %v; want 0.2, 10, 10s", b.Ratio(), b.MinPerSecond(), b.TTL())
	}
}

func TestBudgetPerSecondGrantsFillTheWindow(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := newBudget(t, retry.BudgetConfig{Ratio: -1})
		// A new budget holds one slice (a second) of grants, not a burst.
		if got := withdrawAll(b); got != 10 {
			t.Fatalf("new budget allowed %d retries, want 10", got)
		}
		// Each second adds ten more.
		time.Sleep(time.Second)
		if got := withdrawAll(b); got != 10 {
			t.Fatalf("after 1 s: %d retries, want 10", got)
		}
		// Left alone for a whole TTL, the budget holds a TTL's worth.
		time.Sleep(10 * time.Second)
		if got := b.Balance(); got != 100 {
			t.Fatalf("Balance after an idle TTL = %v, want 100", got)
		}
		if got := withdrawAll(b); got != 100 {
			t.Fatalf("after an idle TTL: %d retries, want 100", got)
		}
	})
}

func TestBudgetDepositsExpireAfterTTL(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := newBudget(t, retry.BudgetConfig{MinPerSecond: -1})
		for range 50 {
			b.Deposit()
		}
		if got := b.Balance(); math.Abs(got-10) > 1e-9 {
			t.Fatalf("Balance after 50 requests = %v, want 10", got)
		}
		time.Sleep(9 * time.Second) // still inside the window
		if got := b.Balance(); math.Abs(got-10) > 1e-9 {
			t.Fatalf("Balance 9 s later = %v, want 10", got)
		}
		time.Sleep(time.Second) // the deposits' slice leaves the window
		if got := b.Balance(); got != 0 {
			t.Fatalf("Balance one TTL later = %v, want 0", got)
		}
		if b.TryWithdraw() {
			t.Fatal("withdrew from an empty budget")
		}
	})
}

func TestBudgetWithdrawalsExpireToo(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := newBudget(t, retry.BudgetConfig{MinPerSecond: -1, Ratio: 1})
		for range 5 {
			b.Deposit()
		}
		if got := withdrawAll(b); got != 5 {
			t.Fatalf("5 requests at ratio 1 allowed %d retries, want 5", got)
		}
		time.Sleep(5 * time.Second)
		for range 3 {
			b.Deposit()
		}
		if got := withdrawAll(b); got != 3 {
			t.Fatalf("3 fresh requests allowed %d retries, want 3", got)
		}
	})
}

func TestBudgetRatioOfRequests(t *testing.T) {
	b := newBudget(t, retry.BudgetConfig{MinPerSecond: -1})
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
	b := newBudget(t, retry.BudgetConfig{})
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

func TestBudgetConfigValidated(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  retry.BudgetConfig
	}{
		{"NaN ratio", retry.BudgetConfig{Ratio: math.NaN()}},
		{"huge ratio", retry.BudgetConfig{Ratio: 11}},
		{"huge minimum", retry.BudgetConfig{MinPerSecond: 1_000_001}},
		{"short TTL", retry.BudgetConfig{TTL: 999 * time.Millisecond}},
		{"negative TTL", retry.BudgetConfig{TTL: -time.Second}},
		{"long TTL", retry.BudgetConfig{TTL: 61 * time.Second}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := retry.NewBudget(tc.cfg); !errors.Is(err, retry.ErrConfig) {
				t.Fatalf("NewBudget error = %v, want ErrConfig", err)
			}
		})
	}
	// Negative Ratio and MinPerSecond mean none, not the default.
	b := newBudget(t, retry.BudgetConfig{Ratio: -1, MinPerSecond: -1, TTL: time.Second})
	if b.Ratio() != 0 || b.MinPerSecond() != 0 || b.TTL() != time.Second {
		t.Fatalf("Ratio, MinPerSecond, TTL = %v, %d, %v; want 0, 0, 1s", b.Ratio(), b.MinPerSecond(), b.TTL())
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
	b := newBudget(t, retry.BudgetConfig{})
	if n := testing.AllocsPerRun(1000, b.Deposit); n != 0 {
		t.Fatalf("Deposit allocates %v times", n)
	}
	if n := testing.AllocsPerRun(1000, func() { b.TryWithdraw() }); n != 0 {
		t.Fatalf("TryWithdraw allocates %v times", n)
	}
}
