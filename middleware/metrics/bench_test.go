package metrics_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"

	"go.opentelemetry.io/otel/metric"
	metricnoop "go.opentelemetry.io/otel/metric/noop"

	"github.com/switchyard/switchyard/middleware/metrics"
)

func nop(context.Context, any) (any, error) { return nil, nil }

type provider struct {
	name string
	mp   func(b testing.TB) metric.MeterProvider
}

var providers = []provider{
	{"noop", func(testing.TB) metric.MeterProvider { return metricnoop.NewMeterProvider() }},
	{"prometheus", func(b testing.TB) metric.MeterProvider {
		p, err := metrics.NewPrometheus(metrics.PrometheusConfig{OmitRuntimeMetrics: true})
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { p.Shutdown(context.Background()) })
		return p.MeterProvider()
	}},
}

func newMetrics(b testing.TB, p provider) *metrics.Metrics {
	m, err := metrics.New(metrics.Config{MeterProvider: p.mp(b)})
	if err != nil {
		b.Fatal(err)
	}
	return m
}

func BenchmarkEndpoint(b *testing.B) {
	for _, p := range providers {
		m := newMetrics(b, p)
		ep := m.Operation("bench").Endpoint(nop)
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

func BenchmarkHandler(b *testing.B) {
	m := newMetrics(b, providers[1])
	mux := http.NewServeMux()
	mux.HandleFunc("GET /items/{id}", func(http.ResponseWriter, *http.Request) {})
	for _, h := range []struct {
		name string
		h    http.Handler
	}{
		{"fixed-route", m.Operation("items").Handler(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))},
		{"mux-pattern", m.Handler(mux)},
	} {
		b.Run(h.name, func(b *testing.B) {
			req := httptest.NewRequest(http.MethodGet, "/items/1", nil)
			w := httptest.NewRecorder()
			b.ReportAllocs()
			for b.Loop() {
				h.h.ServeHTTP(w, req)
			}
		})
		b.Run(h.name+"/parallel", func(b *testing.B) {
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				req := httptest.NewRequest(http.MethodGet, "/items/1", nil)
				w := httptest.NewRecorder()
				for pb.Next() {
					h.h.ServeHTTP(w, req)
				}
			})
		})
	}
}

func BenchmarkHooks(b *testing.B) {
	m := newMetrics(b, providers[1])
	b.Run("Retried", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			m.Retried("orders.create")
		}
	})
	b.Run("Retried/parallel", func(b *testing.B) {
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				m.Retried("orders.create")
			}
		})
	})
	b.Run("BreakerStateChanged", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			m.BreakerStateChanged("users", "open")
		}
	})
}
