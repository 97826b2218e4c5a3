package tracing_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"

	"go.opentelemetry.io/otel"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"

	"github.com/go-kit/kit/endpoint"

	"github.com/switchyard/switchyard/middleware/tracing"
)

func nop(context.Context, any) (any, error) { return nil, nil }

func providers() []struct {
	name string
	tp   trace.TracerProvider
} {
	return []struct {
		name string
		tp   trace.TracerProvider
	}{
		{"noop", noop.NewTracerProvider()},
		// The global provider before any SDK is installed: a delegating
		// no-op that still stores a span in the context.
		{"global-unset", otel.GetTracerProvider()},
		// A real SDK that samples nothing.
		{"sdk-never-sample", sdktrace.NewTracerProvider(sdktrace.WithSampler(sdktrace.NeverSample()))},
		// A real SDK that records every span and exports nowhere.
		{"sdk-always-sample", sdktrace.NewTracerProvider(sdktrace.WithSampler(sdktrace.AlwaysSample()))},
	}
}

func BenchmarkClient(b *testing.B) {
	for _, p := range providers() {
		ep := tracer(b, p.tp).Operation("bench").Endpoint(endpoint.Endpoint(nop))
		ctx := context.Background()
		b.Run(p.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				ep(ctx, nil)
			}
		})
		b.Run(p.name+"/parallel", func(b *testing.B) {
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					ep(ctx, nil)
				}
			})
		})
	}
}

func BenchmarkEvent(b *testing.B) {
	tp := sdktrace.NewTracerProvider()
	recording, span := tp.Tracer("b").Start(context.Background(), "s")
	defer span.End()
	for _, c := range []struct {
		name string
		ctx  context.Context
	}{{"no-span", context.Background()}, {"recording", recording}} {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				tracing.Event(c.ctx, "switchyard.retry.attempt", "server_failure")
			}
		})
	}
	b.Run("no-span/parallel", func(b *testing.B) {
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				tracing.Event(context.Background(), "switchyard.retry.attempt", "server_failure")
			}
		})
	})
}

// BenchmarkHandler measures the wrapper without a network: the recorder
// and request are reused.
func BenchmarkHandler(b *testing.B) {
	for _, p := range providers() {
		h := tracer(b, p.tp).Operation("bench").Handler(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
		b.Run(p.name, func(b *testing.B) {
			req := httptest.NewRequest(http.MethodGet, "/x", nil)
			w := httptest.NewRecorder()
			b.ReportAllocs()
			for b.Loop() {
				h.ServeHTTP(w, req)
			}
		})
		b.Run(p.name+"/parallel", func(b *testing.B) {
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				req := httptest.NewRequest(http.MethodGet, "/x", nil)
				w := httptest.NewRecorder()
				for pb.Next() {
					h.ServeHTTP(w, req)
				}
			})
		})
	}
}
