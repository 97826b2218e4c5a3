package hedge_test

import (
	"context"
	"errors"
	"fmt"
	"math"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/go-kit/kit/endpoint"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/switchyard/switchyard/middleware/hedge"
	"github.com/switchyard/switchyard/middleware/retry"
	"github.com/switchyard/switchyard/outcome"
)

var (
	err503 = &outcome.StatusError{Status: 503}
	err404 = &outcome.StatusError{Status: 404}
	idem   = retry.MarkIdempotent(context.Background())
)

func newHedge(t testing.TB, b *retry.Budget, cfg hedge.Config) endpoint.Middleware {
	t.Helper()
	h, err := hedge.New(b, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return h.Endpoint
}

func newBudget(t testing.TB, cfg retry.BudgetConfig) *retry.Budget {
	t.Helper()
	b, err := retry.NewBudget(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// request is one request seen by a scripted endpoint.
type request struct {
	n   int // 0 for the original, then 1, 2, … in arrival order
	at  time.Time
	ctx context.Context
	// answer tells the endpoint how to return; nil means "when ctx ends".
	answer chan result
}

type result struct {
	resp any
	err  error
}

// scripted returns an endpoint that reports each request on the returned
// channel and answers when the test sends on request.answer (or returns
// ctx.Err() when its context ends first).
func scripted() (endpoint.Endpoint, chan *request) {
	reqs := make(chan *request, 8)
	var n atomic.Int64
	return func(ctx context.Context, _ any) (any, error) {
		r := &request{n: int(n.Add(1) - 1), at: time.Now(), ctx: ctx, answer: make(chan result, 1)}
		reqs <- r
		select {
		case a := <-r.answer:
			return a.resp, a.err
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}, reqs
}

type outcomeOf struct {
	resp any
	err  error
}

func start(ep endpoint.Endpoint, ctx context.Context) chan outcomeOf {
	done := make(chan outcomeOf, 1)
	go func() {
		resp, err := ep(ctx, nil)
		done <- outcomeOf{resp, err}
	}()
	return done
}

// advance moves the bubble's clock on by d and waits until every
// goroutine the timers started is blocked again.
func advance(d time.Duration) {
	time.Sleep(d)
	synctest.Wait()
}

func noRequest(t *testing.T, reqs chan *request) {
	t.Helper()
	select {
	case r := <-reqs:
		t.Fatalf("unexpected request %d at %v", r.n, r.at)
	default:
	}
}

func TestHedgeFiresOnlyAfterItsDelay(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		t0 := time.Now()
		var hedges atomic.Int64
		ep, reqs := scripted()
		mw := newHedge(t, newBudget(t, retry.BudgetConfig{}), hedge.Config{Delay: 100 * time.Millisecond, Hooks: hedge.Hooks{OnHedge: func(int) { hedges.Add(1) }}})
		done := start(mw(ep), idem)
		primary := <-reqs
		advance(99 * time.Millisecond)
		noRequest(t, reqs)
		if hedges.Load() != 0 {
			t.Fatal("hedged before the delay")
		}
		advance(time.Millisecond)
		backup := <-reqs
		if at := backup.at.Sub(t0); backup.n != 1 || at != 100*time.Millisecond {
			t.Fatalf("backup %d at +%v, want 1 at +100ms", backup.n, at)
		}
		backup.answer <- result{"from backup", nil}
		got := <-done
		if got.resp != "from backup" || got.err != nil {
			t.Fatalf("call returned %v, %v; want the backup's answer", got.resp, got.err)
		}
		if !errors.Is(primary.ctx.Err(), context.Canceled) {
			t.Fatalf("original request's context: %v, want canceled", primary.ctx.Err())
		}
		if hedges.Load() != 1 {
			t.Fatalf("OnHedge called %d times, want 1", hedges.Load())
		}
	})
}

func TestFastAnswerSendsNoBackup(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ep, reqs := scripted()
		mw := newHedge(t, nil, hedge.Config{Delay: 100 * time.Millisecond})
		done := start(mw(ep), idem)
		primary := <-reqs
		advance(50 * time.Millisecond)
		primary.answer <- result{"fast", nil}
		if got := <-done; got.resp != "fast" {
			t.Fatalf("call returned %v", got.resp)
		}
		advance(time.Second) // a timer left behind would send a backup now
		noRequest(t, reqs)
		advance(time.Second)
		noRequest(t, reqs)
	})
}

