package tracing

import (
	"context"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"

	"github.com/switchyard/switchyard/internal/reqbody"
	"github.com/switchyard/switchyard/internal/respwriter"
)

// Handler wraps next so that each request runs in a server span whose
// parent is the caller's span, read from the W3C traceparent, tracestate
// and baggage headers. The request context seen by next carries the span
// and the baggage.
//
// The span is named after [Tracer.Operation]'s name; without one (the
// Tracer [New] returns) it is named after the method and, once next has
// routed the request through an [http.ServeMux], the matched pattern
// ("GET /items/{id}"). It carries
// http.request.method, url.path, http.route (when known), client.address
// and http.response.status_code; a 5xx status or a panic sets status Error,
// except on a request the client broke itself (its body failed to read, or
// the answer was 413 or 408), which instead gets switchyard.outcome
// "aborted" and, for a body error, an [EventAborted] event with the error.
// The query string is never recorded, since it may hold credentials.
//
// The method value t.Handler is a func(http.Handler) http.Handler, usable
// as route middleware. The returned handler is safe for concurrent use.
func (t *Tracer) Handler(next http.Handler) http.Handler {
	return &handler{next: next, op: t.op, tracer: t.tracer, prop: t.prop, attrs: t.attrs, noop: t.noop}
}

type handler struct {
	next   http.Handler
	op     string
	tracer trace.Tracer
	prop   propagation.TextMapPropagator
	attrs  []attribute.KeyValue
	noop   bool
}

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	ctx := h.prop.Extract(r.Context(), propagation.HeaderCarrier(r.Header))
	name := h.op
	if name == "" {
		name = r.Method
	}
	var span trace.Span
	if h.noop {
		// Keep the caller's span context in ctx so that it is forwarded,
		// without paying for attributes nobody reads.
		ctx, span = h.tracer.Start(ctx, name)
	} else {
		attrs := make([]attribute.KeyValue, 0, 4+len(h.attrs))
		attrs = append(attrs,
			semconv.HTTPRequestMethodKey.String(r.Method),
			semconv.URLPath(r.URL.Path),
			semconv.ClientAddress(hostOnly(r.RemoteAddr)),
		)
		attrs = append(attrs, h.attrs...)
		ctx, span = h.tracer.Start(ctx, name, trace.WithSpanKind(trace.SpanKindServer), trace.WithAttributes(attrs...))
	}
	rw := respwriter.New(w)
	body := reqbody.Watch(r)
	r = r.WithContext(ctx)
	defer func() {
		if p := recover(); p != nil {
			span.SetStatus(codes.Error, "panic")
			span.End()
			panic(p)
		}
		if !span.IsRecording() {
			span.End()
			return
		}
		if r.Pattern != "" {
			if h.op == "" {
				span.SetName(routeName(r.Method, r.Pattern))
			}
			span.SetAttributes(semconv.HTTPRoute(patternPath(r.Pattern)))
		}
		status := rw.StatusOr200()
		span.SetAttributes(semconv.HTTPResponseStatusCode(status))
		switch {
		case body.Aborted(status):
			// The client broke its own request: not the server's error.
			span.SetAttributes(attrAborted)
			if err := body.Err(); err != nil {
				span.AddEvent(EventAborted, trace.WithAttributes(attribute.String("error", err.Error())))
			}
		case status >= 500:
			span.SetStatus(codes.Error, http.StatusText(status))
		}
		span.End()
	}()
	h.next.ServeHTTP(rw, r)
}

// EventAborted is the span event of a server request whose body failed to
// read: broken chunked framing, a hang-up mid-upload, a read error.
const EventAborted = EventPrefix + "http.request_aborted"

var attrAborted = OutcomeKey.String("aborted")

// routeName names a span after a ServeMux pattern, which may or may not
// start with a method ("GET /x/{id}" or "/x/").
func routeName(method, pattern string) string {
	if strings.HasPrefix(pattern, "/") {
		return method + " " + pattern
	}
	return pattern
}

// patternPath drops the method and host from a ServeMux pattern.
func patternPath(pattern string) string {
	if i := strings.IndexByte(pattern, '/'); i >= 0 {
		return pattern[i:]
	}
	return pattern
}

func hostOnly(addr string) string {
	if h, _, err := net.SplitHostPort(addr); err == nil {
		return h
	}
	return addr
}

