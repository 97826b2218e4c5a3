package hedge_test

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-kit/kit/endpoint"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/switchyard/switchyard/internal/clock"
	"github.com/switchyard/switchyard/middleware/hedge"
	"github.com/switchyard/switchyard/middleware/retry"
)

var (
	t0     = time.Unix(1_700_000_000, 0)
	err503 = &retry.StatusError{Code: 503}
	err404 = &retry.StatusError{Code: 404}
	idem   = retry.WithIdempotent(context.Background())
)

func newHedge(t testing.TB, b *retry.Budget, opts ...hedge.Option) endpoint.Middleware {
	t.Helper()
	mw, err := hedge.New(b, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return mw
}

func newBudget(t testing.TB, opts ...retry.BudgetOption) *retry.Budget {
	t.Helper()
	b, err := retry.NewBudget(opts...)
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
func scripted(clk clock.Clock) (endpoint.Endpoint, chan *request) {
	reqs := make(chan *request, 8)
	var n atomic.Int64
	return func(ctx context.Context, _ any) (any, error) {
		r := &request{n: int(n.Add(1) - 1), at: clk.Now(), ctx: ctx, answer: make(chan result, 1)}
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

func noRequest(t *testing.T, reqs chan *request) {
	t.Helper()
	select {
	case r := <-reqs:
		t.Fatalf("unexpected request %d at %v", r.n, r.at.Sub(t0))
	default:
	}
}

func TestHedgeFiresOnlyAfterItsDelay(t *testing.T) {
	clk := clock.NewFake(t0)
	var hedges atomic.Int64
	ep, reqs := scripted(clk)
	mw := newHedge(t, newBudget(t, retry.WithBudgetClock(clk)), hedge.WithClock(clk), hedge.WithDelay(100*time.Millisecond),
		hedge.WithHooks(hedge.Hooks{OnHedge: func(int) { hedges.Add(1) }}))
	done := start(mw(ep), idem)
	primary := <-reqs
	clk.Advance(99 * time.Millisecond)
	noRequest(t, reqs)
	if hedges.Load() != 0 {
		t.Fatal("hedged before the delay")
	}
	clk.Advance(time.Millisecond)
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
}

func TestFastAnswerSendsNoBackup(t *testing.T) {
	clk := clock.NewFake(t0)
	ep, reqs := scripted(clk)
	mw := newHedge(t, nil, hedge.WithClock(clk), hedge.WithDelay(100*time.Millisecond))
	done := start(mw(ep), idem)
	primary := <-reqs
	clk.Advance(50 * time.Millisecond)
	primary.answer <- result{"fast", nil}
	if got := <-done; got.resp != "fast" {
		t.Fatalf("call returned %v", got.resp)
	}
	if clk.Pending() != 0 {
		t.Fatal("the hedge timer outlived the call")
	}
	clk.Advance(time.Second)
	noRequest(t, reqs)
}

func TestHedgeOnlyWithinBudget(t *testing.T) {
	clk := clock.NewFake(t0)
	// No ratio and one retry per second: one backup per second.
	b := newBudget(t, retry.WithBudgetClock(clk), retry.WithRatio(0), retry.WithMinPerSecond(1))
	var refused, fired atomic.Int64
	ep, reqs := scripted(clk)
	mw := newHedge(t, b, hedge.WithClock(clk), hedge.WithDelay(100*time.Millisecond),
		hedge.WithHooks(hedge.Hooks{
			OnBudgetExhausted: func() { refused.Add(1) },
			OnHedge:           func(int) { fired.Add(1) },
		}))

	call := func() (hedged bool) {
		done := start(mw(ep), idem)
		primary := <-reqs
		before := fired.Load()
		clk.Advance(100 * time.Millisecond) // OnHedge runs inside Advance
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
	clk.Advance(time.Second) // a new second grants one more
	if !call() {
		t.Fatal("slow call not hedged after the budget refilled")
	}
}

func TestFastFailureIsNotHedged(t *testing.T) {
	clk := clock.NewFake(t0)
	ep, reqs := scripted(clk)
	mw := newHedge(t, nil, hedge.WithClock(clk), hedge.WithDelay(100*time.Millisecond))
	done := start(mw(ep), idem)
	primary := <-reqs
	primary.answer <- result{nil, err503} // fails before the delay: that is the retry layer's business
	if got := <-done; !errors.Is(got.err, err503) {
		t.Fatalf("returned %v, want the 503", got.err)
	}
	if clk.Pending() != 0 {
		t.Fatal("the hedge timer outlived the call")
	}
}

func TestNoBackupAfterTheCallerGaveUp(t *testing.T) {
	clk := clock.NewFake(t0)
	var fired atomic.Int64
	ep, _ := scripted(clk)
	mw := newHedge(t, nil, hedge.WithClock(clk), hedge.WithDelay(100*time.Millisecond),
		hedge.WithHooks(hedge.Hooks{OnHedge: func(int) { fired.Add(1) }}))
	ctx, cancel := context.WithCancel(idem)
	// An endpoint that does not notice cancellation at once.
	release := make(chan struct{})
	slow := func(ctx context.Context, req any) (any, error) {
		<-release
		return ep(ctx, req)
	}
	done := start(mw(slow), ctx)
	for clk.Pending() == 0 { // the hedge timer is armed
		runtime.Gosched()
	}
	cancel()
	clk.Advance(100 * time.Millisecond)
	if fired.Load() != 0 {
		t.Fatal("sent a backup for a call whose caller had given up")
	}
	close(release)
	<-done
}

func TestNotIdempotentIsNotHedged(t *testing.T) {
	clk := clock.NewFake(t0)
	ep, reqs := scripted(clk)
	mw := newHedge(t, nil, hedge.WithClock(clk), hedge.WithDelay(100*time.Millisecond))
	done := start(mw(ep), context.Background())
	primary := <-reqs
	if clk.Pending() != 0 {
		t.Fatal("a timer was set for a call that is not idempotent")
	}
	clk.Advance(time.Second)
	noRequest(t, reqs)
	primary.answer <- result{"only", nil}
	if got := <-done; got.resp != "only" {
		t.Fatalf("call returned %v", got.resp)
	}
}

func TestOriginalWinsAndCancelsBackup(t *testing.T) {
	clk := clock.NewFake(t0)
	var won atomic.Int64
	ep, reqs := scripted(clk)
	mw := newHedge(t, nil, hedge.WithClock(clk), hedge.WithDelay(10*time.Millisecond),
		hedge.WithHooks(hedge.Hooks{OnHedgeWon: func(int) { won.Add(1) }}))
	done := start(mw(ep), idem)
	primary := <-reqs
	clk.Advance(10 * time.Millisecond)
	backup := <-reqs
	primary.answer <- result{"primary", nil}
	if got := <-done; got.resp != "primary" {
		t.Fatalf("call returned %v", got.resp)
	}
	<-backup.ctx.Done()
	if won.Load() != 0 {
		t.Fatal("OnHedgeWon called although the original won")
	}
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
			clk := clock.NewFake(t0)
			ep, reqs := scripted(clk)
			mw := newHedge(t, nil, hedge.WithClock(clk), hedge.WithDelay(10*time.Millisecond))
			done := start(mw(ep), idem)
			primary := <-reqs
			clk.Advance(10 * time.Millisecond)
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
	}
}

func TestCallerFaultIsFinal(t *testing.T) {
	clk := clock.NewFake(t0)
	ep, reqs := scripted(clk)
	mw := newHedge(t, nil, hedge.WithClock(clk), hedge.WithDelay(10*time.Millisecond))
	done := start(mw(ep), idem)
	primary := <-reqs
	clk.Advance(10 * time.Millisecond)
	backup := <-reqs
	backup.answer <- result{nil, err404}
	if got := <-done; !errors.Is(got.err, err404) {
		t.Fatalf("returned %v, want the backup's 404", got.err)
	}
	<-primary.ctx.Done()
}

func TestMaxHedges(t *testing.T) {
	clk := clock.NewFake(t0)
	var fired atomic.Int64
	ep, reqs := scripted(clk)
	mw := newHedge(t, nil, hedge.WithClock(clk), hedge.WithDelay(100*time.Millisecond), hedge.WithMaxHedges(2),
		hedge.WithHooks(hedge.Hooks{OnHedge: func(int) { fired.Add(1) }}))
	done := start(mw(ep), idem)
	<-reqs
	var backups []*request
	for range 3 {
		before := fired.Load()
		clk.Advance(100 * time.Millisecond)
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
}

func TestPercentileDelay(t *testing.T) {
	clk := clock.NewFake(t0)
	var fired atomic.Int64
	ep, reqs := scripted(clk)
	mw := newHedge(t, nil, hedge.WithClock(clk), hedge.WithPercentile(0.95, 10*time.Millisecond),
		hedge.WithHooks(hedge.Hooks{OnHedge: func(int) { fired.Add(1) }}))(ep)
	// 128 calls that take 5 ms each (fewer than 10 ms: no hedge).
	for range 128 {
		done := start(mw, idem)
		r := <-reqs
		clk.Advance(5 * time.Millisecond)
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
	clk.Advance(5119 * time.Microsecond)
	if fired.Load() != 0 {
		t.Fatal("hedged before the percentile delay")
	}
	clk.Advance(time.Microsecond)
	backup := <-reqs
	backup.answer <- result{"backup", nil}
	<-done
}

func TestOptionsValidated(t *testing.T) {
	for _, tc := range []struct {
		name string
		opt  hedge.Option
	}{
		{"no hedges", hedge.WithMaxHedges(0)},
		{"too many hedges", hedge.WithMaxHedges(hedge.MaxHedges + 1)},
		{"negative delay", hedge.WithDelay(-time.Second)},
		{"percentile 1", hedge.WithPercentile(1, time.Millisecond)},
		{"percentile 0", hedge.WithPercentile(0, time.Millisecond)},
		{"no initial delay", hedge.WithPercentile(0.9, 0)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := hedge.New(nil, tc.opt); !errors.Is(err, hedge.ErrInvalidOption) {
				t.Fatalf("New error = %v, want ErrInvalidOption", err)
			}
		})
	}
}

// TestSharedBudgetDepositsOnce puts a retry middleware around the hedging
// middleware, both on one budget holding one retry per request (ratio 1,
// no per-second grant). The call deposits once, so the first backup takes
// the only unit and the second is refused.
func TestSharedBudgetDepositsOnce(t *testing.T) {
	clk := clock.NewFake(t0)
	b := newBudget(t, retry.WithBudgetClock(clk), retry.WithRatio(1), retry.WithMinPerSecond(0))
	var refused atomic.Int64
	ep, reqs := scripted(clk)
	rmw, err := retry.New(b, retry.WithClock(clk))
	if err != nil {
		t.Fatal(err)
	}
	hmw := newHedge(t, b, hedge.WithClock(clk), hedge.WithDelay(10*time.Millisecond), hedge.WithMaxHedges(2),
		hedge.WithHooks(hedge.Hooks{OnBudgetExhausted: func() { refused.Add(1) }}))
	done := start(rmw(hmw(ep)), idem)
	<-reqs
	clk.Advance(10 * time.Millisecond)
	backup := <-reqs
	clk.Advance(10 * time.Millisecond)
	if refused.Load() != 1 {
		t.Fatalf("OnBudgetExhausted called %d times, want 1", refused.Load())
	}
	backup.answer <- result{"ok", nil}
	<-done
}

func TestSpanEvents(t *testing.T) {
	sr := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(sr))
	defer func() { _ = tp.Shutdown(context.Background()) }()
	clk := clock.NewFake(t0)
	ep, reqs := scripted(clk)
	mw := newHedge(t, nil, hedge.WithClock(clk), hedge.WithDelay(10*time.Millisecond))
	ctx, span := tp.Tracer("test").Start(idem, "call")
	done := start(mw(ep), ctx)
	<-reqs
	clk.Advance(10 * time.Millisecond)
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
}

func TestCallerCancelEndsTheCall(t *testing.T) {
	clk := clock.NewFake(t0)
	ep, reqs := scripted(clk)
	mw := newHedge(t, nil, hedge.WithClock(clk), hedge.WithDelay(10*time.Millisecond))
	ctx, cancel := context.WithCancel(idem)
	done := start(mw(ep), ctx)
	primary := <-reqs
	clk.Advance(10 * time.Millisecond)
	backup := <-reqs
	primary.answer <- result{nil, err503} // the original fails; the call waits for the backup
	cancel()
	if got := <-done; got.err == nil {
		t.Fatal("call succeeded after its caller gave up")
	}
	<-backup.ctx.Done()
}
