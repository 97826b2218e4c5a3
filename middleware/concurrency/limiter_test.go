package concurrency_test

import (
	"context"
	"errors"
	"math"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.uber.org/goleak"

	"github.com/switchyard/switchyard/middleware/concurrency"
	"github.com/switchyard/switchyard/outcome"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// newLimiter returns concurrency.New's limiter, failing tb on error.
func newLimiter(tb testing.TB, cfg concurrency.Config) *concurrency.Limiter {
	tb.Helper()
	l, err := concurrency.New(cfg)
	if err != nil {
		tb.Fatal(err)
	}
	return l
}

func TestFixedShedsBeyondLimit(t *testing.T) {
	ctx := context.Background()
	l := newLimiter(t, concurrency.Config{Limit: 2})
	a, err1 := l.Acquire(ctx)
	b, err2 := l.Acquire(ctx)
	if err1 != nil || err2 != nil {
		t.Fatal(err1, err2)
	}
	_, err := l.Acquire(ctx)
	var ce *concurrency.Error
	if !errors.As(err, &ce) || ce.Limit != 2 || !errors.Is(err, concurrency.ErrLimitExceeded) {
		t.Fatalf("third call: %v, want *Error with limit 2", err)
	}
	if outcome.Default(ctx, err) != outcome.ServerFailure || ce.StatusCode() != 503 {
		t.Fatalf("shed classified %v, status %d", outcome.Default(ctx, err), ce.StatusCode())
	}
	a.Release(ctx, nil)
	c, err := l.Acquire(ctx)
	if err != nil {
		t.Fatalf("after a release: %v", err)
	}
	b.Release(ctx, nil)
	c.Release(ctx, nil)
	if n := l.InFlight(); n != 0 {
		t.Fatalf("%d in flight after all releases", n)
	}
	concurrency.Token{}.Release(ctx, nil) // the zero token is harmless
}

func TestFixedNeverExceedsLimitUnderLoad(t *testing.T) {
	for _, wait := range []bool{false, true} {
		l := newLimiter(t, concurrency.Config{Limit: 3, Wait: wait})
		var cur, peak, done atomic.Int64
		var wg sync.WaitGroup
		for range 8 {
			wg.Go(func() {
				for range 2000 {
					tok, err := l.Acquire(context.Background())
					if err != nil {
						continue
					}
					n := cur.Add(1)
					for p := peak.Load(); n > p && !peak.CompareAndSwap(p, n); p = peak.Load() {
					}
					cur.Add(-1)
					done.Add(1)
					tok.Release(context.Background(), nil)
				}
			})
		}
		wg.Wait()
		if p := peak.Load(); p > 3 {
			t.Fatalf("wait=%v: %d calls ran at once, limit 3", wait, p)
		}
		if wait && done.Load() != 8*2000 {
			t.Fatalf("wait mode completed %d of %d calls", done.Load(), 8*2000)
		}
		if l.InFlight() != 0 {
			t.Fatalf("wait=%v: %d slots leaked", wait, l.InFlight())
		}
	}
}

func TestWaitModeQueuesInOrder(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		l := newLimiter(t, concurrency.Config{Limit: 1, Wait: true})
		first, _ := l.Acquire(ctx)
		var order []int
		var mu sync.Mutex
		var wg sync.WaitGroup
		for i := range 3 {
			wg.Go(func() {
				tok, err := l.Acquire(ctx)
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				order = append(order, i)
				mu.Unlock()
				tok.Release(ctx, nil)
			})
			synctest.Wait() // queue them in a known order
		}
		if len(order) != 0 {
			t.Fatal("a waiter ran while the slot was taken")
		}
		first.Release(ctx, nil)
		wg.Wait()
		if len(order) != 3 || order[0] != 0 || order[1] != 1 || order[2] != 2 {
			t.Fatalf("waiters ran in order %v, want [0 1 2]", order)
		}
	})
}

func TestWaitModeGivesUpWithContext(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l := newLimiter(t, concurrency.Config{Limit: 1, Wait: true})
		held, _ := l.Acquire(context.Background())
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		_, err := l.Acquire(ctx) // the bubble's clock runs the timeout out
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("got %v, want the context's deadline error", err)
		}
		held.Release(context.Background(), nil)
		if l.InFlight() != 0 {
			t.Fatalf("%d slots in flight after the waiter gave up", l.InFlight())
		}
		tok, err := l.Acquire(context.Background())
		if err != nil {
			t.Fatalf("slot lost to the cancelled waiter: %v", err)
		}
		tok.Release(context.Background(), nil)
	})
}

