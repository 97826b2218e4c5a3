package logging

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/go-kit/kit/endpoint"
	"go.opentelemetry.io/otel/trace"

	"github.com/switchyard/switchyard/internal/reqbody"
	"github.com/switchyard/switchyard/internal/respwriter"
	"github.com/switchyard/switchyard/outcome"
)

type ctxKey struct{}

// NewContext returns a copy of ctx carrying l, which [FromContext] returns.
func NewContext(ctx context.Context, l *slog.Logger) context.Context {
	return context.WithValue(ctx, ctxKey{}, l)
}

// FromContext returns the logger [Logger.Handler], [Logger.Endpoint] or [NewContext] put
// in ctx, or slog.Default() when there is none. It never returns nil.
func FromContext(ctx context.Context) *slog.Logger {
	if l, ok := ctx.Value(ctxKey{}).(*slog.Logger); ok && l != nil {
		return l
	}
	return slog.Default()
}

// ErrConfig is wrapped by the error [New] returns for an invalid [Config].
var ErrConfig = errors.New("logging: invalid configuration")

// Config configures [New]. The zero value is valid: every field's zero
// value is the default written beside it.
type Config struct {
	// Logger receives the lines. Nil means slog.Default() at each request
	// or call.
	Logger *slog.Logger
	// Headers names request headers to include in the request line, in a
	// group "headers". Nil logs no header. A header whose name is
	// [Sensitive] (Authorization, Cookie, ...) or matches Redact is logged
	// as [Redacted] even when named here; a header absent from the request
	// is left out.
	Headers []string
	// Redact adds name fragments, matched case-insensitively, that mark
	// further headers and query parameters as secret, on top of the
	// built-in list described at [Sensitive]. Nil adds none; an empty
	// fragment is an error from [New].
	Redact []string
	// Message is the message of the request or call line. Empty means
	// "http request" for [Logger.Handler] and "call" for [Logger.Endpoint].
	Message string
}

// Logger is the logging middleware: one line per request or call. Create
// it with [New]; the zero value is not usable. [Logger.Operation] binds an
// operation name for [Logger.Endpoint]. A Logger is immutable and safe for
// concurrent use.
type Logger struct {
	logger  *slog.Logger
	headers []string
	extra   []string
	message string
	op      string
	now     func() time.Time // time.Now; tests set it through export_test.go
}

// New returns a Logger configured by cfg, or an error wrapping [ErrConfig]
// when cfg.Redact holds an empty fragment.
func New(cfg Config) (*Logger, error) {
	l := &Logger{logger: cfg.Logger, message: cfg.Message, now: time.Now}
	for _, n := range cfg.Headers {
		l.headers = append(l.headers, http.CanonicalHeaderKey(n))
	}
	for _, f := range cfg.Redact {
		if f == "" {
			return nil, fmt.Errorf("logging: %w: empty redaction fragment", ErrConfig)
		}
		l.extra = append(l.extra, toLower(f))
	}
	return l, nil
}

// Operation returns a Logger that shares l's configuration and logs
// [Logger.Endpoint] calls as operation. Call it when the middleware is
// built, not per call.
func (l *Logger) Operation(operation string) *Logger {
	c := *l
	c.op = operation
	return &c
}

func (l *Logger) message0(def string) string {
	if l.message != "" {
		return l.message
	}
	return def
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
// tracing outside logging), and the headers chosen with [Config.Headers].
//
// next sees a context whose [FromContext] logger is the configured logger
// with trace_id, span_id, method and path already attached. The method
// value l.Handler is a func(http.Handler) http.Handler, usable as route
// middleware. The handler is safe for concurrent use.
func (c *Logger) Handler(next http.Handler) http.Handler {
	logger, message := c.logger, c.message0("http request")
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		l := logger
		if l == nil {
			l = slog.Default()
		}
		ctx := r.Context()
		start := c.now()
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
				attrs := c.requestAttrs(r, scoped, status, rw.Bytes(), c.now().Sub(start), p != nil)
				if aborted {
					attrs = append(attrs, slog.Bool("aborted", true))
					if err := body.Err(); err != nil {
						attrs = append(attrs, slog.String("abort_error", err.Error()))
					}
				}
				l.LogAttrs(ctx, level, message, attrs...)
			}
			if p != nil {
				panic(p)
			}
		}()
		next.ServeHTTP(rw, r)
	})
}

func (c *Logger) requestAttrs(r *http.Request, scoped []slog.Attr, status int, bytes int64, d time.Duration, panicked bool) []slog.Attr {
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

// Endpoint is endpoint middleware that logs one line per call when it
// returns, under the operation bound with [Logger.Operation] ("" on the
// Logger [New] returns: bind a name first): operation, outcome (the class
// [outcome.Default] gives the error), duration, trace_id and span_id, and
// error (the error's text) when there is one; at level Error for a server
// failure, Info otherwise. The request is never logged. The endpoint's
// context carries a [FromContext] logger with operation, trace_id and
// span_id attached.
//
// An error's text is logged as it is: errors should not carry secrets.
func (c *Logger) Endpoint(next endpoint.Endpoint) endpoint.Endpoint {
	logger, message, operation := c.logger, c.message0("call"), c.op
	return func(ctx context.Context, req any) (any, error) {
		l := logger
		if l == nil {
			l = slog.Default()
		}
		start := c.now()
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
				slog.Duration("duration", c.now().Sub(start)))
			if err != nil {
				attrs = append(attrs, slog.String("error", err.Error()))
			}
			l.LogAttrs(ctx, level, message, attrs...)
		}
		return resp, err
	}
}
