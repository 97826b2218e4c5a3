package deadline_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"runtime"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/switchyard/switchyard/internal/clock"
	"github.com/switchyard/switchyard/middleware/deadline"
	"github.com/switchyard/switchyard/outcome"
)

var t0 = time.Unix(1_700_000_000, 0)

// serve starts a real server on 127.0.0.1 running h, closed at the end of
// the test along with the client's connections.
func serve(t *testing.T, h http.Handler) (*httptest.Server, *http.Client) {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	tr := &http.Transport{}
	t.Cleanup(tr.CloseIdleConnections)
	return srv, &http.Client{Transport: tr}
}

type errorBody struct {
	Error struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
}

// send sends a GET with the given Header values and returns the status
// and the error code of a JSON error body ("" if none).
func send(t *testing.T, c *http.Client, url string, values ...string) (int, string) {
	t.Helper()
	code, ec, err := fetch(c, url, values...)
	if err != nil {
		t.Fatal(err)
	}
	return code, ec
}

// fetch is send for goroutines other than the test's.
func fetch(c *http.Client, url string, values ...string) (int, string, error) {
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	for _, v := range values {
		req.Header.Add(deadline.Header, v)
	}
	resp, err := c.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	var eb errorBody
	if resp.StatusCode >= 400 && resp.Header.Get("Content-Type") == "application/json; charset=utf-8" {
		if err := json.Unmarshal(body, &eb); err != nil || eb.Error.Message == "" {
			return 0, "", fmt.Errorf("bad JSON error body %q: %v", body, err)
		}
	}
	return resp.StatusCode, eb.Error.Code, nil
}

func TestHandlerRejectsMalformedHeaders(t *testing.T) {
	var called, bad atomic.Int64
	srv, c := serve(t, mustDeadline(deadline.Config{Hooks: deadline.Hooks{OnBadHeader: func() { bad.Add(1) }}}).Handler(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { called.Add(1) })))
	for _, values := range [][]string{{"abc"}, {"-5"}, {"1.5"}, {""}, {"01"}, {"99999999999"}, {"100", "200"}} {
		if code, ec := send(t, c, srv.URL, values...); code != 400 || ec != "bad_deadline" {
			t.Errorf("header %q: got %d %q, want 400 bad_deadline", values, code, ec)
		}
	}
	if called.Load() != 0 {
		t.Fatalf("next called %d times for malformed headers", called.Load())
	}
	if bad.Load() != 7 {
		t.Fatalf("OnBadHeader called %d times, want 7", bad.Load())
	}
}

func TestHandlerExpiredOnArrival(t *testing.T) {
	var called atomic.Int64
	var reasons []string
	srv, c := serve(t, mustDeadline(deadline.Config{MinBudget: 5 * time.Millisecond, Hooks: deadline.Hooks{OnExceeded: func(r string) { reasons = append(reasons, r) }}}).Handler(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { called.Add(1) })))
	for _, v := range []string{"0", "5"} {
		if code, ec := send(t, c, srv.URL, v); code != 504 || ec != "deadline_exceeded" {
			t.Errorf("header %q: got %d %q, want 504 deadline_exceeded", v, code, ec)
		}
	}
	if called.Load() != 0 {
		t.Fatal("next called for a request with no time left")
	}
	if code, _ := send(t, c, srv.URL, "6"); code != 200 || called.Load() != 1 {
		t.Fatalf("6 ms over a 5 ms minimum: got %d, next called %d times", code, called.Load())
	}
	if len(reasons) != 2 || reasons[0] != deadline.ReasonOnArrival {
		t.Fatalf("OnExceeded reasons %v, want two %s", reasons, deadline.ReasonOnArrival)
	}
}

