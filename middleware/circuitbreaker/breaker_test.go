package circuitbreaker_test

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/switchyard/switchyard/middleware/circuitbreaker"
	"github.com/switchyard/switchyard/outcome"
)

var (
	errServer = StatusErr(503)
	errCaller = StatusErr(404)
)

// StatusErr is an error carrying an HTTP status, as transport errors do.
type StatusErr int

func (e StatusErr) Error() string   { return fmt.Sprintf("status %d", int(e)) }
func (e StatusErr) StatusCode() int { return int(e) }

// newBreaker returns circuitbreaker.New's breaker, failing tb on error.
func newBreaker(tb testing.TB, name string, cfg circuitbreaker.Config) *circuitbreaker.Breaker {
	tb.Helper()
	b, err := circuitbreaker.New(name, cfg)
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

// newGroup returns circuitbreaker.NewGroup's group, failing tb on error.
func newGroup(tb testing.TB, cfg circuitbreaker.GroupConfig) *circuitbreaker.Group {
	tb.Helper()
	g, err := circuitbreaker.NewGroup(cfg)
	if err != nil {
		tb.Fatal(err)
	}
	return g
}

func ret(err error) func(context.Context) error {
	return func(context.Context) error { return err }
}

// transitions records hook calls.
type transitions struct {
	mu  sync.Mutex
	got []string
}

func (r *transitions) hook(name string, from, to circuitbreaker.State) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.got = append(r.got, fmt.Sprintf("%s:%s->%s", name, from, to))
}

func (r *transitions) list() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.got...)
}

func equal(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestConsecutiveFailuresTrip(t *testing.T) {
	for _, tc := range []struct {
		name     string
		limit    int
		failures int
		want     circuitbreaker.State
	}{
		{"default, one short", 0, circuitbreaker.DefaultConsecutiveFailures - 1, circuitbreaker.Closed},
		{"default, at limit", 0, circuitbreaker.DefaultConsecutiveFailures, circuitbreaker.Open},
		{"custom 2, one", 2, 1, circuitbreaker.Closed},
		{"custom 2, two", 2, 2, circuitbreaker.Open},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				b := newBreaker(t, "up", circuitbreaker.Config{ConsecutiveFailures: tc.limit})
				for range tc.failures {
					if err := b.Execute(context.Background(), ret(errServer)); err != errServer {
						t.Fatalf("Execute returned %v, want the call's own error", err)
					}
				}
				if got := b.State(); got != tc.want {
					t.Fatalf("state after %d failures = %v, want %v", tc.failures, got, tc.want)
				}
			})
		})
	}
}

func TestSuccessResetsConsecutiveFailures(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := newBreaker(t, "up", circuitbreaker.Config{ConsecutiveFailures: 3, FailureRatio: -1})
		for range 10 {
			b.Execute(context.Background(), ret(errServer))
			b.Execute(context.Background(), ret(errServer))
			b.Execute(context.Background(), ret(nil))
		}
		if got := b.State(); got != circuitbreaker.Closed {
			t.Fatalf("state = %v, want closed: never 3 failures in a row", got)
		}
	})
}

func TestOpenHalfOpenClosed(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var tr transitions
		b := newBreaker(t, "up", circuitbreaker.Config{Hooks: circuitbreaker.Hooks{OnStateChange: tr.hook}})
		ctx := context.Background()
		for range 5 {
			b.Execute(ctx, ret(errServer))
		}
		calls := 0
		count := func(context.Context) error { calls++; return nil }

		// Open for exactly Timeout (10s): rejected without a call.
		time.Sleep(circuitbreaker.DefaultTimeout - time.Second)
		err := b.Execute(ctx, count)
		var re *circuitbreaker.RejectedError
		if !errors.As(err, &re) || !errors.Is(err, circuitbreaker.ErrOpen) || calls != 0 {
			t.Fatalf("open breaker: err %v, %d calls; want RejectedError wrapping ErrOpen, no call", err, calls)
		}
		if re.State != circuitbreaker.Open || re.RetryAfter != time.Second || re.Name != "up" {
			t.Fatalf("rejection = %+v, want open with 1s left", re)
		}
		time.Sleep(time.Second) // exactly at expiry: still open
		if got := b.State(); got != circuitbreaker.Open {
			t.Fatalf("at +Timeout state = %v, want open", got)
		}
		time.Sleep(time.Nanosecond)
		if got := b.State(); got != circuitbreaker.HalfOpen {
			t.Fatalf("after Timeout state = %v, want half-open", got)
		}
		if err := b.Execute(ctx, count); err != nil || calls != 1 {
			t.Fatalf("probe: err %v, %d calls", err, calls)
		}
		if got := b.State(); got != circuitbreaker.Closed {
			t.Fatalf("after a successful probe state = %v, want closed", got)
		}
		want := []string{"up:closed->open", "up:open->half-open", "up:half-open->closed"}
		if got := tr.list(); !equal(got, want) {
			t.Fatalf("hook saw %v, want %v", got, want)
		}
	})
}

