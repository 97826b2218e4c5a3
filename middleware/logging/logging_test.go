package logging_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/switchyard/switchyard/internal/clock"
	"github.com/switchyard/switchyard/middleware/logging"
	"github.com/switchyard/switchyard/middleware/tracing"
)

// syncBuffer is written by the server's goroutines and read by the test.
type syncBuffer struct {
	mu sync.Mutex // guards b
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func (s *syncBuffer) lines(t *testing.T) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, line := range strings.Split(strings.TrimSpace(s.String()), "\n") {
		if line == "" {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("bad log line %q: %v", line, err)
		}
		out = append(out, m)
	}
	return out
}

var secrets = []string{
	"bearer-secret-1", "cookie-secret-2", "proxy-secret-3", "hunter2", "tok-secret-5",
	"apikey-secret-6", "body-secret-7", "setcookie-secret-8", "semicolon-secret-9", "escaped-secret-10",
}

func TestHandlerLogsOneLineWithoutSecrets(t *testing.T) {
	buf := &syncBuffer{}
	logger := slog.New(slog.NewJSONHandler(buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	defer tp.Shutdown(context.Background())

	mux := http.NewServeMux()
	mux.HandleFunc("POST /login/{kind}", func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if !strings.Contains(string(body), "body-secret-7") {
			t.Error("handler did not get the body")
		}
		logging.FromContext(r.Context()).Info("inside", "user", "alice")
		http.SetCookie(w, &http.Cookie{Name: "sid", Value: "setcookie-secret-8"})
		w.WriteHeader(http.StatusCreated)
		io.WriteString(w, "welcome")
	})
	tr, err := tracing.New(tracing.Config{TracerProvider: tp})
	if err != nil {
		t.Fatal(err)
	}
	h := tr.Handler(newLogger(t, logging.Config{Logger: logger,
		Headers: []string{"Authorization", "cookie", "Proxy-Authorization", "User-Agent", "X-Request-Id", "X-Absent", "X-Custom-Thing"},
		Redact:  []string{"custom-thing"},
	}).Handler(mux))
	srv := httptest.NewServer(h)
	defer srv.Close()

	q := "password=hunter2&token=tok-secret-5&api_key=apikey-secret-6&q=shoes&a=1;client_secret=semicolon-secret-9&%70assword=escaped-secret-10"
	req, _ := http.NewRequest(http.MethodPost, srv.URL+"/login/basic?"+q, strings.NewReader("password=body-secret-7"))
	req.Header.Set("Authorization", "Bearer bearer-secret-1")
	req.Header.Set("Cookie", "session=cookie-secret-2")
	req.Header.Set("Proxy-Authorization", "Basic proxy-secret-3")
	req.Header.Set("User-Agent", "test-agent")
	req.Header.Set("X-Request-Id", "req-42")
	req.Header.Set("X-Custom-Thing", "custom-value")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("status %d", resp.StatusCode)
	}

	out := buf.String()
	for _, s := range secrets {
		if strings.Contains(out, s) {
			t.Errorf("log contains secret %q:\n%s", s, out)
		}
	}
	if strings.Contains(out, "custom-value") {
		t.Error("header matched by WithRedact was logged")
	}

	lines := buf.lines(t)
	if len(lines) != 2 {
		t.Fatalf("%d lines, want 2:\n%s", len(lines), out)
	}
	inside, line := lines[0], lines[1]
	span := rec.Ended()[0].SpanContext()
	want := map[string]any{
		"msg":      "http request",
		"level":    "INFO",
		"method":   "POST",
		"route":    "POST /login/{kind}",
		"path":     "/login/basic",
		"status":   float64(201),
		"bytes":    float64(len("welcome")),
		"trace_id": span.TraceID().String(),
		"span_id":  span.SpanID().String(),
	}
	for k, v := range want {
		if line[k] != v {
			t.Errorf("%s = %v, want %v", k, line[k], v)
		}
	}
	if !strings.HasPrefix(line["remote_addr"].(string), "127.0.0.1:") {
		t.Errorf("remote_addr %v", line["remote_addr"])
	}
	if _, ok := line["duration"].(float64); !ok {
		t.Errorf("duration missing: %v", line["duration"])
	}
	wantQuery := "password=REDACTED&token=REDACTED&api_key=REDACTED&q=shoes&a=1;client_secret=REDACTED&%70assword=REDACTED"
	if line["query"] != wantQuery {
		t.Errorf("query\n got %v\nwant %v", line["query"], wantQuery)
	}
	headers, _ := line["headers"].(map[string]any)
	wantHeaders := map[string]any{
		"Authorization": "REDACTED", "Cookie": "REDACTED", "Proxy-Authorization": "REDACTED",
		"User-Agent": "test-agent", "X-Request-Id": "req-42", "X-Custom-Thing": "REDACTED",
	}
	if len(headers) != len(wantHeaders) {
		t.Errorf("headers %v, want %v", headers, wantHeaders)
	}
	for k, v := range wantHeaders {
		if headers[k] != v {
			t.Errorf("header %s = %v, want %v", k, headers[k], v)
		}
	}

	// The scoped logger carries the request's fields.
	for k, v := range map[string]any{"msg": "inside", "user": "alice", "trace_id": want["trace_id"], "span_id": want["span_id"], "method": "POST", "path": "/login/basic"} {
		if inside[k] != v {
			t.Errorf("scoped line %s = %v, want %v", k, inside[k], v)
		}
	}
}

