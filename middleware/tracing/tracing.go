package tracing

import (
	"context"
	"errors"
	"fmt"
	"slices"

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

// ErrConfig is wrapped by the error [New] returns for an invalid [Config].
var ErrConfig = errors.New("tracing: invalid configuration")

// Config configures a [Tracer]. The zero value is valid: every field's
// zero value is the default written beside it.
type Config struct {
	// TracerProvider is where spans come from. Nil means the global
	// provider at the time of [New] (otel.GetTracerProvider), which follows
	// a later otel.SetTracerProvider.
	TracerProvider trace.TracerProvider
	// Propagator is how trace context travels in HTTP headers. Nil means
	// [DefaultPropagator], whatever the global propagator, so that two
	// Switchyard services always agree on the wire format.
	Propagator propagation.TextMapPropagator
	// Attributes are added to every span the Tracer starts, for example the
	// peer service's name. Default none.
	Attributes []attribute.KeyValue
	// Kind is the kind of the spans [Tracer.Endpoint] opens:
	// trace.SpanKindClient around a call to another service,
	// trace.SpanKindServer around the serving side of a go-kit endpoint
	// (whose caller's span [Tracer.HTTPToContext] put in the context), or
	// Internal, Producer or Consumer. Zero (trace.SpanKindUnspecified)
	// means trace.SpanKindClient. [Tracer.Handler] always opens server
	// spans and [Tracer.Transport] client spans, whatever Kind says.
	Kind trace.SpanKind
}

// DefaultPropagator returns the propagator used unless [Config.Propagator]
// says otherwise: W3C TraceContext followed by W3C Baggage.
func DefaultPropagator() propagation.TextMapPropagator {
	return propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{})
}

// Tracer puts spans around endpoints, handlers and outgoing requests and
// carries trace context in HTTP headers. Create it with [New] and bind an
// operation name with [Tracer.Operation]; the zero value is not usable.
// A Tracer is immutable and safe for concurrent use.
type Tracer struct {
	tracer trace.Tracer
	prop   propagation.TextMapPropagator
	attrs  []attribute.KeyValue
	// noop: the provider is the API's no-op provider, so the middleware
	// skip span creation entirely: a no-op Start still stores a span in a
	// new context, which costs an allocation per call.
	noop  bool
	start []trace.SpanStartOption // of Endpoint spans: kind and attributes
	op    string
}

// New returns a Tracer configured by cfg, or an error wrapping [ErrConfig]
// when cfg.Kind is not a span kind.
func New(cfg Config) (*Tracer, error) {
	if cfg.Kind < trace.SpanKindUnspecified || cfg.Kind > trace.SpanKindConsumer {
		return nil, fmt.Errorf("tracing: %w: unknown span kind %d", ErrConfig, int(cfg.Kind))
	}
	tp := cfg.TracerProvider
	if tp == nil {
		tp = otel.GetTracerProvider()
	}
	prop := cfg.Propagator
	if prop == nil {
		prop = DefaultPropagator()
	}
	kind := cfg.Kind
	if kind == trace.SpanKindUnspecified {
		kind = trace.SpanKindClient
	}
	t := &Tracer{tracer: tp.Tracer(ScopeName), prop: prop, attrs: slices.Clone(cfg.Attributes)}
	_, t.noop = tp.(noop.TracerProvider)
	t.start = []trace.SpanStartOption{trace.WithSpanKind(kind)}
	if len(t.attrs) > 0 {
		t.start = append(t.start, trace.WithAttributes(t.attrs...))
	}
	return t, nil
}

// Operation returns a Tracer that shares t's configuration and names its
// spans operation: [Tracer.Endpoint]'s, [Tracer.Handler]'s (instead of the
// method and route) and [Tracer.Transport]'s (instead of the method). It
// is cheap (one small allocation) and meant to be called once per
// operation when the middleware is built, not per call.
func (t *Tracer) Operation(operation string) *Tracer {
	c := *t
	c.op = operation
	return &c
}

// Endpoint is endpoint middleware that runs each call in a span of
// [Config.Kind] named after [Tracer.Operation]'s name (empty on the Tracer
// [New] returns: bind a name first), a child of the span in the call's
// context. A returned error is recorded on the span, which ends with
// status Error; the error's [outcome.Class] (per [outcome.Default]) is set
// as the attribute "switchyard.outcome".
//
// With the no-op provider from go.opentelemetry.io/otel/trace/noop it
// returns next unchanged. The endpoint is safe for concurrent use.
func (t *Tracer) Endpoint(next endpoint.Endpoint) endpoint.Endpoint {
	if t.noop {
		return next
	}
	tracer, op, start := t.tracer, t.op, t.start
	return func(ctx context.Context, req any) (any, error) {
		ctx, span := tracer.Start(ctx, op, start...)
		defer span.End()
		resp, err := next(ctx, req)
		if err != nil {
			recordError(ctx, span, err)
		}
		return resp, err
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
// named name (by convention "switchyard.<middleware>.<decision>", see
// [EventPrefix]) with the attribute reason=reason followed by attrs. It
// does nothing, and does not allocate, when the span is not recording.
// Every Switchyard middleware records its decisions with it; a middleware
// of your own should too, so that all decisions read alike on a trace.
// Safe for concurrent use.
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