func TestFailedProbeReopens(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var tr transitions
		b := newBreaker(t, "up", circuitbreaker.Config{ConsecutiveFailures: 1, Timeout: time.Minute, Hooks: circuitbreaker.Hooks{OnStateChange: tr.hook}})
		ctx := context.Background()
		b.Execute(ctx, ret(errServer))
		time.Sleep(time.Minute + time.Nanosecond)
		if err := b.Execute(ctx, ret(errServer)); err != errServer {
			t.Fatalf("probe returned %v", err)
		}
		if got := b.State(); got != circuitbreaker.Open {
			t.Fatalf("after a failed probe state = %v, want open", got)
		}
		// A new full timeout starts from the failed probe.
		time.Sleep(time.Minute)
		if err := b.Execute(ctx, ret(nil)); !errors.Is(err, circuitbreaker.ErrOpen) {
			t.Fatalf("during second open period got %v", err)
		}
		time.Sleep(time.Nanosecond)
		if err := b.Execute(ctx, ret(nil)); err != nil {
			t.Fatalf("second probe got %v", err)
		}
		want := []string{"up:closed->open", "up:open->half-open", "up:half-open->open", "up:open->half-open", "up:half-open->closed"}
		if got := tr.list(); !equal(got, want) {
			t.Fatalf("hook saw %v, want %v", got, want)
		}
	})
}

func TestHalfOpenAllowsOnlyItsProbes(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := newBreaker(t, "up", circuitbreaker.Config{ConsecutiveFailures: 1, HalfOpenRequests: 2})
		ctx := context.Background()
		b.Execute(ctx, ret(errServer))
		time.Sleep(circuitbreaker.DefaultTimeout + time.Nanosecond)

		release := make(chan struct{})
		var wg sync.WaitGroup
		for range 2 {
			wg.Go(func() {
				b.Execute(ctx, func(context.Context) error { <-release; return nil })
			})
		}
		synctest.Wait() // both probes are in flight
		err := b.Execute(ctx, ret(nil))
		var re *circuitbreaker.RejectedError
		if !errors.As(err, &re) || re.State != circuitbreaker.HalfOpen || !errors.Is(err, circuitbreaker.ErrTooManyProbes) {
			t.Fatalf("third call while two probes run: %v", err)
		}
		close(release)
		wg.Wait()
		if got := b.State(); got != circuitbreaker.Closed {
			t.Fatalf("after two good probes state = %v, want closed", got)
		}
	})
}

func TestFailureRatioTrip(t *testing.T) {
	for _, tc := range []struct {
		name        string
		successes   int
		failures    int
		want        circuitbreaker.State
		minRequests int
		ratio       float64
	}{
		{"below minimum", 0, 19, circuitbreaker.Closed, 0, 0},
		{"at minimum, all failing", 0, 20, circuitbreaker.Open, 0, 0},
		{"half failing at 20", 10, 10, circuitbreaker.Open, 0, 0},
		{"45% failing", 11, 9, circuitbreaker.Closed, 0, 0},
		{"custom ratio 0.2, 25% of 8", 6, 2, circuitbreaker.Open, 8, 0.2},
		{"custom ratio 0.2, 1 of 8", 7, 1, circuitbreaker.Closed, 8, 0.2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				b := newBreaker(t, "up", circuitbreaker.Config{
					ConsecutiveFailures: -1, MinRequests: tc.minRequests, FailureRatio: tc.ratio,
				})
				ctx := context.Background()
				// gobreaker asks the trip rules after each failure, so the
				// failures come last: the ratio at the final call decides.
				for range tc.successes {
					b.Execute(ctx, ret(nil))
				}
				for range tc.failures {
					b.Execute(ctx, ret(errServer))
				}
				if got := b.State(); got != tc.want {
					t.Fatalf("state = %v, want %v (counts %+v)", got, tc.want, b.Counts())
				}
			})
		})
	}
}

