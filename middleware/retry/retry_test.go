package retry_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"testing"
	"testing/synctest"
	"time"

	"github.com/go-kit/kit/endpoint"
	"go.opentelemetry.io/otel/attribute"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/switchyard/switchyard/middleware/retry"
	"github.com/switchyard/switchyard/outcome"
)

var (
	err503 = &outcome.StatusError{Status: 503}
	err400 = &outcome.StatusError{Status: 400}
)

func newMiddleware(t testing.TB, b *retry.Budget, cfg retry.Config) endpoint.Middleware {
	t.Helper()
	r, err := retry.New(b, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return r.Endpoint
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
	ctxIdem := retry.MarkIdempotent(context.Background())
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
		{"429 is the caller's to wait out", ctxIdem, nil, &outcome.StatusError{Status: 429}, 1},
		{"timeout of an attempt", ctxIdem, nil, context.DeadlineExceeded, 3},
		{"caller fault", ctxIdem, nil, err400, 1},
		{"context.Canceled", ctxIdem, nil, context.Canceled, 1},
		{"caller's context done", canceled, nil, err503, 1},
		{"not marked idempotent", context.Background(), nil, err503, 1},
		{"idempotency key in ctx", retry.ContextWithIdempotencyKey(context.Background(), "k1"), nil, err503, 3},
		{"empty idempotency key", retry.ContextWithIdempotencyKey(context.Background(), ""), nil, err503, 1},
		{"request says idempotent", context.Background(), idem(true), err503, 3},
		{"request says not idempotent", context.Background(), idem(false), err503, 1},
		{"HTTP GET", context.Background(), get, err503, 3},
		{"HTTP POST", context.Background(), post(""), err503, 1},
		{"HTTP POST with key", context.Background(), post("k2"), err503, 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ep, n := counting(tc.err)
			mw := newMiddleware(t, nil, retry.Config{Backoff: retry.NoBackoff})
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
	mw := newMiddleware(t, nil, retry.Config{MaxAttempts: 5, Backoff: retry.NoBackoff, Hooks: retry.Hooks{OnRetry: func(a int, err error) {
		if !errors.Is(err, err503) {
			t.Errorf("OnRetry error = %v", err)
		}
		retries = append(retries, a)
	}}})
	resp, err := mw(ep)(retry.MarkIdempotent(context.Background()), nil)
	if err != nil || resp != "ok" || *n != 3 {
		t.Fatalf("got %v, %v after %d attempts; want ok after 3", resp, err, *n)
	}
	if fmt.Sprint(retries) != "[2 3]" {
		t.Fatalf("OnRetry attempts = %v, want [2 3]", retries)
	}
}

func TestConfigValidated(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  retry.Config
	}{
		{"negative attempts", retry.Config{MaxAttempts: -1}},
		{"6 attempts", retry.Config{MaxAttempts: 6}},
		{"cap below base", retry.Config{BackoffBase: time.Second, BackoffCap: time.Millisecond}},
		{"base above the default cap", retry.Config{BackoffBase: 2 * time.Second}},
		{"negative base", retry.Config{BackoffBase: -time.Second, BackoffCap: time.Second}},
		{"negative per-try", retry.Config{PerTryTimeout: -time.Second}},
		{"negative min attempt", retry.Config{MinAttemptTime: -time.Second}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := retry.New(nil, tc.cfg); !errors.Is(err, retry.ErrConfig) {
				t.Fatalf("New error = %v, want ErrConfig", err)
			}
		})
	}
	for _, tc := range []struct {
		cfg  retry.Config
		want int
	}{{retry.Config{}, retry.DefaultMaxAttempts}, {retry.Config{MaxAttempts: 5}, 5}, {retry.Config{MaxAttempts: 1}, 1}} {
		ep, n := counting(err503)
		tc.cfg.Backoff = retry.NoBackoff
		_, _ = newMiddleware(t, nil, tc.cfg)(ep)(retry.MarkIdempotent(context.Background()), nil)
		if *n != tc.want {
			t.Errorf("%d attempts with MaxAttempts %d, want %d", *n, tc.cfg.MaxAttempts, tc.want)
		}
	}
}

