package retry_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"runtime"
	"testing"
	"time"

	"github.com/go-kit/kit/endpoint"
	"go.opentelemetry.io/otel/attribute"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/switchyard/switchyard/internal/clock"
	"github.com/switchyard/switchyard/middleware/retry"
	"github.com/switchyard/switchyard/outcome"
)

var (
	err503 = &retry.StatusError{Code: 503}
	err400 = &retry.StatusError{Code: 400}
)

func newMiddleware(t testing.TB, b *retry.Budget, opts ...retry.Option) endpoint.Middleware {
	t.Helper()
	mw, err := retry.New(b, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return mw
}

// counting returns an endpoint that answers with errs in turn (nil meaning
// success) and then with the last one, and a pointer to its call count.
func counting(errs ...error) (endpoint.Endpoint, *int) {
	n := new(int)
	return func(context.Context, any) (any, error) {
		i := min(*n, len(errs)-1)
		*n++
		if errs[i] != nil {
			return nil, errs[i]
		}
		return "ok", nil
	}, n
}

type idem bool

func (i idem) Idempotent() bool { return bool(i) }

func TestWhatIsRetried(t *testing.T) {
	ctxIdem := retry.WithIdempotent(context.Background())
	canceled, cancel := context.WithCancel(ctxIdem)
	cancel()
	post := func(key string) *http.Request {
		r, _ := http.NewRequest(http.MethodPost, "http://x/", nil)
		if key != "" {
			r.Header.Set(retry.IdempotencyKeyHeader, key)
		}
		return r
	}
	get, _ := http.NewRequest(http.MethodGet, "http://x/", nil)
	for _, tc := range []struct {
		name     string
		ctx      context.Context
		req      any
		err      error
		attempts int
	}{
		{"server failure, idempotent ctx", ctxIdem, nil, err503, 3},
		{"429 is the caller's to wait out", ctxIdem, nil, &retry.StatusError{Code: 429}, 1},
		{"timeout of an attempt", ctxIdem, nil, context.DeadlineExceeded, 3},
		{"caller fault", ctxIdem, nil, err400, 1},
		{"context.Canceled", ctxIdem, nil, context.Canceled, 1},
		{"caller's context done", canceled, nil, err503, 1},
		{"not marked idempotent", context.Background(), nil, err503, 1},
		{"idempotency key in ctx", retry.WithIdempotencyKey(context.Background(), "k1"), nil, err503, 3},
		{"empty idempotency key", retry.WithIdempotencyKey(context.Background(), ""), nil, err503, 1},
		{"request says idempotent", context.Background(), idem(true), err503, 3},
		{"request says not idempotent", context.Background(), idem(false), err503, 1},
		{"HTTP GET", context.Background(), get, err503, 3},
		{"HTTP POST", context.Background(), post(""), err503, 1},
		{"HTTP POST with key", context.Background(), post("k2"), err503, 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ep, n := counting(tc.err)
			mw := newMiddleware(t, nil, retry.WithBackoffFunc(retry.NoBackoff))
			if _, err := mw(ep)(tc.ctx, tc.req); !errors.Is(err, tc.err) {
				t.Fatalf("error = %v, want %v", err, tc.err)
			}
			if *n != tc.attempts {
				t.Fatalf("%d attempts, want %d", *n, tc.attempts)
			}
		})
	}
}

func TestSucceedsAfterRetries(t *testing.T) {
	ep, n := counting(err503, err503, nil)
	var retries []int
	mw := newMiddleware(t, nil, retry.WithMaxAttempts(5), retry.WithBackoffFunc(retry.NoBackoff),
		retry.WithHooks(retry.Hooks{OnRetry: func(a int, err error) {
			if !errors.Is(err, err503) {
				t.Errorf("OnRetry error = %v", err)
			}
			retries = append(retries, a)
		}}))
	resp, err := mw(ep)(retry.WithIdempotent(context.Background()), nil)
	if err != nil || resp != "ok" || *n != 3 {
		t.Fatalf("got %v, %v after %d attempts; want ok after 3", resp, err, *n)
	}
	if fmt.Sprint(retries) != "[2 3]" {
		t.Fatalf("OnRetry attempts = %v, want [2 3]", retries)
	}
}