func TestHedgeOnlyWithinBudget(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		// No ratio and one retry per second: one backup per second.
		b := newBudget(t, retry.BudgetConfig{Ratio: -1, MinPerSecond: 1})
		var refused, fired atomic.Int64
		ep, reqs := scripted()
		mw := newHedge(t, b, hedge.Config{Delay: 100 * time.Millisecond, Hooks: hedge.Hooks{
			OnBudgetExhausted: func() { refused.Add(1) },
			OnHedge:           func(int) { fired.Add(1) },
		}})

		call := func() (hedged bool) {
			done := start(mw(ep), idem)
			primary := <-reqs
			before := fired.Load()
			advance(100 * time.Millisecond) // OnHedge runs inside Advance
			if fired.Load() > before {
				backup := <-reqs
				backup.answer <- result{"backup", nil}
				hedged = true
			} else {
				primary.answer <- result{"primary", nil}
			}
			<-done
			return hedged
		}
		if !call() {
			t.Fatal("first slow call not hedged")
		}
		if call() {
			t.Fatal("second slow call hedged although the budget was spent")
		}
		if refused.Load() != 1 {
			t.Fatalf("OnBudgetExhausted called %d times, want 1", refused.Load())
		}
		advance(time.Second) // a new second grants one more
		if !call() {
			t.Fatal("slow call not hedged after the budget refilled")
		}
	})
}

func TestFastFailureIsNotHedged(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ep, reqs := scripted()
		mw := newHedge(t, nil, hedge.Config{Delay: 100 * time.Millisecond})
		done := start(mw(ep), idem)
		primary := <-reqs
		primary.answer <- result{nil, err503} // fails before the delay: that is the retry layer's business
		if got := <-done; !errors.Is(got.err, err503) {
			t.Fatalf("returned %v, want the 503", got.err)
		}
		advance(time.Second) // a timer left behind would send a backup now
		noRequest(t, reqs)
	})
}

func TestNoBackupAfterTheCallerGaveUp(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var fired atomic.Int64
		ep, _ := scripted()
		mw := newHedge(t, nil, hedge.Config{Delay: 100 * time.Millisecond, Hooks: hedge.Hooks{OnHedge: func(int) { fired.Add(1) }}})
		ctx, cancel := context.WithCancel(idem)
		// An endpoint that does not notice cancellation at once.
		release := make(chan struct{})
		slow := func(ctx context.Context, req any) (any, error) {
			<-release
			return ep(ctx, req)
		}
		done := start(mw(slow), ctx)
		synctest.Wait() // the hedge timer is armed, the call blocked
		cancel()
		advance(100 * time.Millisecond)
		if fired.Load() != 0 {
			t.Fatal("sent a backup for a call whose caller had given up")
		}
		close(release)
		<-done
	})
}

func TestNotIdempotentIsNotHedged(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ep, reqs := scripted()
		mw := newHedge(t, nil, hedge.Config{Delay: 100 * time.Millisecond})
		done := start(mw(ep), context.Background())
		primary := <-reqs
		advance(time.Second)
		noRequest(t, reqs)
		primary.answer <- result{"only", nil}
		if got := <-done; got.resp != "only" {
			t.Fatalf("call returned %v", got.resp)
		}
	})
}

