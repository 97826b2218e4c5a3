// Package tracing puts OpenTelemetry spans around go-kit endpoints and HTTP
// handlers and carries W3C trace context between services.
//
// A [Tracer], built by [New] from a [Config] (zero value: the global
// provider, W3C propagation, client spans), has the faces every Switchyard
// middleware has. [Tracer.Operation] binds an operation name and returns a
// cheap Tracer whose spans carry it. [Tracer.Endpoint] is go-kit endpoint
// middleware that opens a span of [Config.Kind] (client unless told
// otherwise; use one Tracer per kind) per call and records a returned
// error on it. [Tracer.Handler] wraps an [net/http.Handler]: it extracts
// the caller's trace context and baggage from the request headers and
// opens a server span, named after the matched route when no operation is
// bound. [Tracer.Transport] wraps an [net/http.RoundTripper]: it opens a
// client span and injects the context into the outgoing headers.
// [Tracer.HTTPToContext] and [Tracer.ContextToHTTP] are the same extraction
// and injection as go-kit request functions, for go-kit's transport/http
// ServerBefore and ClientBefore.
//
//	tr, err := tracing.New(tracing.Config{})
//	ep = tr.Operation("users.get").Endpoint(ep)
//	h = tr.Handler(mux)
//	client := &http.Client{Transport: tr.Transport(nil)}
//
// Every resilience decision elsewhere in Switchyard (a retry, a hedge, a
// breaker trip, a shed request) is recorded with [Event] as a span event
// named "switchyard.<middleware>.<decision>" with a "reason" attribute, on
// whatever span the context carries.
//
// Spans come from a [go.opentelemetry.io/otel/trace.TracerProvider], by
// default the global one ([go.opentelemetry.io/otel.GetTracerProvider]), so
// an application that never installs an SDK pays only for the no-op
// provider. The propagator defaults to W3C TraceContext plus Baggage,
// regardless of the global propagator, so that two Switchyard services
// always agree on the wire format.
//
// The package is written directly on the OpenTelemetry API rather than on
// otelhttp: the few semantic-convention attributes it sets are listed on
// each method, and the library keeps one fewer dependency.
//
// Order: put tracing outermost (first in the chain) so that the other
// middleware's events and the logger's trace IDs land on its span.
package tracing