func TestShedSpanEvent(t *testing.T) {
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	l := newLimiter(t, concurrency.Config{Limit: 1})
	tok, _ := l.Acquire(context.Background())
	ctx, span := tp.Tracer("t").Start(context.Background(), "shed")
	l.Acquire(ctx)
	span.End()
	tok.Release(context.Background(), nil)
	ev := rec.Ended()[0].Events()
	if len(ev) != 1 || ev[0].Name != "switchyard.concurrency.shed" || ev[0].Attributes[0].Value.AsString() != "limit_reached" {
		t.Fatalf("events %+v", ev)
	}
}

// sim drives an adaptive limiter in a synctest bubble: each round offers
// more calls than the limit, admits what it can, lets latency pass on the
// bubble's clock and releases them all.
type sim struct {
	l *concurrency.Limiter
}

// run simulates d of time at the given latency and returns the lowest and
// the final limit.
func (s *sim) run(latency, d time.Duration) (lowest, last int) {
	ctx := context.Background()
	lowest = s.l.Limit()
	for elapsed := time.Duration(0); elapsed < d; elapsed += latency {
		var toks []concurrency.Token
		for range 2000 {
			tok, err := s.l.Acquire(ctx)
			if err != nil {
				break
			}
			toks = append(toks, tok)
		}
		time.Sleep(latency)
		for _, tok := range toks {
			tok.Release(ctx, nil)
		}
		lowest = min(lowest, s.l.Limit())
	}
	return lowest, s.l.Limit()
}

func TestAdaptiveFollowsLatency(t *testing.T) {
	synctest.Test(t, testAdaptiveFollowsLatency)
}

func testAdaptiveFollowsLatency(t *testing.T) {
	var changes atomic.Int64
	l := newLimiter(t, concurrency.Config{
		Adaptive: concurrency.Adaptive{Initial: 20, Min: 5, Max: 500, Window: 100 * time.Millisecond},
		Hooks:    concurrency.Hooks{OnLimitChange: func(from, to int) { changes.Add(1) }},
	})
	s := &sim{l: l}

	_, steady := s.run(10*time.Millisecond, 10*time.Second)
	t.Logf("10ms latency for 10s: limit 20 -> %d", steady)
	if steady < 100 {
		t.Fatalf("limit %d after 10s at steady latency; it should have grown from 20", steady)
	}
	lowest, _ := s.run(50*time.Millisecond, 3*time.Second)
	t.Logf("50ms latency for 3s: limit fell to %d", lowest)
	if lowest > steady*6/10 {
		t.Fatalf("latency rose 5x and the limit only fell from %d to %d", steady, lowest)
	}
	_, slow := s.run(50*time.Millisecond, 0) // where it stands now
	_, recovered := s.run(10*time.Millisecond, 5*time.Second)
	t.Logf("10ms latency again for 5s: limit %d -> %d", slow, recovered)
	if recovered <= lowest+lowest/2 || recovered <= slow {
		t.Fatalf("latency fell back and the limit went from %d (lowest %d) only to %d", slow, lowest, recovered)
	}
	if changes.Load() == 0 {
		t.Fatal("OnLimitChange never called")
	}
}

func TestAdaptiveStaysWithinBounds(t *testing.T) {
	synctest.Test(t, testAdaptiveStaysWithinBounds)
}

func testAdaptiveStaysWithinBounds(t *testing.T) {
	l := newLimiter(t, concurrency.Config{
		Adaptive: concurrency.Adaptive{Initial: 10, Min: 8, Max: 30, Window: 50 * time.Millisecond},
	})
	s := &sim{l: l}
	_, hi := s.run(5*time.Millisecond, 10*time.Second)
	if hi != 30 {
		t.Fatalf("limit %d at steady latency, want the max 30", hi)
	}
	lo, _ := s.run(500*time.Millisecond, time.Minute)
	if lo != 8 {
		t.Fatalf("limit fell to %d under 100x latency, want the min 8", lo)
	}
}