// TestBackoffSleeps runs in a synctest bubble, whose clock moves only
// when every goroutine in it is blocked: the attempts' times are exact.
func TestBackoffSleeps(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		start := time.Now()
		var at []time.Duration
		ep := func(context.Context, any) (any, error) {
			if at = append(at, time.Since(start)); len(at) < 3 {
				return nil, err503
			}
			return "ok", nil
		}
		mw := newMiddleware(t, nil, retry.Config{Backoff: retry.Exponential,
			BackoffBase: 100 * time.Millisecond, BackoffCap: time.Second})
		if _, err := mw(ep)(retry.MarkIdempotent(context.Background()), nil); err != nil {
			t.Fatal(err)
		}
		// The second backoff doubles.
		if want := []time.Duration{0, 100 * time.Millisecond, 300 * time.Millisecond}; !slices.Equal(at, want) {
			t.Fatalf("attempts at %v, want %v", at, want)
		}
	})
}

func TestStopsAtTheCallersDeadline(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		start := time.Now()
		var deadlines int
		mw := newMiddleware(t, nil, retry.Config{MaxAttempts: 5, Backoff: retry.Exponential,
			BackoffBase: 100 * time.Millisecond, BackoffCap: time.Second,
			Hooks: retry.Hooks{OnDeadline: func() { deadlines++ }}})
		ctx, cancel := context.WithTimeout(retry.MarkIdempotent(context.Background()), 250*time.Millisecond)
		defer cancel()
		var at []time.Duration
		ep := func(context.Context, any) (any, error) { at = append(at, time.Since(start)); return nil, err503 }
		// Attempt 1 fails at 0; a 100 ms backoff leaves 150 ms: retry.
		// Attempt 2 fails at 100 ms; a 200 ms backoff would end at 300 ms,
		// after the deadline at 250 ms: give up now, without sleeping.
		if _, err := mw(ep)(ctx, nil); !errors.Is(err, err503) {
			t.Fatalf("error = %v, want the last attempt's", err)
		}
		if want := []time.Duration{0, 100 * time.Millisecond}; !slices.Equal(at, want) || time.Since(start) != 100*time.Millisecond {
			t.Fatalf("attempts at %v, gave up at %v; want %v and 100ms", at, time.Since(start), want)
		}
		if deadlines != 1 {
			t.Fatalf("OnDeadline called %d times, want 1", deadlines)
		}
	})
}

func TestPerTryTimeout(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		start := time.Now()
		mw := newMiddleware(t, nil, retry.Config{MaxAttempts: 2, Backoff: retry.NoBackoff, PerTryTimeout: 50 * time.Millisecond})
		var deadlines []time.Duration
		ep := func(ctx context.Context, _ any) (any, error) {
			d, _ := ctx.Deadline()
			deadlines = append(deadlines, d.Sub(start))
			<-ctx.Done()
			return nil, ctx.Err()
		}
		if _, err := mw(ep)(retry.MarkIdempotent(context.Background()), nil); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("error = %v, want DeadlineExceeded", err)
		}
		if want := []time.Duration{50 * time.Millisecond, 100 * time.Millisecond}; !slices.Equal(deadlines, want) {
			t.Fatalf("attempt deadlines %v, want %v", deadlines, want)
		}
	})
}

func TestCallerCancelDuringBackoff(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		mw := newMiddleware(t, nil, retry.Config{Backoff: retry.Exponential})
		ctx, cancel := context.WithCancel(retry.MarkIdempotent(context.Background()))
		ep, n := counting(err503)
		done := make(chan error, 1)
		go func() { _, err := mw(ep)(ctx, nil); done <- err }()
		synctest.Wait() // the first attempt failed; the backoff is under way
		cancel()
		if err := <-done; !errors.Is(err, err503) {
			t.Fatalf("error = %v, want the last attempt's", err)
		}
		if *n != 1 {
			t.Fatalf("%d attempts, want 1", *n)
		}
	})
}

