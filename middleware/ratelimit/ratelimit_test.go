package ratelimit_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"testing/synctest"
	"time"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.uber.org/goleak"
	"golang.org/x/time/rate"

	"github.com/switchyard/switchyard/middleware/ratelimit"
	"github.com/switchyard/switchyard/outcome"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

var t0 = time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)

// newLimiter returns ratelimit.New's limiter, failing tb on error.
func newLimiter(tb testing.TB, r rate.Limit, burst int, cfg ratelimit.Config) *ratelimit.Limiter {
	tb.Helper()
	l, err := ratelimit.New(r, burst, cfg)
	if err != nil {
		tb.Fatal(err)
	}
	return l
}

// byKey makes a limiter per key: its endpoint key is the request itself.
func byKey(_ context.Context, req any) string { return req.(string) }

// offer sends rps requests per second for d of the bubble's time to each
// key in turn and returns how many each key had accepted.
func offer(l *ratelimit.Limiter, keys []string, rps int, d time.Duration) []int {
	accepted := make([]int, len(keys))
	step := time.Second / time.Duration(rps)
	n := int(d / step)
	for range n {
		for i, k := range keys {
			if l.Acquire(context.Background(), k) == nil {
				accepted[i]++
			}
		}
		time.Sleep(step)
	}
	return accepted
}

// Rate 100/s, burst 20, offered 300/s for 10 s: accepted ≈ 100 × 10 + 20.
func TestAcceptedIsRateTimesTimePlusBurst(t *testing.T) {
	const want = 1020
	for _, tc := range []struct {
		name string
		cfg  ratelimit.Config
		keys []string
	}{
		{"global", ratelimit.Config{}, []string{""}},
		{"per key, one key", ratelimit.Config{Key: byKey}, []string{"alice"}},
		{"per key, three keys independent", ratelimit.Config{Key: byKey}, []string{"alice", "bob", "carol"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				got := offer(newLimiter(t, 100, 20, tc.cfg), tc.keys, 300, 10*time.Second)
				for i, n := range got {
					t.Logf("key %q: accepted %d of 3000", tc.keys[i], n)
					if n < want*95/100 || n > want*105/100 {
						t.Errorf("key %q accepted %d, want %d ± 5%%", tc.keys[i], n, want)
					}
				}
			})
		})
	}
}

func TestKeysDoNotShareBuckets(t *testing.T) {
	l := newLimiter(t, 1, 3, ratelimit.Config{Key: byKey})
	ctx := context.Background()
	for range 3 {
		if err := l.Acquire(ctx, "greedy"); err != nil {
			t.Fatal(err)
		}
	}
	if l.Acquire(ctx, "greedy") == nil {
		t.Fatal("fourth request within the burst of 3 was admitted")
	}
	for range 3 {
		if err := l.Acquire(ctx, "quiet"); err != nil {
			t.Fatalf("another key was limited by the greedy one: %v", err)
		}
	}
}

func TestErrorCarriesRetryAfter(t *testing.T) {
	synctest.Test(t, func(t *testing.T) { testErrorCarriesRetryAfter(t) })
}

func testErrorCarriesRetryAfter(t *testing.T) {
	for _, l := range []*ratelimit.Limiter{
		newLimiter(t, 10, 1, ratelimit.Config{}),
		newLimiter(t, 10, 1, ratelimit.Config{Key: byKey}),
	} {
		ctx := context.Background()
		if err := l.Acquire(ctx, "k"); err != nil {
			t.Fatal(err)
		}
		time.Sleep(30 * time.Millisecond)
		err := l.Acquire(ctx, "k")
		var le *ratelimit.Error
		if !errors.As(err, &le) || !errors.Is(err, ratelimit.ErrLimited) {
			t.Fatalf("got %v, want *ratelimit.Error", err)
		}
		if le.RetryAfter != 70*time.Millisecond {
			t.Fatalf("RetryAfter = %v, want 70ms", le.RetryAfter)
		}
		if le.RetryAfterSeconds() != 1 || le.Headers().Get("Retry-After") != "1" || le.StatusCode() != 429 {
			t.Fatalf("seconds %d, header %q, status %d", le.RetryAfterSeconds(), le.Headers().Get("Retry-After"), le.StatusCode())
		}
		// A limit is the caller's to respect: never held against an instance.
		if outcome.Default(ctx, err) != outcome.CallerFault {
			t.Fatalf("outcome.Default(429) = %v, want caller_fault", outcome.Default(ctx, err))
		}
		time.Sleep(70 * time.Millisecond)
		if err := l.Acquire(ctx, "k"); err != nil {
			t.Fatalf("after RetryAfter: %v", err)
		}
	}
}