// TestHandlerSetsTheContextDeadline checks on a fake clock which deadline
// the handler's context gets.
func TestHandlerSetsTheContextDeadline(t *testing.T) {
	for _, tc := range []struct {
		name   string
		header string
		local  time.Duration // a deadline the incoming context already has
		cfg    deadline.Config
		want   time.Duration // 0: none
	}{
		{"header", "100", 0, deadline.Config{}, 100 * time.Millisecond},
		{"earlier local deadline", "100", 40 * time.Millisecond, deadline.Config{}, 40 * time.Millisecond},
		{"later local deadline", "100", time.Second, deadline.Config{}, 100 * time.Millisecond},
		{"absurd budget capped", "9999999999", 0, deadline.Config{}, deadline.DefaultMax},
		{"custom cap", "9999999999", 0, deadline.Config{Max: time.Minute}, time.Minute},
		{"no header", "", 0, deadline.Config{}, 0},
		{"no header, default", "", 0, deadline.Config{Default: 2 * time.Second}, 2 * time.Second},
		{"no header, local deadline", "", 30 * time.Millisecond, deadline.Config{}, 30 * time.Millisecond},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				t0 := time.Now()
				var got time.Duration
				var has bool
				h := mustDeadline(tc.cfg).Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					var dl time.Time
					dl, has = r.Context().Deadline()
					got = dl.Sub(t0)
				}))
				req := httptest.NewRequest(http.MethodGet, "/", nil)
				if tc.header != "" {
					req.Header.Set(deadline.Header, tc.header)
				}
				if tc.local > 0 {
					ctx, cancel := context.WithTimeout(req.Context(), tc.local)
					defer cancel()
					req = req.WithContext(ctx)
				}
				rec := httptest.NewRecorder()
				h.ServeHTTP(rec, req)
				if rec.Code != 200 {
					t.Fatalf("status %d", rec.Code)
				}
				if (tc.want == 0 && has) || (tc.want != 0 && (!has || got != tc.want)) {
					t.Fatalf("handler's deadline: +%v (%v), want +%v", got, has, tc.want)
				}
			})
		})
	}
}

// TestHandlerAnswersAtTheDeadline runs a handler that ignores its context
// behind a real server on a fake clock: when the clock reaches the
// deadline the client gets its 504 while the handler is still busy, and
// what the handler writes afterwards goes nowhere.
func TestHandlerAnswersAtTheDeadline(t *testing.T) {
	clk := clock.NewFake(t0)
	started, release := make(chan struct{}), make(chan struct{})
	lateWrite := make(chan error, 1)
	d := mustDeadline(deadline.Config{})
	deadline.SetClock(d, clk) // a bubble cannot hold the real server
	srv, c := serve(t, d.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(started)
		<-release // ignores r.Context()
		w.Header().Set("X-Late", "1")
		_, err := w.Write([]byte("too late"))
		lateWrite <- err
	})))
	got := make(chan int, 1)
	go func() {
		code, ec, err := fetch(c, srv.URL, "100")
		if err != nil || ec != "deadline_exceeded" {
			code = -1
		}
		got <- code
	}()
	<-started
	for clk.Pending() < 2 { // the context's deadline and the 504
		runtime.Gosched()
	}
	clk.Advance(99 * time.Millisecond)
	select {
	case code := <-got:
		t.Fatalf("answered %d before the deadline", code)
	default:
	}
	clk.Advance(time.Millisecond)
	if code := <-got; code != 504 {
		t.Fatalf("client got %d, want a 504 deadline_exceeded body", code)
	}
	close(release)
	if err := <-lateWrite; !errors.Is(err, http.ErrHandlerTimeout) {
		t.Fatalf("late Write returned %v, want ErrHandlerTimeout", err)
	}
}

// TestHandlerLateAnswerBecomes504: a handler that honours its context and
// writes its own error after the deadline is overruled by the 504.
func TestHandlerLateAnswerBecomes504(t *testing.T) {
	srv, c := serve(t, mustDeadline(deadline.Config{}).Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		<-r.Context().Done()
		http.Error(w, "upstream gave up", http.StatusBadGateway)
	})))
	if code, ec := send(t, c, srv.URL, "20"); code != 504 || ec != "deadline_exceeded" {
		t.Fatalf("got %d %q, want 504 deadline_exceeded", code, ec)
	}
}