// An idle service (calls far below the limit) says nothing about
// capacity: the limit must not grow while nobody needs it.
func TestAdaptiveIgnoresAppLimitedWindows(t *testing.T) {
	synctest.Test(t, testAdaptiveIgnoresAppLimitedWindows)
}

func testAdaptiveIgnoresAppLimitedWindows(t *testing.T) {
	l := newLimiter(t, concurrency.Config{Adaptive: concurrency.Adaptive{Initial: 50, Window: 100 * time.Millisecond}})
	ctx := context.Background()
	for range 1000 {
		var toks []concurrency.Token
		for range 5 {
			tok, _ := l.Acquire(ctx)
			toks = append(toks, tok)
		}
		time.Sleep(10 * time.Millisecond)
		for _, tok := range toks {
			tok.Release(ctx, nil)
		}
	}
	if got := l.Limit(); got != 50 {
		t.Fatalf("limit moved to %d while only 5 of 50 slots were used", got)
	}
}

func TestAdaptiveIgnoresCancelledCalls(t *testing.T) {
	synctest.Test(t, testAdaptiveIgnoresCancelledCalls)
}

func testAdaptiveIgnoresCancelledCalls(t *testing.T) {
	l := newLimiter(t, concurrency.Config{Adaptive: concurrency.Adaptive{Initial: 10, Window: 10 * time.Millisecond, MinSamples: 1}})
	s := &sim{l: l}
	s.run(time.Millisecond, time.Second)
	before := l.Limit()
	canceled, cancel := context.WithCancel(context.Background())
	cancel()
	for range 200 {
		var toks []concurrency.Token
		for range before {
			tok, _ := l.Acquire(canceled)
			toks = append(toks, tok)
		}
		time.Sleep(time.Second) // huge latency, but the caller had left
		for _, tok := range toks {
			tok.Release(canceled, context.Canceled)
		}
	}
	if got := l.Limit(); got < before {
		t.Fatalf("limit fell from %d to %d on calls the caller cancelled", before, got)
	}
}

func TestInvalidConfig(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  concurrency.Config
	}{
		{"negative limit", concurrency.Config{Limit: -1}},
		{"adaptive with a fixed limit", concurrency.Config{Limit: 8, Adaptive: concurrency.Adaptive{Max: 10}}},
		{"negative retry after", concurrency.Config{RetryAfter: -time.Second}},
		{"negative min", concurrency.Config{Adaptive: concurrency.Adaptive{Min: -1}}},
		{"max below min", concurrency.Config{Adaptive: concurrency.Adaptive{Min: 10, Max: 5}}},
		{"initial above max", concurrency.Config{Adaptive: concurrency.Adaptive{Initial: 50, Max: 30}}},
		{"initial below min", concurrency.Config{Adaptive: concurrency.Adaptive{Initial: 2, Min: 4}}},
		{"tolerance below 1", concurrency.Config{Adaptive: concurrency.Adaptive{Tolerance: 0.5}}},
		{"NaN tolerance", concurrency.Config{Adaptive: concurrency.Adaptive{Tolerance: math.NaN()}}},
		{"smoothing above 1", concurrency.Config{Adaptive: concurrency.Adaptive{Smoothing: 1.5}}},
		{"negative window", concurrency.Config{Adaptive: concurrency.Adaptive{Window: -time.Second}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if l, err := concurrency.New(tc.cfg); !errors.Is(err, concurrency.ErrConfig) || l != nil {
				t.Errorf("New(%+v) = %v, %v; want an ErrConfig", tc.cfg, l, err)
			}
		})
	}
	for _, tc := range []struct {
		name string
		cfg  concurrency.Config
		want int
	}{
		{"zero: adaptive from 20", concurrency.Config{}, 20},
		{"fixed", concurrency.Config{Limit: 7}, 7},
		{"default initial within a low max", concurrency.Config{Adaptive: concurrency.Adaptive{Max: 10}}, 10},
		{"default initial within a high min", concurrency.Config{Adaptive: concurrency.Adaptive{Min: 30}}, 30},
		{"default min below a low max", concurrency.Config{Adaptive: concurrency.Adaptive{Max: 2}}, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if l := newLimiter(t, tc.cfg); l.Limit() != tc.want {
				t.Errorf("New(%+v).Limit() = %d, want %d", tc.cfg, l.Limit(), tc.want)
			}
		})
	}
}