func TestRetryAfterSecondsRoundsUp(t *testing.T) {
	for _, tc := range []struct {
		d    time.Duration
		want int64
	}{{0, 1}, {time.Millisecond, 1}, {time.Second, 1}, {time.Second + 1, 2}, {59500 * time.Millisecond, 60}} {
		if got := (&ratelimit.Error{RetryAfter: tc.d}).RetryAfterSeconds(); got != tc.want {
			t.Errorf("RetryAfterSeconds(%v) = %d, want %d", tc.d, got, tc.want)
		}
	}
}

func TestWaitModeWaitsForTheToken(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  ratelimit.Config
	}{
		{"global", ratelimit.Config{Wait: true}},
		{"per key", ratelimit.Config{Wait: true, Key: byKey}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				l := newLimiter(t, 10, 1, tc.cfg)
				ctx := context.Background()
				if err := l.Acquire(ctx, "k"); err != nil {
					t.Fatal(err)
				}
				done := make(chan error, 1)
				go func() { done <- l.Acquire(ctx, "k") }()
				synctest.Wait()
				select {
				case err := <-done:
					t.Fatalf("second request returned %v without waiting", err)
				default:
				}
				time.Sleep(99 * time.Millisecond)
				synctest.Wait()
				select {
				case err := <-done:
					t.Fatalf("returned %v after 99ms of the 100ms wait", err)
				default:
				}
				time.Sleep(time.Millisecond)
				if err := <-done; err != nil {
					t.Fatalf("after 100ms: %v", err)
				}
			})
		})
	}
}

func TestWaitModeRefusesHopelessWaits(t *testing.T) {
	synctest.Test(t, func(t *testing.T) { testWaitModeRefusesHopelessWaits(t) })
}

func testWaitModeRefusesHopelessWaits(t *testing.T) {
	l := newLimiter(t, 1, 1, ratelimit.Config{Wait: true, MaxWait: 500 * time.Millisecond})
	ctx := context.Background()
	l.Acquire(ctx, "")
	var le *ratelimit.Error
	if err := l.Acquire(ctx, ""); !errors.As(err, &le) || le.RetryAfter != time.Second {
		t.Fatalf("wait of 1s with max 500ms: got %v, want an immediate *Error with RetryAfter 1s", err)
	}

	l = newLimiter(t, 1, 1, ratelimit.Config{Wait: true})
	l.Acquire(ctx, "")
	short, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
	defer cancel()
	if err := l.Acquire(short, ""); !errors.As(err, &le) {
		t.Fatalf("wait of 1s with 100ms left: got %v, want an immediate *Error", err)
	}
	// The refused request's reservation was returned: after one second
	// exactly one more token exists.
	time.Sleep(time.Second)
	done := make(chan error, 1)
	go func() { done <- l.Acquire(ctx, "") }()
	if err := <-done; err != nil {
		t.Fatalf("token not returned by the refused wait: %v", err)
	}
}

func TestWaitModeHonoursCancel(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l := newLimiter(t, 1, 1, ratelimit.Config{Wait: true, Key: byKey})
		l.Acquire(context.Background(), "k")
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- l.Acquire(ctx, "k") }()
		synctest.Wait()
		cancel()
		if err := <-done; !errors.Is(err, context.Canceled) {
			t.Fatalf("got %v, want context.Canceled", err)
		}
		// The cancelled wait returned its reservation: one second after
		// the first token, the next is there.
		time.Sleep(time.Second)
		if err := l.Acquire(context.Background(), "k"); err != nil {
			t.Fatalf("the cancelled wait kept its token: %v", err)
		}
	})
}

