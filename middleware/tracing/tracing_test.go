package tracing_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/baggage"
	"go.opentelemetry.io/otel/codes"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"

	"github.com/switchyard/switchyard/middleware/tracing"
)

func newProvider(t *testing.T) (*sdktrace.TracerProvider, *tracetest.SpanRecorder) {
	t.Helper()
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	t.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
	return tp, rec
}

func attr(s sdktrace.ReadOnlySpan, key string) (attribute.Value, bool) {
	for _, kv := range s.Attributes() {
		if string(kv.Key) == key {
			return kv.Value, true
		}
	}
	return attribute.Value{}, false
}

func only(t *testing.T, rec *tracetest.SpanRecorder) sdktrace.ReadOnlySpan {
	t.Helper()
	spans := rec.Ended()
	if len(spans) != 1 {
		t.Fatalf("got %d ended spans, want 1", len(spans))
	}
	return spans[0]
}

type statusErr int

func (e statusErr) Error() string   { return http.StatusText(int(e)) }
func (e statusErr) StatusCode() int { return int(e) }

// TestPropagationAcrossTwoHops runs three "processes", each with its own
// tracer provider, so the only thing linking their spans is what travels
// in the HTTP headers: client → front → back.
func TestPropagationAcrossTwoHops(t *testing.T) {
	clientTP, clientRec := newProvider(t)
	frontTP, frontRec := newProvider(t)
	backTP, backRec := newProvider(t)

	var backBaggage string
	back := httptest.NewServer(tracer(t, backTP).Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		backBaggage = baggage.FromContext(r.Context()).Member("tenant").Value()
		io.WriteString(w, "ok")
	})))
	defer back.Close()

	frontClient := &http.Client{Transport: tracer(t, frontTP).Transport(nil)}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /front/{id}", func(w http.ResponseWriter, r *http.Request) {
		req, _ := http.NewRequestWithContext(r.Context(), http.MethodGet, back.URL+"/back", nil)
		resp, err := frontClient.Do(req)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		defer resp.Body.Close()
		io.Copy(w, resp.Body)
	})
	front := httptest.NewServer(tracer(t, frontTP).Handler(mux))
	defer front.Close()

	member, _ := baggage.NewMember("tenant", "acme")
	bag, _ := baggage.New(member)
	ctx := baggage.ContextWithBaggage(context.Background(), bag)
	ctx, root := clientTP.Tracer("test").Start(ctx, "root")
	client := &http.Client{Transport: tracer(t, clientTP).Transport(nil)}
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, front.URL+"/front/42?token=s3cret", nil)
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	root.End()
	if string(body) != "ok" {
		t.Fatalf("body %q", body)
	}
	if backBaggage != "acme" {
		t.Errorf("baggage at the second hop = %q, want acme", backBaggage)
	}

	// Spans by process, name and kind.
	byName := map[string]sdktrace.ReadOnlySpan{}
	for proc, rec := range map[string]*tracetest.SpanRecorder{"client": clientRec, "front": frontRec, "back": backRec} {
		for _, s := range rec.Ended() {
			byName[proc+":"+s.Name()+"/"+s.SpanKind().String()] = s
		}
	}
	if len(byName) != 5 {
		t.Fatalf("got spans %v, want 5", keys(byName))
	}
	rootSpan := byName["client:root/internal"]
	clientSpan := byName["client:GET/client"]
	frontSpan := byName["front:GET /front/{id}/server"]
	frontClient2 := byName["front:GET/client"]
	backSpan := byName["back:GET/server"]
	if rootSpan == nil || clientSpan == nil || frontSpan == nil || frontClient2 == nil || backSpan == nil {
		t.Fatalf("missing spans; got %v", keys(byName))
	}
	tid := rootSpan.SpanContext().TraceID()
	chain := []struct {
		name          string
		child, parent sdktrace.ReadOnlySpan
	}{
		{"client under root", clientSpan, rootSpan},
		{"front server under client", frontSpan, clientSpan},
		{"front client under front server", frontClient2, frontSpan},
		{"back server under front client", backSpan, frontClient2},
	}
	for _, c := range chain {
		if got := c.child.SpanContext().TraceID(); got != tid {
			t.Errorf("%s: trace ID %s, want %s", c.name, got, tid)
		}
		if got, want := c.child.Parent().SpanID(), c.parent.SpanContext().SpanID(); got != want {
			t.Errorf("%s: parent %s, want %s", c.name, got, want)
		}
	}
	if !frontSpan.Parent().IsRemote() || !backSpan.Parent().IsRemote() {
		t.Error("server spans' parents should be remote")
	}
	if v, _ := attr(frontSpan, "http.route"); v.AsString() != "/front/{id}" {
		t.Errorf("http.route = %q", v.AsString())
	}
	if v, _ := attr(frontSpan, "http.response.status_code"); v.AsInt64() != 200 {
		t.Errorf("status attribute = %d", v.AsInt64())
	}
	if v, _ := attr(clientSpan, "url.full"); strings.Contains(v.AsString(), "s3cret") || !strings.HasSuffix(v.AsString(), "/front/42") {
		t.Errorf("url.full = %q: want the path and no query", v.AsString())
	}
	for _, s := range []sdktrace.ReadOnlySpan{clientSpan, frontSpan, frontClient2, backSpan} {
		if s.Status().Code == codes.Error {
			t.Errorf("span %s has status Error", s.Name())
		}
	}
}