func TestMaxAttemptsValidated(t *testing.T) {
	for _, tc := range []struct {
		name string
		opt  retry.Option
	}{
		{"0 attempts", retry.WithMaxAttempts(0)},
		{"6 attempts", retry.WithMaxAttempts(6)},
		{"cap below base", retry.WithBackoff(time.Second, time.Millisecond)},
		{"negative base", retry.WithBackoff(-time.Second, time.Second)},
		{"negative per-try", retry.WithPerTryTimeout(-time.Second)},
		{"negative min attempt", retry.WithMinAttemptTime(-time.Second)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := retry.New(nil, tc.opt); !errors.Is(err, retry.ErrInvalidOption) {
				t.Fatalf("New error = %v, want ErrInvalidOption", err)
			}
			if _, err := retry.NewHTTPClient(nil, tc.opt); !errors.Is(err, retry.ErrInvalidOption) {
				t.Fatalf("NewHTTPClient error = %v, want ErrInvalidOption", err)
			}
		})
	}
	ep, n := counting(err503)
	mw := newMiddleware(t, nil, retry.WithMaxAttempts(5), retry.WithBackoffFunc(retry.NoBackoff))
	_, _ = mw(ep)(retry.WithIdempotent(context.Background()), nil)
	if *n != 5 {
		t.Fatalf("%d attempts with WithMaxAttempts(5), want 5", *n)
	}
}

// waitTimer waits until a goroutine has registered a timer on clk.
func waitTimer(clk *clock.Fake, n int) {
	for clk.Pending() < n {
		runtime.Gosched()
	}
}

