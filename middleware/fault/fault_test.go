package fault_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/go-kit/kit/endpoint"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.uber.org/goleak"

	"github.com/switchyard/switchyard/middleware/fault"
	"github.com/switchyard/switchyard/outcome"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func mustNew(tb testing.TB, cfg fault.Config) *fault.Injector {
	tb.Helper()
	inj, err := fault.New(cfg)
	if err != nil {
		tb.Fatal(err)
	}
	return inj
}

// withRand sets inj's percentage draws to f.
func withRand(inj *fault.Injector, f func() float64) *fault.Injector {
	fault.SetRand(inj, f)
	return inj
}

// seq returns draws 0.00, 0.01, …, 0.99, 0.00, … so that p percent of
// every hundred draws hit.
func seq() func() float64 {
	var n atomic.Int64
	return func() float64 { return float64((n.Add(1)-1)%100) / 100 }
}

func TestConfigValidation(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  fault.Config
	}{
		{"delay percent above 100", fault.Config{Delay: time.Second, DelayPercent: 101}},
		{"negative abort percent", fault.Config{AbortPercent: -1}},
		{"NaN percent", fault.Config{AbortPercent: math.NaN()}},
		{"percent without delay", fault.Config{DelayPercent: 10}},
		{"negative delay", fault.Config{Delay: -time.Second, DelayPercent: 10}},
		{"status 200", fault.Config{AbortPercent: 1, AbortStatus: 200}},
		{"status 600", fault.Config{AbortPercent: 1, AbortStatus: 600}},
		{"negative max header delay", fault.Config{Headers: true, MaxHeaderDelay: -1}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := fault.New(tc.cfg); !errors.Is(err, fault.ErrConfig) {
				t.Fatalf("New accepted %+v: %v", tc.cfg, err)
			}
		})
	}
	for _, ok := range []fault.Config{{}, {AbortPercent: 100, AbortStatus: 429}, {Delay: time.Second, DelayPercent: 0.5}} {
		if _, err := fault.New(ok); err != nil {
			t.Errorf("New(%+v): %v", ok, err)
		}
	}
}

func TestOffUnlessConfigured(t *testing.T) {
	inj := mustNew(t, fault.Config{})
	if inj.Enabled() {
		t.Fatal("zero config reports enabled")
	}
	calls := 0
	ep := inj.Endpoint(func(context.Context, any) (any, error) { calls++; return nil, nil })
	h := inj.Handler(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { calls++ }))
	for range 1000 {
		if _, err := ep(context.Background(), nil); err != nil {
			t.Fatal(err)
		}
		req := httptest.NewRequest("GET", "/", nil)
		req.Header.Set(fault.HeaderAbort, "500") // headers are off too
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		if w.Code != 200 {
			t.Fatalf("status %d with faults off", w.Code)
		}
	}
	if calls != 2000 {
		t.Fatalf("%d of 2000 calls reached the next layer", calls)
	}
}

func TestAbortEndpoint(t *testing.T) {
	inj := mustNew(t, fault.Config{AbortPercent: 100})
	_, err := inj.Endpoint(endpoint.Nop)(context.Background(), nil)
	var se *outcome.StatusError
	if !errors.As(err, &se) || se.Status != 503 || !errors.Is(err, fault.ErrInjected) {
		t.Fatalf("got %v, want *outcome.StatusError 503 wrapping ErrInjected", err)
	}
	if outcome.Default(context.Background(), err) != outcome.ServerFailure {
		t.Fatal("an injected 503 should look like a server failure")
	}
	custom := errors.New("custom")
	inj = mustNew(t, fault.Config{AbortPercent: 100, AbortError: custom})
	if _, err := inj.Endpoint(endpoint.Nop)(context.Background(), nil); err != custom {
		t.Fatalf("got %v, want the configured error", err)
	}
	inj = mustNew(t, fault.Config{AbortPercent: 100, AbortStatus: 404})
	_, err = inj.Endpoint(endpoint.Nop)(context.Background(), nil)
	if outcome.Default(context.Background(), err) != outcome.CallerFault {
		t.Fatal("an injected 404 should look like a caller fault")
	}
}

func TestAbortPercentage(t *testing.T) {
	for _, pct := range []float64{0, 1, 30, 99, 100} {
		inj := withRand(mustNew(t, fault.Config{AbortPercent: pct}), seq())
		ep := inj.Endpoint(endpoint.Nop)
		aborted := 0
		for range 1000 {
			if _, err := ep(context.Background(), nil); err != nil {
				aborted++
			}
		}
		want := int(math.Ceil(pct * 10))
		if aborted != want {
			t.Errorf("%v%%: %d of 1000 aborted, want %d", pct, aborted, want)
		}
	}
}

// With the real random source the share is right within wide bounds:
// 10% of 20,000 has a standard deviation of about 42.
func TestAbortPercentageRealRandom(t *testing.T) {
	inj := mustNew(t, fault.Config{AbortPercent: 10})
	ep := inj.Endpoint(endpoint.Nop)
	aborted := 0
	for range 20000 {
		if _, err := ep(context.Background(), nil); err != nil {
			aborted++
		}
	}
	if aborted < 1600 || aborted > 2400 {
		t.Fatalf("%d of 20000 aborted at 10%%", aborted)
	}
}