func TestHandlerPassesHeadersAndBody(t *testing.T) {
	srv, c := serve(t, mustDeadline(deadline.Config{}).Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Answer", "42")
		w.WriteHeader(http.StatusCreated)
		_, _ = io.WriteString(w, "made")
		http.NewResponseController(w).Flush()
	})))
	for _, v := range [][]string{{"1000"}, nil} {
		req, _ := http.NewRequest(http.MethodGet, srv.URL, nil)
		for _, s := range v {
			req.Header.Set(deadline.Header, s)
		}
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 201 || resp.Header.Get("X-Answer") != "42" || string(body) != "made" {
			t.Fatalf("header %v: got %d %q %q", v, resp.StatusCode, resp.Header.Get("X-Answer"), body)
		}
	}
}

func TestHandlerEmptyResponseIs200(t *testing.T) {
	h := mustDeadline(deadline.Config{}).Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Seen", "yes")
	}))
	req := httptest.NewRequest(http.MethodGet, "/", nil)
	req.Header.Set(deadline.Header, "1000")
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != 200 || rec.Header().Get("X-Seen") != "yes" {
		t.Fatalf("got %d, X-Seen %q", rec.Code, rec.Header().Get("X-Seen"))
	}
}

func TestHandlerSpanEvent(t *testing.T) {
	sr := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(sr))
	defer func() { _ = tp.Shutdown(context.Background()) }()
	h := mustDeadline(deadline.Config{}).Handler(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	ctx, span := tp.Tracer("test").Start(context.Background(), "server")
	req := httptest.NewRequest(http.MethodGet, "/", nil).WithContext(ctx)
	req.Header.Set(deadline.Header, "0")
	h.ServeHTTP(httptest.NewRecorder(), req)
	span.End()
	ev := sr.Ended()[0].Events()
	if len(ev) != 1 || ev[0].Name != deadline.EventExceeded || ev[0].Attributes[0].Value.AsString() != deadline.ReasonOnArrival {
		t.Fatalf("events %+v, want one %s with reason %s", ev, deadline.EventExceeded, deadline.ReasonOnArrival)
	}
}

func TestConfigValidated(t *testing.T) {
	for _, cfg := range []deadline.Config{{Max: -1}, {HopAllowance: -1}, {Default: -1}, {MinBudget: -1}} {
		if _, err := deadline.New(cfg); !errors.Is(err, deadline.ErrConfig) {
			t.Errorf("New(%+v) error = %v, want ErrConfig", cfg, err)
		}
	}
	if _, err := deadline.New(deadline.Config{}); err != nil {
		t.Fatalf("the zero Config: %v", err)
	}
}

// TestDeadlineCause: a deadline that is the server's own budget (the
// default, or a header cut to Config.Max) ends with outcome.ErrTimeout as its
// cause, so what runs out under it counts against the callee; a deadline
// the caller asked for ends as the caller's, which outcome treats as the
// caller giving up.
func TestDeadlineCause(t *testing.T) {
	for _, tc := range []struct {
		name, header string
		own          bool
	}{
		{"default budget", "", true},
		{"header under the cap", "100", false},
		{"header over the cap", "5000", true},
		{"header at the cap", "1000", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				causes := make(chan error, 1)
				h := mustDeadline(deadline.Config{Default: time.Second, Max: time.Second}).Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					<-r.Context().Done()
					causes <- context.Cause(r.Context())
				}))
				req := httptest.NewRequest(http.MethodGet, "/", nil)
				if tc.header != "" {
					req.Header.Set(deadline.Header, tc.header)
				}
				done := make(chan struct{})
				go func() { defer close(done); h.ServeHTTP(httptest.NewRecorder(), req) }()
				cause := <-causes // the bubble's clock moves on to the deadline
				<-done
				if got := errors.Is(cause, outcome.ErrTimeout); got != tc.own {
					t.Fatalf("cause %v: server's own budget = %v, want %v", cause, got, tc.own)
				}
				if !errors.Is(cause, context.DeadlineExceeded) && !errors.Is(cause, outcome.ErrTimeout) {
					t.Fatalf("cause %v is not a deadline", cause)
				}
			})
		})
	}
}