func keys(m map[string]sdktrace.ReadOnlySpan) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

func TestEndpointSpans(t *testing.T) {
	tests := []struct {
		name        string
		err         error
		wantStatus  codes.Code
		wantOutcome string
	}{
		{"success", nil, codes.Unset, ""},
		{"server failure", statusErr(503), codes.Error, "server_failure"},
		{"caller fault", statusErr(404), codes.Error, "caller_fault"},
		{"plain error", errors.New("boom"), codes.Error, "server_failure"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tp, rec := newProvider(t)
			var inner trace.SpanContext
			ep := func(ctx context.Context, req any) (any, error) {
				inner = trace.SpanContextFromContext(ctx)
				return "resp", tt.err
			}
			clientTr := newTracer(t, tracing.Config{TracerProvider: tp,
				Attributes: []attribute.KeyValue{attribute.String("peer.service", "users")}})
			serverTr := newTracer(t, tracing.Config{TracerProvider: tp, Kind: trace.SpanKindServer})
			chain := clientTr.Operation("users.get").Endpoint(serverTr.Operation("users.get.handle").Endpoint(ep))
			resp, err := chain(context.Background(), "req")
			if resp != "resp" || !errors.Is(err, tt.err) {
				t.Fatalf("chain returned %v, %v", resp, err)
			}
			spans := rec.Ended()
			if len(spans) != 2 {
				t.Fatalf("%d spans", len(spans))
			}
			server, client := spans[0], spans[1]
			if server.SpanKind() != trace.SpanKindServer || client.SpanKind() != trace.SpanKindClient {
				t.Fatalf("kinds %v, %v", server.SpanKind(), client.SpanKind())
			}
			if server.Parent().SpanID() != client.SpanContext().SpanID() {
				t.Error("server span is not the client span's child")
			}
			if inner.SpanID() != server.SpanContext().SpanID() {
				t.Error("endpoint did not run inside the server span")
			}
			if v, _ := attr(client, "peer.service"); v.AsString() != "users" {
				t.Errorf("peer.service = %q", v.AsString())
			}
			for _, s := range spans {
				if s.Status().Code != tt.wantStatus {
					t.Errorf("%s status %v, want %v", s.Name(), s.Status().Code, tt.wantStatus)
				}
				v, _ := attr(s, "switchyard.outcome")
				if v.AsString() != tt.wantOutcome {
					t.Errorf("%s outcome %q, want %q", s.Name(), v.AsString(), tt.wantOutcome)
				}
				recorded := false
				for _, e := range s.Events() {
					recorded = recorded || e.Name == "exception"
				}
				if recorded != (tt.err != nil) {
					t.Errorf("%s: exception event recorded = %v", s.Name(), recorded)
				}
			}
		})
	}
}

func TestNoopProviderLeavesTheContextAlone(t *testing.T) {
	type key struct{}
	ctx := context.WithValue(context.Background(), key{}, 1)
	var got context.Context
	ep := tracer(t, noop.NewTracerProvider()).Operation("x").Endpoint(func(ctx context.Context, _ any) (any, error) {
		got = ctx
		return nil, nil
	})
	ep(ctx, nil)
	if got != ctx {
		t.Fatal("no-op provider still wrapped the context")
	}
}

