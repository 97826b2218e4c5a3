package logging

import (
	"context"
	"log/slog"
	"net/http"
	"time"

	"github.com/go-kit/kit/endpoint"
	"go.opentelemetry.io/otel/trace"

	"github.com/switchyard/switchyard/internal/clock"
	"github.com/switchyard/switchyard/internal/reqbody"
	"github.com/switchyard/switchyard/internal/respwriter"
	"github.com/switchyard/switchyard/outcome"
)

type ctxKey struct{}

// NewContext returns a copy of ctx carrying l, which [FromContext] returns.
func NewContext(ctx context.Context, l *slog.Logger) context.Context {
	return context.WithValue(ctx, ctxKey{}, l)
}

// FromContext returns the logger [Handler], [Endpoint] or [NewContext] put
// in ctx, or slog.Default() when there is none. It never returns nil.
func FromContext(ctx context.Context) *slog.Logger {
	if l, ok := ctx.Value(ctxKey{}).(*slog.Logger); ok && l != nil {
		return l
	}
	return slog.Default()
}

// Option configures [Handler] and [Endpoint].
type Option func(*config)

type config struct {
	headers []string
	extra   []string
	clock   clock.Clock
	message string
}

// WithHeaders names request headers to include in the request line, in a
// group "headers". By default no header is logged. A header whose name is
// [Sensitive] (Authorization, Cookie, ...) or matches [WithRedact] is
// logged as [Redacted] even when named here; a header absent from the
// request is left out.
func WithHeaders(names ...string) Option {
	return func(c *config) {
		for _, n := range names {
			c.headers = append(c.headers, http.CanonicalHeaderKey(n))
		}
	}
}

// WithRedact adds name fragments, matched case-insensitively, that mark
// further headers and query parameters as secret, on top of the built-in
// list described at [Sensitive].
func WithRedact(fragments ...string) Option {
	return func(c *config) {
		for _, f := range fragments {
			if f != "" {
				c.extra = append(c.extra, toLower(f))
			}
		}
	}
}

// WithMessage sets the message of the request or call line. The defaults
// are "http request" for [Handler] and "call" for [Endpoint].
func WithMessage(msg string) Option { return func(c *config) { c.message = msg } }

// WithClock sets the clock that times requests. The default is the real
// clock; tests pass a fake.
func WithClock(c clock.Clock) Option { return func(cfg *config) { cfg.clock = clock.OrReal(c) } }

func newConfig(opts []Option, message string) *config {
	c := &config{clock: clock.Real{}, message: message}
	for _, o := range opts {
		o(c)
	}
	return c
}

func toLower(s string) string {
	b := []byte(s)
	for i, ch := range b {
		if 'A' <= ch && ch <= 'Z' {
			b[i] = ch + 'a' - 'A'
		}
	}
	return string(b)
}

// traceAttrs returns the trace and span IDs of the span in ctx, if any.
func traceAttrs(ctx context.Context, attrs []slog.Attr) []slog.Attr {
	sc := trace.SpanContextFromContext(ctx)
	if !sc.IsValid() {
		return attrs
	}
	return append(attrs, slog.String("trace_id", sc.TraceID().String()), slog.String("span_id", sc.SpanID().String()))
}

// Handler wraps next so that one line is logged at the end of every
// request: at level Error for a 5xx status or a panic (which is re-raised),
// Warn with aborted=true (and abort_error) for a request the client broke
// itself — its body failed to read (broken chunked framing, a hang-up
// mid-upload, whose line is the only trace it leaves) or the answer was
// 413 or 408 — whatever the status, and Info otherwise. The line carries method, route (the ServeMux pattern
// that matched inside next, when there is one), path, query (with
// sensitive values replaced, omitted when empty), status, bytes, duration,
// remote_addr (the connection's peer, not a forwarding header),
// trace_id and span_id (when the context carries a valid span; put
// tracing outside logging), and the headers chosen with [WithHeaders].
//
// next sees a context whose [FromContext] logger is logger with trace_id,
// span_id, method and path already attached. A nil logger means
// slog.Default() at each request. The handler is safe for concurrent use.
func Handler(logger *slog.Logger, next http.Handler, opts ...Option) http.Handler {
	c := newConfig(opts, "http request")
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		l := logger
		if l == nil {
			l = slog.Default()
		}
		ctx := r.Context()
		start := c.clock.Now()
		scoped := make([]slog.Attr, 0, 4)
		scoped = traceAttrs(ctx, scoped)
		scoped = append(scoped, slog.String("method", r.Method), slog.String("path", r.URL.Path))
		reqLogger := slog.New(l.Handler().WithAttrs(scoped))
		rw := respwriter.New(w)
		body := reqbody.Watch(r)
		r = r.WithContext(NewContext(ctx, reqLogger))
		defer func() {
			p := recover()
			status := rw.StatusOr200()
			level := slog.LevelInfo
			if p != nil {
				status = http.StatusInternalServerError
			}
			aborted := p == nil && body.Aborted(status)
			switch {
			case aborted:
				level = slog.LevelWarn
			case status >= 500:
				level = slog.LevelError
			}
			if l.Enabled(ctx, level) {
				attrs := c.requestAttrs(r, scoped, status, rw.Bytes(), c.clock.Now().Sub(start), p != nil)
				if aborted {
					attrs = append(attrs, slog.Bool("aborted", true))
					if err := body.Err(); err != nil {
						attrs = append(attrs, slog.String("abort_error", err.Error()))
					}
				}
				l.LogAttrs(ctx, level, c.message, attrs...)
			}
			if p != nil {
				panic(p)
			}
		}()
		next.ServeHTTP(rw, r)
	})
}