func TestHandlerLevelsAndPanics(t *testing.T) {
	tests := []struct {
		name   string
		h      http.HandlerFunc
		level  string
		status float64
		panics bool
	}{
		{"404 is info", func(w http.ResponseWriter, r *http.Request) { http.NotFound(w, r) }, "INFO", 404, false},
		{"503 is error", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(503) }, "ERROR", 503, false},
		{"panic is error", func(w http.ResponseWriter, r *http.Request) { panic("boom") }, "ERROR", 500, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			buf := &syncBuffer{}
			fake := clock.NewFake(time.Unix(0, 0))
			lg := newLogger(t, logging.Config{Logger: slog.New(slog.NewJSONHandler(buf, nil))})
			logging.SetNow(lg, fake.Now)
			h := lg.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				fake.Advance(1500 * time.Millisecond)
				tt.h(w, r)
			}))
			func() {
				defer func() {
					if p := recover(); (p != nil) != tt.panics {
						t.Errorf("panic %v, want re-raised: %v", p, tt.panics)
					}
				}()
				h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, "/x", nil))
			}()
			lines := buf.lines(t)
			if len(lines) != 1 {
				t.Fatalf("%d lines", len(lines))
			}
			l := lines[0]
			if l["level"] != tt.level || l["status"] != tt.status || l["duration"] != float64(1500*time.Millisecond) {
				t.Errorf("line %v, want level %s status %v duration 1.5s", l, tt.level, tt.status)
			}
			if _, ok := l["trace_id"]; ok {
				t.Error("trace_id logged without a span")
			}
			if (l["panic"] == true) != tt.panics {
				t.Errorf("panic field %v", l["panic"])
			}
		})
	}
}