func TestHandlerStatusAndName(t *testing.T) {
	tests := []struct {
		name       string
		op         string
		handler    http.HandlerFunc
		wantName   string
		wantStatus codes.Code
		wantCode   int64
	}{
		{"implicit 200", "", func(w http.ResponseWriter, r *http.Request) {}, "POST", codes.Unset, 200},
		{"404 is not a server error", "", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(404) }, "POST", codes.Unset, 404},
		{"503 is", "", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(503) }, "POST", codes.Error, 503},
		{"fixed name", "create", func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("x")) }, "create", codes.Unset, 200},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tp, rec := newProvider(t)
			srv := httptest.NewServer(tracer(t, tp).Operation(tt.op).Handler(tt.handler))
			defer srv.Close()
			resp, err := http.Post(srv.URL+"/x?password=hunter2", "text/plain", nil)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			s := only(t, rec)
			if s.Name() != tt.wantName || s.Status().Code != tt.wantStatus || s.SpanKind() != trace.SpanKindServer {
				t.Errorf("span %q %v %v, want %q %v server", s.Name(), s.Status().Code, s.SpanKind(), tt.wantName, tt.wantStatus)
			}
			if v, _ := attr(s, "http.response.status_code"); v.AsInt64() != tt.wantCode {
				t.Errorf("status code attribute %d, want %d", v.AsInt64(), tt.wantCode)
			}
			if s.Parent().IsValid() {
				t.Error("a request without traceparent should start a new trace")
			}
			for _, kv := range s.Attributes() {
				if strings.Contains(kv.Value.String(), "hunter2") {
					t.Errorf("attribute %s leaks the query", kv.Key)
				}
			}
		})
	}
}

func TestHandlerIgnoresMalformedTraceparent(t *testing.T) {
	tp, rec := newProvider(t)
	srv := httptest.NewServer(tracer(t, tp).Handler(http.NotFoundHandler()))
	defer srv.Close()
	req, _ := http.NewRequest(http.MethodGet, srv.URL, nil)
	req.Header.Set("Traceparent", "00-zzzz-not-a-trace-01")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	s := only(t, rec)
	if s.Parent().IsValid() || !s.SpanContext().IsValid() {
		t.Fatalf("parent %v, span %v: want a fresh root", s.Parent(), s.SpanContext())
	}
}

func TestHandlerPanicEndsSpanWithError(t *testing.T) {
	tp, rec := newProvider(t)
	h := tracer(t, tp).Operation("boom").Handler(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { panic("kaput") }))
	func() {
		defer func() {
			if p := recover(); p != "kaput" {
				t.Errorf("recovered %v, want the handler's panic", p)
			}
		}()
		h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, "/", nil))
	}()
	if s := only(t, rec); s.Status().Code != codes.Error {
		t.Fatalf("status %v", s.Status())
	}
}

func TestTransport(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/missing" {
			http.NotFound(w, r)
			return
		}
		io.WriteString(w, r.Header.Get("Traceparent"))
	}))
	defer srv.Close()
	dead := httptest.NewServer(http.NotFoundHandler())
	deadURL := dead.URL
	dead.Close()

	t.Run("injects without touching the caller's request", func(t *testing.T) {
		tp, rec := newProvider(t)
		c := &http.Client{Transport: tracer(t, tp).Transport(nil)}
		req, _ := http.NewRequest(http.MethodGet, srv.URL+"/ok", nil)
		req.Header.Set("X-Mine", "1")
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		if len(rec.Ended()) != 0 {
			t.Error("span ended before the body was read")
		}
		got, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if req.Header.Get("Traceparent") != "" || len(req.Header) != 1 {
			t.Errorf("caller's headers were modified: %v", req.Header)
		}
		s := only(t, rec)
		want := "00-" + s.SpanContext().TraceID().String() + "-" + s.SpanContext().SpanID().String() + "-01"
		if string(got) != want {
			t.Errorf("server saw traceparent %q, want %q", got, want)
		}
		if v, _ := attr(s, "server.port"); v.AsInt64() == 0 {
			t.Error("server.port not set")
		}
	})
	t.Run("4xx is an error on a client span", func(t *testing.T) {
		tp, rec := newProvider(t)
		c := &http.Client{Transport: tracer(t, tp).Transport(nil)}
		resp, err := c.Get(srv.URL + "/missing")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if s := only(t, rec); s.Status().Code != codes.Error {
			t.Errorf("status %v", s.Status())
		}
	})
	t.Run("connection refused", func(t *testing.T) {
		tp, rec := newProvider(t)
		c := &http.Client{Transport: tracer(t, tp).Transport(nil)}
		if _, err := c.Get(deadURL); err == nil {
			t.Fatal("expected an error from a closed server")
		}
		s := only(t, rec)
		if s.Status().Code != codes.Error {
			t.Errorf("status %v", s.Status())
		}
		if v, _ := attr(s, "switchyard.outcome"); v.AsString() != "server_failure" {
			t.Errorf("outcome %q", v.AsString())
		}
	})
}