func TestWindowForgetsOldFailures(t *testing.T) {
	for _, bucket := range []time.Duration{0, -1} { // rolling, fixed
		t.Run(fmt.Sprint("bucket=", bucket), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				b := newBreaker(t, "up", circuitbreaker.Config{
					ConsecutiveFailures: -1, MinRequests: 10, BucketPeriod: bucket,
				})
				ctx := context.Background()
				for range 9 {
					b.Execute(ctx, ret(errServer))
				}
				time.Sleep(circuitbreaker.DefaultInterval + time.Second)
				for range 9 {
					b.Execute(ctx, ret(nil))
				}
				b.Execute(ctx, ret(errServer))
				if got := b.State(); got != circuitbreaker.Closed {
					t.Fatalf("state = %v; failures older than the window still counted (%+v)", got, b.Counts())
				}
				// The same ten calls inside one window do trip it.
				for range 9 {
					b.Execute(ctx, ret(errServer))
				}
				if got := b.State(); got != circuitbreaker.Open {
					t.Fatalf("state = %v, want open after 10 of 19 failing in one window", got)
				}
			})
		})
	}
}

func TestOnlyServerFailuresCount(t *testing.T) {
	inner := &circuitbreaker.RejectedError{Name: "inner", State: circuitbreaker.Open}
	canceled, cancel := context.WithCancel(context.Background())
	cancel()
	for _, tc := range []struct {
		name   string
		ctx    context.Context
		err    error
		counts bool // as a failure
	}{
		{"5xx", context.Background(), errServer, true},
		{"timeout", context.Background(), context.DeadlineExceeded, true},
		{"connection refused", context.Background(), &net.OpError{Op: "dial", Err: errors.New("refused")}, true},
		{"4xx", context.Background(), errCaller, false},
		{"caller canceled", canceled, errors.New("whatever the call said"), false},
		{"context.Canceled", context.Background(), fmt.Errorf("wrapped: %w", context.Canceled), false},
		{"another breaker's rejection", context.Background(), inner, false},
		{"wrapped rejection", context.Background(), fmt.Errorf("call: %w", inner), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				b := newBreaker(t, "up", circuitbreaker.Config{})
				for range 100 {
					if err := b.Execute(tc.ctx, ret(tc.err)); err != tc.err && !circuitbreaker.IsRejection(err) {
						t.Fatalf("Execute changed the error: %v", err)
					}
				}
				open := b.State() == circuitbreaker.Open
				if open != tc.counts {
					t.Fatalf("after 100 calls open = %v, want %v", open, tc.counts)
				}
			})
		})
	}
}

func TestCustomClassifier(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		// A classifier that also blames 404s on the server.
		strict := func(ctx context.Context, err error) outcome.Class {
			if errors.Is(err, errCaller) {
				return outcome.ServerFailure
			}
			return outcome.Default(ctx, err)
		}
		b := newBreaker(t, "up", circuitbreaker.Config{Classifier: strict})
		for range 5 {
			b.Execute(context.Background(), ret(errCaller))
		}
		if got := b.State(); got != circuitbreaker.Open {
			t.Fatalf("state = %v, want open under the custom classifier", got)
		}
	})
}

func TestRejectionClassification(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := newBreaker(t, "up", circuitbreaker.Config{ConsecutiveFailures: 1})
		ctx := context.Background()
		b.Execute(ctx, ret(errServer))
		err := b.Execute(ctx, ret(nil))
		if got := outcome.Default(ctx, err); got != outcome.ServerFailure {
			t.Fatalf("outcome.Default(rejection) = %v, want server_failure (retry elsewhere)", got)
		}
		if got := circuitbreaker.SkipRejections(nil)(ctx, err); got != outcome.Skipped {
			t.Fatalf("Classifier(rejection) = %v, want skipped (neutral for outlier detection)", got)
		}
		if got := circuitbreaker.SkipRejections(nil)(ctx, errCaller); got != outcome.CallerFault {
			t.Fatalf("Classifier(404) = %v, want the default's caller_fault", got)
		}
	})
}

// Hooks run outside every lock: a hook that calls back into the breaker
// would deadlock otherwise.
func TestHookMayCallBreaker(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var b *circuitbreaker.Breaker
		var seen []circuitbreaker.State
		b = newBreaker(t, "up", circuitbreaker.Config{
			ConsecutiveFailures: 1,
			Hooks: circuitbreaker.Hooks{OnStateChange: func(_ string, _, to circuitbreaker.State) {
				_ = b.Counts()
				seen = append(seen, b.State())
			}},
		})
		b.Execute(context.Background(), ret(errServer))
		if len(seen) != 1 || seen[0] != circuitbreaker.Open {
			t.Fatalf("hook saw states %v, want [open]", seen)
		}
	})
}