func TestDelay(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		inj := mustNew(t, fault.Config{Delay: 2 * time.Second, DelayPercent: 100})
		var reached atomic.Bool
		ep := inj.Endpoint(func(context.Context, any) (any, error) { reached.Store(true); return "ok", nil })
		done := make(chan error, 1)
		go func() {
			_, err := ep(context.Background(), nil)
			done <- err
		}()
		time.Sleep(2*time.Second - 1)
		synctest.Wait()
		if reached.Load() {
			t.Fatal("call went through before the delay was over")
		}
		time.Sleep(time.Nanosecond) // the last nanosecond of the delay, in the bubble
		if err := <-done; err != nil || !reached.Load() {
			t.Fatalf("after the delay: %v, reached %v", err, reached.Load())
		}
	})
}

func TestDelayEndsWithContext(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		inj := mustNew(t, fault.Config{Delay: time.Hour, DelayPercent: 100})
		reached := false
		ep := inj.Endpoint(func(context.Context, any) (any, error) { reached = true; return nil, nil })
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() {
			_, err := ep(ctx, nil)
			done <- err
		}()
		synctest.Wait()
		cancel()
		if err := <-done; !errors.Is(err, context.Canceled) || reached {
			t.Fatalf("got %v, reached %v; want context.Canceled and no call", err, reached)
		}
	})
}

func TestHandlerAbortOverRealServer(t *testing.T) {
	inj := mustNew(t, fault.Config{AbortPercent: 100, AbortStatus: 502})
	calls := 0
	srv := httptest.NewServer(inj.Handler(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { calls++ })))
	defer srv.Close()
	defer srv.Client().CloseIdleConnections()
	resp, err := srv.Client().Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var body struct {
		Error struct{ Code, Message string }
	}
	if resp.StatusCode != 502 || calls != 0 || json.Unmarshal(raw, &body) != nil || body.Error.Code != "fault_injected" {
		t.Fatalf("status %d, %d calls, body %s", resp.StatusCode, calls, raw)
	}
}

func TestHeaderFaults(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var gateOpen atomic.Bool
		gateOpen.Store(true)
		inj := mustNew(t, fault.Config{
			Headers:        true,
			MaxHeaderDelay: 3 * time.Second,
			HeaderGate:     func(*http.Request) bool { return gateOpen.Load() },
		})
		h := inj.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(204) }))
		serve := func(hdr map[string]string) int {
			req := httptest.NewRequest("GET", "/", nil)
			for k, v := range hdr {
				req.Header.Set(k, v)
			}
			w := httptest.NewRecorder()
			h.ServeHTTP(w, req)
			return w.Code
		}
		if c := serve(nil); c != 204 {
			t.Fatalf("no headers: %d", c)
		}
		if c := serve(map[string]string{fault.HeaderAbort: "418"}); c != 418 {
			t.Fatalf("abort header: %d, want 418", c)
		}
		if c := serve(map[string]string{fault.HeaderAbort: "418", fault.HeaderAbortPercent: "0"}); c != 204 {
			t.Fatalf("abort header at 0%%: %d", c)
		}
		if c := serve(map[string]string{fault.HeaderAbort: "200"}); c != 204 {
			t.Fatalf("invalid abort header was not ignored: %d", c)
		}
		gateOpen.Store(false)
		if c := serve(map[string]string{fault.HeaderAbort: "500"}); c != 204 {
			t.Fatalf("closed gate let a header fault through: %d", c)
		}
		gateOpen.Store(true)

		// A delay of one hour is cut to MaxHeaderDelay (3s).
		var wg sync.WaitGroup
		var code atomic.Int64
		wg.Go(func() { code.Store(int64(serve(map[string]string{fault.HeaderDelay: "1h"}))) })
		time.Sleep(3*time.Second - 1)
		synctest.Wait()
		if code.Load() != 0 {
			t.Fatal("delayed request finished early")
		}
		time.Sleep(time.Nanosecond) // the last nanosecond of the delay, in the bubble
		wg.Wait()
		if code.Load() != 204 {
			t.Fatalf("delayed request answered %d", code.Load())
		}
	})
}

func TestEventsAndHook(t *testing.T) {
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	var got []string
	var mu sync.Mutex
	inj := mustNew(t, fault.Config{AbortPercent: 100, Headers: true, Hooks: fault.Hooks{
		OnFault: func(kind, source string) { mu.Lock(); got = append(got, kind+"/"+source); mu.Unlock() },
	}})
	ctx, span := tp.Tracer("t").Start(context.Background(), "endpoint")
	inj.Endpoint(endpoint.Nop)(ctx, nil)
	span.End()
	req := httptest.NewRequest("GET", "/", nil)
	req.Header.Set(fault.HeaderAbort, "500")
	ctx, span = tp.Tracer("t").Start(context.Background(), "http")
	inj.Handler(http.NotFoundHandler()).ServeHTTP(httptest.NewRecorder(), req.WithContext(ctx))
	span.End()

	spans := rec.Ended()
	for i, want := range []string{"percentage", "header"} {
		ev := spans[i].Events()
		if len(ev) != 1 || ev[0].Name != "switchyard.fault.abort" || ev[0].Attributes[0].Value.AsString() != want {
			t.Errorf("span %d events %+v, want one abort with reason %s", i, ev, want)
		}
	}
	if len(got) != 2 || got[0] != "abort/percentage" || got[1] != "abort/header" {
		t.Fatalf("hook saw %v", got)
	}
}
