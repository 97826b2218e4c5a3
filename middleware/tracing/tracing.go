package tracing

import (
	"context"

	"github.com/go-kit/kit/endpoint"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"

	"github.com/switchyard/switchyard/outcome"
)

// ScopeName is the instrumentation scope under which spans are created.
const ScopeName = "github.com/switchyard/switchyard/middleware/tracing"

// EventPrefix starts the name of every resilience event Switchyard records:
// "switchyard.<middleware>.<decision>", for example
// "switchyard.retry.attempt" or "switchyard.circuitbreaker.open".
const EventPrefix = "switchyard."

// ReasonKey is the attribute that carries the reason of a resilience event.
const ReasonKey = attribute.Key("reason")

// OutcomeKey is the attribute that carries the [outcome.Class] of a failed
// endpoint call, as decided by [outcome.Default].
const OutcomeKey = attribute.Key("switchyard.outcome")

// Option configures the middleware of this package.
type Option func(*config)

type config struct {
	tp    trace.TracerProvider
	prop  propagation.TextMapPropagator
	attrs []attribute.KeyValue
}

// WithTracerProvider sets where spans come from. The default, and the
// behaviour for nil, is the global provider at construction time
// (otel.GetTracerProvider), which follows a later otel.SetTracerProvider.
func WithTracerProvider(tp trace.TracerProvider) Option {
	return func(c *config) {
		if tp != nil {
			c.tp = tp
		}
	}
}

// WithPropagator sets how trace context travels in HTTP headers. The
// default, and the behaviour for nil, is [DefaultPropagator].
func WithPropagator(p propagation.TextMapPropagator) Option {
	return func(c *config) {
		if p != nil {
			c.prop = p
		}
	}
}

// WithAttributes adds attributes to every span the middleware starts, for
// example the peer service's name. The default is none.
func WithAttributes(attrs ...attribute.KeyValue) Option {
	return func(c *config) { c.attrs = append(c.attrs, attrs...) }
}

// DefaultPropagator returns the propagator used unless [WithPropagator]
// says otherwise: W3C TraceContext followed by W3C Baggage.
func DefaultPropagator() propagation.TextMapPropagator {
	return propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{})
}

func newConfig(opts []Option) *config {
	c := &config{tp: otel.GetTracerProvider(), prop: DefaultPropagator()}
	for _, o := range opts {
		o(c)
	}
	return c
}

// noop reports whether c's provider is the API's no-op provider, in which
// case the middleware skip span creation entirely: a no-op Start still
// stores a span in a new context, which costs an allocation per call.
func (c *config) noop() bool {
	_, ok := c.tp.(noop.TracerProvider)
	return ok
}

func (c *config) tracer() trace.Tracer { return c.tp.Tracer(ScopeName) }

// Client returns endpoint middleware that runs each call in a client span
// named operation, a child of the span in the call's context. A returned
// error is recorded on the span, which ends with status Error; the error's
// [outcome.Class] (per [outcome.Default]) is set as the attribute
// "switchyard.outcome".
//
// The middleware is safe for concurrent use. With the no-op provider from
// go.opentelemetry.io/otel/trace/noop it returns next unchanged.
func Client(operation string, opts ...Option) endpoint.Middleware {
	return middleware(operation, trace.SpanKindClient, newConfig(opts))
}

// Server is [Client] for the serving side: the span has kind Server and is a
// child of the span in the context, which for a go-kit HTTP server is the
// remote caller's span once [HTTPToContext] ran as a ServerBefore function.
func Server(operation string, opts ...Option) endpoint.Middleware {
	return middleware(operation, trace.SpanKindServer, newConfig(opts))
}

func middleware(operation string, kind trace.SpanKind, c *config) endpoint.Middleware {
	if c.noop() {
		return func(next endpoint.Endpoint) endpoint.Endpoint { return next }
	}
	tracer := c.tracer()
	start := []trace.SpanStartOption{trace.WithSpanKind(kind)}
	if len(c.attrs) > 0 {
		start = append(start, trace.WithAttributes(c.attrs...))
	}
	return func(next endpoint.Endpoint) endpoint.Endpoint {
		return func(ctx context.Context, req any) (any, error) {
			ctx, span := tracer.Start(ctx, operation, start...)
			defer span.End()
			resp, err := next(ctx, req)
			if err != nil {
				recordError(ctx, span, err)
			}
			return resp, err
		}
	}
}

func recordError(ctx context.Context, span trace.Span, err error) {
	if !span.IsRecording() {
		return
	}
	span.RecordError(err)
	span.SetStatus(codes.Error, err.Error())
	span.SetAttributes(OutcomeKey.String(outcome.Default(ctx, err).String()))
}

// Event records a resilience decision as an event on the span in ctx,
// named name (by convention "switchyard.<middleware>.<decision>") with the
// attribute reason=reason followed by attrs. It does nothing, and does not
// allocate, when the span is not recording. Safe for concurrent use.
func Event(ctx context.Context, name, reason string, attrs ...attribute.KeyValue) {
	span := trace.SpanFromContext(ctx)
	if !span.IsRecording() {
		return
	}
	kv := make([]attribute.KeyValue, 0, len(attrs)+1)
	kv = append(kv, ReasonKey.String(reason))
	kv = append(kv, attrs...)
	span.AddEvent(name, trace.WithAttributes(kv...))
}