func TestPerKeyHoldsAtMostMaxKeys(t *testing.T) {
	l := newLimiter(t, 1, 1, ratelimit.Config{Key: byKey, MaxKeys: 1000})
	for i := range 100000 {
		l.Acquire(context.Background(), fmt.Sprint("k", i))
		if i%997 == 0 && l.Len() > 1000 {
			t.Fatalf("after %d keys the limiter holds %d, cap 1000", i+1, l.Len())
		}
	}
	if n := l.Len(); n != 1000 {
		t.Fatalf("holds %d keys, want exactly the cap 1000", n)
	}
	small := newLimiter(t, 1, 1, ratelimit.Config{Key: byKey, MaxKeys: 3})
	for i := range 100 {
		small.Acquire(context.Background(), fmt.Sprint(i))
	}
	if n := small.Len(); n != 3 {
		t.Fatalf("cap 3 holds %d", n)
	}
}

// A key in steady use survives a flood of new keys: were it evicted, it
// would come back with a full bucket and be admitted.
func TestBusyKeySurvivesChurn(t *testing.T) {
	l := newLimiter(t, 0.001, 1, ratelimit.Config{Key: byKey, MaxKeys: 64})
	ctx := context.Background()
	if err := l.Acquire(ctx, "busy"); err != nil {
		t.Fatal(err)
	}
	for i := range 10000 {
		l.Acquire(ctx, fmt.Sprint("one-off-", i))
		if l.Acquire(ctx, "busy") == nil {
			t.Fatalf("busy key admitted again after %d one-off keys: it was evicted", i+1)
		}
	}
}

func TestSpanEventsAndHook(t *testing.T) {
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	var limited []string
	l := newLimiter(t, 1, 1, ratelimit.Config{Key: byKey, Hooks: ratelimit.Hooks{
		OnLimited: func(k string) { limited = append(limited, k) },
	}})
	for _, name := range []string{"first", "second"} {
		ctx, span := tp.Tracer("t").Start(context.Background(), name)
		l.Acquire(ctx, "k")
		span.End()
	}
	spans := rec.Ended()
	if n := len(spans[0].Events()); n != 0 {
		t.Fatalf("admitted request has %d events", n)
	}
	ev := spans[1].Events()
	if len(ev) != 1 || ev[0].Name != "switchyard.ratelimit.limit" || ev[0].Attributes[0].Value.AsString() != "rate_exceeded" {
		t.Fatalf("refused request events %+v", ev)
	}
	if len(limited) != 1 || limited[0] != "k" {
		t.Fatalf("hook saw %v", limited)
	}
}

func TestInvalidConfig(t *testing.T) {
	for _, tc := range []struct {
		name string
		r    rate.Limit
		b    int
		cfg  ratelimit.Config
	}{
		{"zero rate", 0, 1, ratelimit.Config{}},
		{"negative rate", -1, 1, ratelimit.Config{}},
		{"zero burst", 1, 0, ratelimit.Config{}},
		{"negative max wait", 1, 1, ratelimit.Config{Wait: true, MaxWait: -time.Second}},
		{"max wait without wait", 1, 1, ratelimit.Config{MaxWait: time.Second}},
		{"negative max keys", 1, 1, ratelimit.Config{Key: byKey, MaxKeys: -1}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if l, err := ratelimit.New(tc.r, tc.b, tc.cfg); !errors.Is(err, ratelimit.ErrConfig) || l != nil {
				t.Errorf("New(%v, %d, %+v) = %v, %v; want an ErrConfig", tc.r, tc.b, tc.cfg, l, err)
			}
		})
	}
	if _, err := ratelimit.New(rate.Inf, 1, ratelimit.Config{}); err != nil { // unlimited is fine
		t.Errorf("New(rate.Inf, 1): %v", err)
	}
}