func TestGoKitRequestFuncsRoundTrip(t *testing.T) {
	tp, _ := newProvider(t)
	ctx, span := tp.Tracer("t").Start(context.Background(), "s")
	defer span.End()
	req := httptest.NewRequest(http.MethodGet, "/", nil)
	tr := tracer(t, tp)
	tr.ContextToHTTP(ctx, req)
	got := trace.SpanContextFromContext(tr.HTTPToContext(context.Background(), req))
	if got.TraceID() != span.SpanContext().TraceID() || got.SpanID() != span.SpanContext().SpanID() || !got.IsRemote() {
		t.Fatalf("extracted %v, want remote copy of %v", got, span.SpanContext())
	}
}

func TestEvent(t *testing.T) {
	tp, rec := newProvider(t)
	ctx, span := tp.Tracer("t").Start(context.Background(), "call")
	tracing.Event(ctx, "switchyard.retry.attempt", "server_failure", attribute.Int("attempt", 2))
	span.End()
	evs := only(t, rec).Events()
	if len(evs) != 1 || evs[0].Name != "switchyard.retry.attempt" {
		t.Fatalf("events %+v", evs)
	}
	want := []attribute.KeyValue{attribute.String("reason", "server_failure"), attribute.Int("attempt", 2)}
	if len(evs[0].Attributes) != 2 || evs[0].Attributes[0] != want[0] || evs[0].Attributes[1] != want[1] {
		t.Errorf("attributes %v, want %v", evs[0].Attributes, want)
	}

	// Without a recording span it is a free no-op.
	if n := testing.AllocsPerRun(100, func() {
		tracing.Event(context.Background(), "switchyard.retry.attempt", "x")
	}); n != 0 {
		t.Errorf("Event without a span allocates %v times", n)
	}
}

func TestNewConfig(t *testing.T) {
	for _, tt := range []struct {
		name string
		kind trace.SpanKind
		want trace.SpanKind
		err  bool
	}{
		{"zero is client", 0, trace.SpanKindClient, false},
		{"server", trace.SpanKindServer, trace.SpanKindServer, false},
		{"internal", trace.SpanKindInternal, trace.SpanKindInternal, false},
		{"unknown", trace.SpanKind(9), 0, true},
		{"negative", trace.SpanKind(-1), 0, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			tp, rec := newProvider(t)
			tr, err := tracing.New(tracing.Config{TracerProvider: tp, Kind: tt.kind})
			if tt.err {
				if !errors.Is(err, tracing.ErrConfig) || tr != nil {
					t.Fatalf("New = %v, %v; want an ErrConfig", tr, err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			tr.Operation("op").Endpoint(nop)(context.Background(), nil)
			if s := rec.Ended(); len(s) != 1 || s[0].SpanKind() != tt.want || s[0].Name() != "op" {
				t.Fatalf("spans %v, want one %v span named op", s, tt.want)
			}
		})
	}
}

func TestOperationNamesTransportSpansAndLeavesTheBaseAlone(t *testing.T) {
	tp, rec := newProvider(t)
	base := tracer(t, tp)
	srv := httptest.NewServer(http.NotFoundHandler())
	defer srv.Close()
	for _, tr := range []*tracing.Tracer{base.Operation("users.get"), base} {
		resp, err := (&http.Client{Transport: tr.Transport(nil)}).Get(srv.URL)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	spans := rec.Ended()
	if len(spans) != 2 || spans[0].Name() != "users.get" || spans[1].Name() != "GET" {
		t.Fatalf("span names %v", spans)
	}
}