// TestOneRetryLayerPerCallPath nests two retry middlewares sharing one
// budget that holds exactly one retry per request (ratio 1, no per-second
// grant): the inner layer must neither retry nor deposit again.
func TestOneRetryLayerPerCallPath(t *testing.T) {
	b := newBudget(t, retry.BudgetConfig{Ratio: 1, MinPerSecond: -1})
	outer := newMiddleware(t, b, retry.Config{MaxAttempts: 5, Backoff: retry.NoBackoff})
	inner := newMiddleware(t, b, retry.Config{MaxAttempts: 5, Backoff: retry.NoBackoff})
	var sawActive bool
	ep, n := counting(err503)
	probe := func(ctx context.Context, req any) (any, error) {
		sawActive = retry.Active(ctx)
		return ep(ctx, req)
	}
	if retry.Active(context.Background()) {
		t.Fatal("Active on a bare context")
	}
	_, _ = outer(inner(probe))(retry.MarkIdempotent(context.Background()), nil)
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
	b := newBudget(t, retry.BudgetConfig{Ratio: 1, MinPerSecond: -1})
	var exhausted int
	mw := newMiddleware(t, b, retry.Config{MaxAttempts: 5, Backoff: retry.NoBackoff, Hooks: retry.Hooks{OnBudgetExhausted: func() { exhausted++ }}})
	ctx, span := tp.Tracer("test").Start(retry.MarkIdempotent(context.Background()), "call")
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
	mw := newMiddleware(t, nil, retry.Config{Classifier: cl, Backoff: retry.NoBackoff})
	_, _ = mw(ep)(retry.MarkIdempotent(context.Background()), nil)
	if *n != 3 {
		t.Fatalf("%d attempts, want 3", *n)
	}
}

// TestClassifierAndCheckRetryCompose sets both: CheckRetry sees what the
// Classifier made of each error, neither replaces the other.
func TestClassifierAndCheckRetryCompose(t *testing.T) {
	cl := func(ctx context.Context, err error) outcome.Class {
		if errors.Is(err, err400) {
			return outcome.ServerFailure
		}
		return outcome.Default(ctx, err)
	}
	var classes []outcome.Class
	// Retry server failures of any call, idempotent or not, at most once.
	check := func(_ context.Context, _ any, attempts int, class outcome.Class, _ error) bool {
		classes = append(classes, class)
		return class == outcome.ServerFailure && attempts < 2
	}
	ep, n := counting(err400)
	mw := newMiddleware(t, nil, retry.Config{Classifier: cl, CheckRetry: check, Backoff: retry.NoBackoff})
	_, _ = mw(ep)(context.Background(), nil) // not marked idempotent
	if *n != 2 || !slices.Equal(classes, []outcome.Class{outcome.ServerFailure, outcome.ServerFailure}) {
		t.Fatalf("%d attempts, CheckRetry saw %v; want 2 attempts, server failures", *n, classes)
	}
	if !retry.DefaultCheckRetry(retry.MarkIdempotent(context.Background()), nil, 1, outcome.Skipped, err503) ||
		retry.DefaultCheckRetry(context.Background(), nil, 1, outcome.ServerFailure, err503) ||
		retry.DefaultCheckRetry(retry.MarkIdempotent(context.Background()), nil, 1, outcome.CallerFault, err400) {
		t.Fatal("DefaultCheckRetry: want server failures and skips of idempotent calls only")
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
	b := newBudget(t, retry.BudgetConfig{})
	ep := newMiddleware(t, b, retry.Config{})(func(context.Context, any) (any, error) { return nil, nil })
	ctx := context.Background()
	if n := testing.AllocsPerRun(1000, func() { _, _ = ep(ctx, nil) }); n > 1 {
		t.Fatalf("a successful call allocates %v times, want ≤ 1", n)
	}
}