// Transport wraps base (nil means [http.DefaultTransport]) so that each
// request runs in a client span, a child of the span in the request's
// context, and carries that span's context and the context's baggage in
// W3C headers. The outgoing request is a copy; the caller's request and
// its headers are left untouched, as a RoundTripper must.
//
// The span is named after [Tracer.Operation]'s name, or the method when
// there is none, and carries http.request.method,
// server.address, server.port, url.full (without query, fragment or user
// information) and http.response.status_code. A transport error or a 4xx or
// 5xx status sets status Error. The span ends when the response body is
// closed or read to its end, so it covers the whole exchange.
//
// The returned RoundTripper is safe for concurrent use.
func (t *Tracer) Transport(base http.RoundTripper) http.RoundTripper {
	if base == nil {
		base = http.DefaultTransport
	}
	return &transport{base: base, op: t.op, tracer: t.tracer, prop: t.prop, attrs: t.attrs}
}

type transport struct {
	base   http.RoundTripper
	op     string
	tracer trace.Tracer
	prop   propagation.TextMapPropagator
	attrs  []attribute.KeyValue
}

func (t *transport) RoundTrip(req *http.Request) (*http.Response, error) {
	attrs := make([]attribute.KeyValue, 0, 5+len(t.attrs))
	attrs = append(attrs,
		semconv.HTTPRequestMethodKey.String(req.Method),
		semconv.URLFull(redactedURL(req)),
	)
	if host, port, err := net.SplitHostPort(req.URL.Host); err == nil {
		attrs = append(attrs, semconv.ServerAddress(host))
		if p, err := strconv.Atoi(port); err == nil {
			attrs = append(attrs, semconv.ServerPort(p))
		}
	} else if req.URL.Host != "" {
		attrs = append(attrs, semconv.ServerAddress(req.URL.Host))
	}
	attrs = append(attrs, t.attrs...)
	name := t.op
	if name == "" {
		name = req.Method
	}
	ctx, span := t.tracer.Start(req.Context(), name, trace.WithSpanKind(trace.SpanKindClient), trace.WithAttributes(attrs...))

	out := req.WithContext(ctx)
	out.Header = req.Header.Clone()
	if out.Header == nil {
		out.Header = make(http.Header)
	}
	t.prop.Inject(ctx, propagation.HeaderCarrier(out.Header))

	resp, err := t.base.RoundTrip(out)
	if err != nil {
		recordError(ctx, span, err)
		span.End()
		return resp, err
	}
	span.SetAttributes(semconv.HTTPResponseStatusCode(resp.StatusCode))
	if resp.StatusCode >= 400 {
		span.SetStatus(codes.Error, http.StatusText(resp.StatusCode))
	}
	switch {
	case resp.Body == nil || resp.Body == http.NoBody:
		span.End()
	case resp.StatusCode == http.StatusSwitchingProtocols:
		// The body is the upgraded connection; it lives on its own terms.
		span.End()
	default:
		resp.Body = &spanBody{ReadCloser: resp.Body, span: span}
	}
	return resp, nil
}

// spanBody ends the span at EOF, on a read error, or on Close, whichever
// comes first.
type spanBody struct {
	io.ReadCloser
	span  trace.Span
	ended atomic.Bool // Close may race with Read when a caller cancels
}

func (b *spanBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if err != nil && b.ended.CompareAndSwap(false, true) {
		if err != io.EOF {
			b.span.RecordError(err)
			b.span.SetStatus(codes.Error, err.Error())
		}
		b.span.End()
	}
	return n, err
}

func (b *spanBody) Close() error {
	err := b.ReadCloser.Close()
	if b.ended.CompareAndSwap(false, true) {
		b.span.End()
	}
	return err
}

// redactedURL renders the request URL without user information, query and
// fragment, which may hold credentials.
func redactedURL(req *http.Request) string {
	u := *req.URL
	u.User = nil
	u.RawQuery = ""
	u.ForceQuery = false
	u.Fragment = ""
	u.RawFragment = ""
	return u.String()
}

// HTTPToContext extracts the caller's trace context and baggage from r's
// headers into ctx. The method value t.HTTPToContext is a go-kit
// transport/http RequestFunc, for ServerBefore. It opens no span: put
// t.Operation(op).Endpoint, with [Config.Kind] trace.SpanKindServer, on
// the endpoint for that. Safe for concurrent use.
func (t *Tracer) HTTPToContext(ctx context.Context, r *http.Request) context.Context {
	return t.prop.Extract(ctx, propagation.HeaderCarrier(r.Header))
}

// ContextToHTTP writes the trace context and baggage of ctx into r's
// headers. The method value t.ContextToHTTP is a go-kit transport/http
// RequestFunc, for ClientBefore: go-kit hands it a request it built itself,
// so writing the headers in place is safe there. Safe for concurrent use.
func (t *Tracer) ContextToHTTP(ctx context.Context, r *http.Request) context.Context {
	t.prop.Inject(ctx, propagation.HeaderCarrier(r.Header))
	return ctx
}