func TestOriginalWinsAndCancelsBackup(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var won atomic.Int64
		ep, reqs := scripted()
		mw := newHedge(t, nil, hedge.Config{Delay: 10 * time.Millisecond, Hooks: hedge.Hooks{OnHedgeWon: func(int) { won.Add(1) }}})
		done := start(mw(ep), idem)
		primary := <-reqs
		advance(10 * time.Millisecond)
		backup := <-reqs
		primary.answer <- result{"primary", nil}
		if got := <-done; got.resp != "primary" {
			t.Fatalf("call returned %v", got.resp)
		}
		<-backup.ctx.Done()
		if won.Load() != 0 {
			t.Fatal("OnHedgeWon called although the original won")
		}
	})
}

func TestFailuresWaitForTheOthers(t *testing.T) {
	for _, tc := range []struct {
		name             string
		primary, backup  result
		want             result
		backupAnswerLast bool
	}{
		{"original fails, backup succeeds", result{nil, err503}, result{"backup", nil}, result{"backup", nil}, true},
		{"backup fails, original succeeds", result{"primary", nil}, result{nil, err503}, result{"primary", nil}, false},
		{"both fail", result{nil, err503}, result{nil, errors.New("reset")}, result{nil, err503}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				ep, reqs := scripted()
				mw := newHedge(t, nil, hedge.Config{Delay: 10 * time.Millisecond})
				done := start(mw(ep), idem)
				primary := <-reqs
				advance(10 * time.Millisecond)
				backup := <-reqs
				first, second := primary, backup
				fa, sa := tc.primary, tc.backup
				if !tc.backupAnswerLast {
					first, second, fa, sa = backup, primary, tc.backup, tc.primary
				}
				// An implementation returning at the first failure would return
				// it; the checks below would catch that.
				first.answer <- fa
				second.answer <- sa
				got := <-done
				if got.resp != tc.want.resp || !errors.Is(got.err, tc.want.err) {
					t.Fatalf("returned %v, %v; want %v, %v", got.resp, got.err, tc.want.resp, tc.want.err)
				}
			})
		})
	}
}

func TestCallerFaultIsFinal(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ep, reqs := scripted()
		mw := newHedge(t, nil, hedge.Config{Delay: 10 * time.Millisecond})
		done := start(mw(ep), idem)
		primary := <-reqs
		advance(10 * time.Millisecond)
		backup := <-reqs
		backup.answer <- result{nil, err404}
		if got := <-done; !errors.Is(got.err, err404) {
			t.Fatalf("returned %v, want the backup's 404", got.err)
		}
		<-primary.ctx.Done()
	})
}

func TestMaxHedges(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		t0 := time.Now()
		var fired atomic.Int64
		ep, reqs := scripted()
		mw := newHedge(t, nil, hedge.Config{Delay: 100 * time.Millisecond, MaxHedges: 2, Hooks: hedge.Hooks{OnHedge: func(int) { fired.Add(1) }}})
		done := start(mw(ep), idem)
		<-reqs
		var backups []*request
		for range 3 {
			before := fired.Load()
			advance(100 * time.Millisecond)
			if fired.Load() > before {
				backups = append(backups, <-reqs)
			}
		}
		if len(backups) != 2 || backups[0].at.Sub(t0) != 100*time.Millisecond || backups[1].at.Sub(t0) != 200*time.Millisecond {
			t.Fatalf("backups %v, want two at +100ms and +200ms", backups)
		}
		backups[1].answer <- result{"second backup", nil}
		if got := <-done; got.resp != "second backup" {
			t.Fatalf("returned %v", got.resp)
		}
		<-backups[0].ctx.Done()
	})
}

func TestPercentileDelay(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var fired atomic.Int64
		ep, reqs := scripted()
		mw := newHedge(t, nil, hedge.Config{Percentile: 0.95, InitialDelay: 10 * time.Millisecond, Hooks: hedge.Hooks{OnHedge: func(int) { fired.Add(1) }}})(ep)
		// 128 calls that take 5 ms each (fewer than 10 ms: no hedge).
		for range 128 {
			done := start(mw, idem)
			r := <-reqs
			advance(5 * time.Millisecond)
			r.answer <- result{"ok", nil}
			<-done
		}
		if fired.Load() != 0 {
			t.Fatal("hedged a call faster than the initial delay")
		}
		// Now the delay is the 95th percentile, 5 ms (to the histogram's
		// resolution: the bucket [4.608 ms, 5.12 ms)), not the initial 10 ms.
		done := start(mw, idem)
		<-reqs
		advance(5119 * time.Microsecond)
		if fired.Load() != 0 {
			t.Fatal("hedged before the percentile delay")
		}
		advance(time.Microsecond)
		backup := <-reqs
		backup.answer <- result{"backup", nil}
		<-done
	})
}