func TestEndpointLogs(t *testing.T) {
	buf := &syncBuffer{}
	logger := slog.New(slog.NewJSONHandler(buf, nil))
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	defer tp.Shutdown(context.Background())
	ctx, span := tp.Tracer("t").Start(context.Background(), "s")
	defer span.End()

	fake := clock.NewFake(time.Unix(0, 0))
	lg := newLogger(t, logging.Config{Logger: logger})
	logging.SetNow(lg, fake.Now)
	ep := lg.Operation("users.get").Endpoint(func(ctx context.Context, req any) (any, error) {
		fake.Advance(time.Millisecond)
		logging.FromContext(ctx).Info("working")
		if req == "fail" {
			return nil, errors.New("connection refused")
		}
		return "ok", nil
	})
	ep(ctx, struct{ Password string }{"req-secret"})
	ep(ctx, "fail")

	if strings.Contains(buf.String(), "req-secret") {
		t.Error("request logged")
	}
	lines := buf.lines(t)
	if len(lines) != 4 {
		t.Fatalf("%d lines:\n%s", len(lines), buf.String())
	}
	tid := span.SpanContext().TraceID().String()
	for i, want := range []map[string]any{
		{"msg": "working", "operation": "users.get", "trace_id": tid},
		{"msg": "call", "level": "INFO", "operation": "users.get", "outcome": "success", "duration": float64(time.Millisecond), "trace_id": tid},
		{"msg": "working", "operation": "users.get"},
		{"msg": "call", "level": "ERROR", "outcome": "server_failure", "error": "connection refused"},
	} {
		for k, v := range want {
			if lines[i][k] != v {
				t.Errorf("line %d %s = %v, want %v", i, k, lines[i][k], v)
			}
		}
	}
	if _, ok := lines[1]["error"]; ok {
		t.Error("error field on a success")
	}
}

func TestFromContextDefault(t *testing.T) {
	if logging.FromContext(context.Background()) != slog.Default() {
		t.Error("FromContext without a logger is not slog.Default()")
	}
	l := slog.New(slog.DiscardHandler)
	if logging.FromContext(logging.NewContext(context.Background(), l)) != l {
		t.Error("NewContext/FromContext lost the logger")
	}
	if logging.FromContext(logging.NewContext(context.Background(), nil)) == nil {
		t.Error("FromContext returned nil")
	}
}

func TestRedactQuery(t *testing.T) {
	tests := []struct{ in, want string }{
		{"", ""},
		{"q=shoes&page=2", "q=shoes&page=2"},
		{"Password=x", "Password=REDACTED"},
		{"access_token=abc&x=1", "access_token=REDACTED&x=1"},
		{"a=1;secret=2", "a=1;secret=REDACTED"},
		{"token", "REDACTED"},
		{"%zz=1&key=2", "%zz=1&key=REDACTED"},
		{"%6Bey=1", "%6Bey=REDACTED"},
		{"x=1&&y=2", "x=1&&y=2"},
		{"auth=", "auth=REDACTED"},
	}
	for _, tt := range tests {
		if got := logging.RedactQuery(tt.in); got != tt.want {
			t.Errorf("RedactQuery(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestReplaceAttr(t *testing.T) {
	var buf bytes.Buffer
	l := slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{ReplaceAttr: logging.ReplaceAttr}))
	l.Info("login", "user", "alice", "password", "hunter2", slog.Group("req", "api_key", "k-123", "id", 7))
	out := buf.String()
	if strings.Contains(out, "hunter2") || strings.Contains(out, "k-123") {
		t.Errorf("secret logged: %s", out)
	}
	if !strings.Contains(out, "user=alice") || !strings.Contains(out, "req.id=7") || !strings.Contains(out, "password=REDACTED") {
		t.Errorf("fields missing: %s", out)
	}
}

func FuzzRedactQuery(f *testing.F) {
	for _, s := range []string{"", "password=x", "a=1;token=2", "%zz=%", "&&;;==", "key"} {
		f.Add(s, "s3cr3tvalue")
	}
	f.Fuzz(func(t *testing.T, prefix, secret string) {
		if strings.ContainsAny(secret, "&;") {
			t.Skip()
		}
		// Whatever precedes it, a password parameter is redacted and the
		// rest of the query is left as it would be on its own.
		got := logging.RedactQuery(prefix + "&password=" + secret)
		if want := logging.RedactQuery(prefix) + "&password=REDACTED"; got != want {
			t.Fatalf("RedactQuery(%q + password) = %q, want %q", prefix, got, want)
		}
	})
}