func (c *config) requestAttrs(r *http.Request, scoped []slog.Attr, status int, bytes int64, d time.Duration, panicked bool) []slog.Attr {
	attrs := make([]slog.Attr, 0, 12)
	attrs = append(attrs, slog.String("method", r.Method))
	if r.Pattern != "" {
		attrs = append(attrs, slog.String("route", r.Pattern))
	}
	attrs = append(attrs, slog.String("path", r.URL.Path))
	if q := redactQuery(r.URL.RawQuery, c.extra); q != "" {
		attrs = append(attrs, slog.String("query", q))
	}
	attrs = append(attrs,
		slog.Int("status", status),
		slog.Int64("bytes", bytes),
		slog.Duration("duration", d),
		slog.String("remote_addr", r.RemoteAddr),
	)
	for _, a := range scoped {
		if a.Key == "trace_id" || a.Key == "span_id" {
			attrs = append(attrs, a)
		}
	}
	if panicked {
		attrs = append(attrs, slog.Bool("panic", true))
	}
	if len(c.headers) > 0 {
		var hs []any
		for _, name := range c.headers {
			vs, ok := r.Header[name]
			if !ok {
				continue
			}
			v := Redacted
			if !sensitive(name, c.extra) {
				v = joinValues(vs)
			}
			hs = append(hs, slog.String(name, v))
		}
		if len(hs) > 0 {
			attrs = append(attrs, slog.Group("headers", hs...))
		}
	}
	return attrs
}

func joinValues(vs []string) string {
	if len(vs) == 1 {
		return vs[0]
	}
	n := 0
	for _, v := range vs {
		n += len(v) + 2
	}
	b := make([]byte, 0, n)
	for i, v := range vs {
		if i > 0 {
			b = append(b, ", "...)
		}
		b = append(b, v...)
	}
	return string(b)
}

// Endpoint returns endpoint middleware that logs one line per call of
// operation when it returns: operation, outcome (the class
// [outcome.Default] gives the error), duration, trace_id and span_id, and
// error (the error's text) when there is one; at level Error for a server
// failure, Info otherwise. The request is never logged. The endpoint's
// context carries a [FromContext] logger with operation, trace_id and
// span_id attached. A nil logger means slog.Default() at each call.
//
// An error's text is logged as it is: errors should not carry secrets.
func Endpoint(logger *slog.Logger, operation string, opts ...Option) endpoint.Middleware {
	c := newConfig(opts, "call")
	return func(next endpoint.Endpoint) endpoint.Endpoint {
		return func(ctx context.Context, req any) (any, error) {
			l := logger
			if l == nil {
				l = slog.Default()
			}
			start := c.clock.Now()
			scoped := make([]slog.Attr, 0, 3)
			scoped = append(scoped, slog.String("operation", operation))
			scoped = traceAttrs(ctx, scoped)
			resp, err := next(NewContext(ctx, slog.New(l.Handler().WithAttrs(scoped))), req)
			class := outcome.Default(ctx, err)
			level := slog.LevelInfo
			if class == outcome.ServerFailure {
				level = slog.LevelError
			}
			if l.Enabled(ctx, level) {
				attrs := append(scoped,
					slog.String("outcome", class.String()),
					slog.Duration("duration", c.clock.Now().Sub(start)))
				if err != nil {
					attrs = append(attrs, slog.String("error", err.Error()))
				}
				l.LogAttrs(ctx, level, c.message, attrs...)
			}
			return resp, err
		}
	}
}