func TestConfigValidated(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  hedge.Config
	}{
		{"negative hedges", hedge.Config{MaxHedges: -1}},
		{"too many hedges", hedge.Config{MaxHedges: hedge.MaxHedges + 1}},
		{"negative delay", hedge.Config{Delay: -time.Second}},
		{"percentile 1", hedge.Config{Percentile: 1}},
		{"negative percentile", hedge.Config{Percentile: -0.5}},
		{"NaN percentile", hedge.Config{Percentile: math.NaN()}},
		{"negative initial delay", hedge.Config{InitialDelay: -time.Millisecond}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := hedge.New(nil, tc.cfg); !errors.Is(err, hedge.ErrConfig) {
				t.Fatalf("New error = %v, want ErrConfig", err)
			}
		})
	}
	if _, err := hedge.New(nil, hedge.Config{}); err != nil {
		t.Fatalf("the zero Config: %v", err)
	}
}

// TestSharedBudgetDepositsOnce puts a retry middleware around the hedging
// middleware, both on one budget holding one retry per request (ratio 1,
// no per-second grant). The call deposits once, so the first backup takes
// the only unit and the second is refused.
func TestSharedBudgetDepositsOnce(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := newBudget(t, retry.BudgetConfig{Ratio: 1, MinPerSecond: -1})
		var refused atomic.Int64
		ep, reqs := scripted()
		r, err := retry.New(b, retry.Config{})
		if err != nil {
			t.Fatal(err)
		}
		hmw := newHedge(t, b, hedge.Config{Delay: 10 * time.Millisecond, MaxHedges: 2, Hooks: hedge.Hooks{OnBudgetExhausted: func() { refused.Add(1) }}})
		done := start(r.Endpoint(hmw(ep)), idem)
		<-reqs
		advance(10 * time.Millisecond)
		backup := <-reqs
		advance(10 * time.Millisecond)
		if refused.Load() != 1 {
			t.Fatalf("OnBudgetExhausted called %d times, want 1", refused.Load())
		}
		backup.answer <- result{"ok", nil}
		<-done
	})
}

func TestSpanEvents(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		sr := tracetest.NewSpanRecorder()
		tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(sr))
		defer func() { _ = tp.Shutdown(context.Background()) }()
		ep, reqs := scripted()
		mw := newHedge(t, nil, hedge.Config{Delay: 10 * time.Millisecond})
		ctx, span := tp.Tracer("test").Start(idem, "call")
		done := start(mw(ep), ctx)
		<-reqs
		advance(10 * time.Millisecond)
		backup := <-reqs
		backup.answer <- result{"ok", nil}
		<-done
		span.End()
		var names []string
		for _, e := range sr.Ended()[0].Events() {
			names = append(names, e.Name)
		}
		if want := fmt.Sprint([]string{hedge.EventFired, hedge.EventWon}); fmt.Sprint(names) != want {
			t.Fatalf("events %v, want %v", names, want)
		}
	})
}

func TestCallerCancelEndsTheCall(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ep, reqs := scripted()
		mw := newHedge(t, nil, hedge.Config{Delay: 10 * time.Millisecond})
		ctx, cancel := context.WithCancel(idem)
		done := start(mw(ep), ctx)
		primary := <-reqs
		advance(10 * time.Millisecond)
		backup := <-reqs
		primary.answer <- result{nil, err503} // the original fails; the call waits for the backup
		cancel()
		if got := <-done; got.err == nil {
			t.Fatal("call succeeded after its caller gave up")
		}
		<-backup.ctx.Done()
	})
}