func TestBackoffSleepsOnTheClock(t *testing.T) {
	clk := clock.NewFake(time.Unix(0, 0))
	calls := make(chan time.Time, 3)
	n := 0
	ep := func(context.Context, any) (any, error) {
		calls <- clk.Now()
		if n++; n < 3 {
			return nil, err503
		}
		return "ok", nil
	}
	mw := newMiddleware(t, nil, retry.WithClock(clk), retry.WithBackoffFunc(retry.Exponential),
		retry.WithBackoff(100*time.Millisecond, time.Second))
	done := make(chan error, 1)
	go func() {
		_, err := mw(ep)(retry.WithIdempotent(context.Background()), nil)
		done <- err
	}()
	start := <-calls
	waitTimer(clk, 1)
	clk.Advance(99 * time.Millisecond)
	if len(calls) != 0 {
		t.Fatal("retried before the backoff was over")
	}
	clk.Advance(time.Millisecond)
	if at := (<-calls).Sub(start); at != 100*time.Millisecond {
		t.Fatalf("second attempt at +%v, want +100ms", at)
	}
	waitTimer(clk, 1)
	clk.Advance(200 * time.Millisecond) // the second backoff doubles
	if at := (<-calls).Sub(start); at != 300*time.Millisecond {
		t.Fatalf("third attempt at +%v, want +300ms", at)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

func TestStopsAtTheCallersDeadline(t *testing.T) {
	clk := clock.NewFake(time.Unix(0, 0))
	var deadlines int
	mw := newMiddleware(t, nil, retry.WithClock(clk), retry.WithMaxAttempts(5),
		retry.WithBackoffFunc(retry.Exponential), retry.WithBackoff(100*time.Millisecond, time.Second),
		retry.WithHooks(retry.Hooks{OnDeadline: func() { deadlines++ }}))
	ctx, cancel := clock.WithTimeout(retry.WithIdempotent(context.Background()), clk, 250*time.Millisecond)
	defer cancel()
	attempts := make(chan struct{}, 5)
	ep := func(context.Context, any) (any, error) { attempts <- struct{}{}; return nil, err503 }
	done := make(chan error, 1)
	go func() { _, err := mw(ep)(ctx, nil); done <- err }()
	<-attempts
	// Attempt 1 fails at 0; a 100 ms backoff leaves 150 ms: retry.
	waitTimer(clk, 2) // the caller's deadline and the backoff
	clk.Advance(100 * time.Millisecond)
	<-attempts
	// Attempt 2 fails at 100 ms; a 200 ms backoff would end at 300 ms,
	// after the deadline at 250 ms: give up now, without sleeping.
	if err := <-done; !errors.Is(err, err503) {
		t.Fatalf("error = %v, want the last attempt's", err)
	}
	if clk.Now() != time.Unix(0, 0).Add(100*time.Millisecond) || len(attempts) != 0 {
		t.Fatalf("gave up at %v after %d more attempts", clk.Now(), len(attempts))
	}
	if deadlines != 1 {
		t.Fatalf("OnDeadline called %d times, want 1", deadlines)
	}
}

func TestPerTryTimeout(t *testing.T) {
	clk := clock.NewFake(time.Unix(0, 0))
	mw := newMiddleware(t, nil, retry.WithClock(clk), retry.WithMaxAttempts(2),
		retry.WithBackoffFunc(retry.NoBackoff), retry.WithPerTryTimeout(50*time.Millisecond))
	deadlines := make(chan time.Time, 2)
	ep := func(ctx context.Context, _ any) (any, error) {
		d, _ := ctx.Deadline()
		deadlines <- d
		<-ctx.Done()
		return nil, ctx.Err()
	}
	done := make(chan error, 1)
	go func() { _, err := mw(ep)(retry.WithIdempotent(context.Background()), nil); done <- err }()
	for i := range 2 {
		d := <-deadlines
		if want := time.Unix(0, 0).Add(time.Duration(i+1) * 50 * time.Millisecond); !d.Equal(want) {
			t.Fatalf("attempt %d deadline %v, want %v", i+1, d, want)
		}
		waitTimer(clk, 1)
		clk.Advance(50 * time.Millisecond)
	}
	if err := <-done; !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("error = %v, want DeadlineExceeded", err)
	}
}

func TestCallerCancelDuringBackoff(t *testing.T) {
	clk := clock.NewFake(time.Unix(0, 0))
	mw := newMiddleware(t, nil, retry.WithClock(clk), retry.WithBackoffFunc(retry.Exponential))
	ctx, cancel := context.WithCancel(retry.WithIdempotent(context.Background()))
	ep, n := counting(err503)
	done := make(chan error, 1)
	go func() { _, err := mw(ep)(ctx, nil); done <- err }()
	waitTimer(clk, 1)
	cancel()
	if err := <-done; !errors.Is(err, err503) {
		t.Fatalf("error = %v, want the last attempt's", err)
	}
	if *n != 1 {
		t.Fatalf("%d attempts, want 1", *n)
	}
}

// TestOneRetryLayerPerCallPath nests two retry middlewares sharing one
// budget that holds exactly one retry per request (ratio 1, no per-second
// grant): the inner layer must neither retry nor deposit again.
func TestOneRetryLayerPerCallPath(t *testing.T) {
	b := newBudget(t, retry.WithRatio(1), retry.WithMinPerSecond(0))
	outer := newMiddleware(t, b, retry.WithMaxAttempts(5), retry.WithBackoffFunc(retry.NoBackoff))
	inner := newMiddleware(t, b, retry.WithMaxAttempts(5), retry.WithBackoffFunc(retry.NoBackoff))
	var sawActive bool
	ep, n := counting(err503)
	probe := func(ctx context.Context, req any) (any, error) {
		sawActive = retry.Active(ctx)
		return ep(ctx, req)
	}
	if retry.Active(context.Background()) {
		t.Fatal("Active on a bare context")
	}
	_, _ = outer(inner(probe))(retry.WithIdempotent(context.Background()), nil)
	if !sawActive {
		t.Fatal("the endpoint did not see an active retry layer")
	}
	if *n != 2 {
		t.Fatalf("%d attempts, want 2 (one deposit of one retry, one layer retrying)", *n)
	}
}

func TestBudgetExhaustedEvent(t *testing.T) {
	sr := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(sr))
	defer func() { _ = tp.Shutdown(context.Background()) }()
	b := newBudget(t, retry.WithRatio(1), retry.WithMinPerSecond(0))
	var exhausted int
	mw := newMiddleware(t, b, retry.WithMaxAttempts(5), retry.WithBackoffFunc(retry.NoBackoff),
		retry.WithHooks(retry.Hooks{OnBudgetExhausted: func() { exhausted++ }}))
	ctx, span := tp.Tracer("test").Start(retry.WithIdempotent(context.Background()), "call")
	ep, _ := counting(err503)
	_, _ = mw(ep)(ctx, nil)
	span.End()
	events := sr.Ended()[0].Events()
	var names []string
	for _, e := range events {
		names = append(names, e.Name)
		if !hasAttr(e.Attributes, "reason", "server_failure") {
			t.Errorf("event %s attributes %v lack reason=server_failure", e.Name, e.Attributes)
		}
	}
	if want := fmt.Sprint([]string{retry.EventRetry, retry.EventBudgetExhausted}); fmt.Sprint(names) != want {
		t.Fatalf("events %v, want %v", names, want)
	}
	if exhausted != 1 {
		t.Fatalf("OnBudgetExhausted called %d times, want 1", exhausted)
	}
}

func TestCustomClassifier(t *testing.T) {
	// A classifier that calls 400 a server failure makes it retryable.
	cl := func(ctx context.Context, err error) outcome.Class {
		if errors.Is(err, err400) {
			return outcome.ServerFailure
		}
		return outcome.Default(ctx, err)
	}
	ep, n := counting(err400)
	mw := newMiddleware(t, nil, retry.WithClassifier(cl), retry.WithBackoffFunc(retry.NoBackoff))
	_, _ = mw(ep)(retry.WithIdempotent(context.Background()), nil)
	if *n != 3 {
		t.Fatalf("%d attempts, want 3", *n)
	}
}

func hasAttr(attrs []attribute.KeyValue, k, v string) bool {
	for _, a := range attrs {
		if string(a.Key) == k && a.Value.AsString() == v {
			return true
		}
	}
	return false
}

func TestSuccessAllocatesOnce(t *testing.T) {
	b := newBudget(t)
	ep := newMiddleware(t, b)(func(context.Context, any) (any, error) { return nil, nil })
	ctx := context.Background()
	if n := testing.AllocsPerRun(1000, func() { _, _ = ep(ctx, nil) }); n > 1 {
		t.Fatalf("a successful call allocates %v times, want ≤ 1", n)
	}
}