func TestHookOrderUnderConcurrency(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var tr transitions
		b := newBreaker(t, "up", circuitbreaker.Config{
			ConsecutiveFailures: 2, Timeout: time.Millisecond, HalfOpenRequests: 2, Hooks: circuitbreaker.Hooks{OnStateChange: tr.hook},
		})
		var wg sync.WaitGroup
		for g := range 8 {
			wg.Go(func() {
				for i := range 400 {
					var err error
					if (i+g)%3 == 0 {
						err = errServer
					}
					b.Execute(context.Background(), ret(err))
					if i%50 == 0 {
						time.Sleep(time.Millisecond)
					}
				}
			})
		}
		wg.Wait()
		got := tr.list()
		if len(got) < 3 {
			t.Fatalf("only %d transitions: %v", len(got), got)
		}
		state := "closed"
		for _, s := range got {
			parts := splitArrow(s[len("up:"):])
			from, to := parts[0], parts[1]
			if from != state {
				t.Fatalf("transition %q does not follow state %q in %v", s, state, got)
			}
			state = to
		}
	})
}

func splitArrow(s string) [2]string {
	for i := 0; i+1 < len(s); i++ {
		if s[i] == '-' && s[i+1] == '>' {
			return [2]string{s[:i], s[i+2:]}
		}
	}
	return [2]string{s, ""}
}

func TestSpanEvents(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		rec := tracetest.NewSpanRecorder()
		tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
		tracer := tp.Tracer("test")
		b := newBreaker(t, "up", circuitbreaker.Config{ConsecutiveFailures: 2})
		call := func(name string, err error) {
			ctx, span := tracer.Start(context.Background(), name)
			b.Execute(ctx, ret(err))
			span.End()
		}
		call("fail-1", errServer)
		call("fail-2", errServer) // trips
		call("rejected", nil)
		time.Sleep(circuitbreaker.DefaultTimeout + time.Nanosecond)
		call("probe", nil) // closes

		want := map[string][]string{
			"fail-1":   nil,
			"fail-2":   {"switchyard.circuitbreaker.trip reason=consecutive_failures"},
			"rejected": {"switchyard.circuitbreaker.reject reason=open"},
			"probe":    {"switchyard.circuitbreaker.probe reason=half_open", "switchyard.circuitbreaker.close reason=probes_succeeded"},
		}
		spans := rec.Ended()
		if len(spans) != len(want) {
			t.Fatalf("%d spans, want %d", len(spans), len(want))
		}
		for _, s := range spans {
			var got []string
			for _, e := range s.Events() {
				reason := ""
				for _, a := range e.Attributes {
					if a.Key == "reason" {
						reason = a.Value.AsString()
					}
				}
				got = append(got, e.Name+" reason="+reason)
			}
			if !equal(got, want[s.Name()]) {
				t.Errorf("span %s events %v, want %v", s.Name(), got, want[s.Name()])
			}
		}
	})
}

func TestPanicCountsAsFailure(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := newBreaker(t, "up", circuitbreaker.Config{ConsecutiveFailures: 1})
		func() {
			defer func() {
				if recover() == nil {
					t.Fatal("panic was swallowed")
				}
			}()
			b.Execute(context.Background(), func(context.Context) error { panic("boom") })
		}()
		if got := b.State(); got != circuitbreaker.Open {
			t.Fatalf("state after panic = %v, want open", got)
		}
	})
}

func TestInvalidConfig(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  circuitbreaker.Config
	}{
		{"ratio above 1", circuitbreaker.Config{FailureRatio: 1.5}},
		{"NaN ratio", circuitbreaker.Config{FailureRatio: math.NaN()}},
		{"negative timeout", circuitbreaker.Config{Timeout: -time.Second}},
		{"negative interval", circuitbreaker.Config{Interval: -time.Second}},
		{"negative probes", circuitbreaker.Config{HalfOpenRequests: -1}},
		{"negative min requests", circuitbreaker.Config{MinRequests: -1}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if b, err := circuitbreaker.New("x", tc.cfg); !errors.Is(err, circuitbreaker.ErrConfig) || b != nil {
				t.Errorf("New(%+v) = %v, %v; want nil and an ErrConfig", tc.cfg, b, err)
			}
			if g, err := circuitbreaker.NewGroup(circuitbreaker.GroupConfig{Breaker: tc.cfg}); !errors.Is(err, circuitbreaker.ErrConfig) || g != nil {
				t.Errorf("NewGroup(%+v) = %v, %v; want nil and an ErrConfig", tc.cfg, g, err)
			}
		})
	}
	if _, err := circuitbreaker.NewGroup(circuitbreaker.GroupConfig{MaxKeys: -1}); !errors.Is(err, circuitbreaker.ErrConfig) {
		t.Errorf("NewGroup accepted MaxKeys -1: %v", err)
	}
	if _, err := circuitbreaker.New("x", circuitbreaker.Config{}); err != nil {
		t.Errorf("zero Config invalid: %v", err)
	}
	if _, err := circuitbreaker.NewGroup(circuitbreaker.GroupConfig{}); err != nil {
		t.Errorf("zero GroupConfig invalid: %v", err)
	}
}
