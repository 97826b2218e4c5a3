package circuitbreaker_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/go-kit/kit/endpoint"

	"github.com/switchyard/switchyard/middleware/circuitbreaker"
)

func BenchmarkMiddleware(b *testing.B) {
	ctx := context.Background()
	b.Run("closed/serial", func(b *testing.B) {
		ep := newBreaker(b, "bench", circuitbreaker.Config{}).Endpoint(endpoint.Nop)
		b.ReportAllocs()
		for b.Loop() {
			ep(ctx, nil)
		}
	})
	b.Run("closed/parallel", func(b *testing.B) {
		ep := newBreaker(b, "bench", circuitbreaker.Config{}).Endpoint(endpoint.Nop)
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				ep(ctx, nil)
			}
		})
	})
	open := func() endpoint.Endpoint {
		br := newBreaker(b, "bench", circuitbreaker.Config{ConsecutiveFailures: 1, Timeout: 1 << 62})
		br.Execute(ctx, ret(errServer))
		return br.Endpoint(endpoint.Nop)
	}
	b.Run("open-reject/serial", func(b *testing.B) {
		ep := open()
		b.ReportAllocs()
		for b.Loop() {
			ep(ctx, nil)
		}
	})
	b.Run("open-reject/parallel", func(b *testing.B) {
		ep := open()
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				ep(ctx, nil)
			}
		})
	})
}

func BenchmarkGroupMiddleware(b *testing.B) {
	ctx := context.Background()
	keys := []any{"a", "b", "c", "d", "e", "f", "g", "h"}
	key := func(_ context.Context, req any) string { return req.(string) }
	b.Run("serial", func(b *testing.B) {
		ep := newGroup(b, circuitbreaker.GroupConfig{Key: key}).Endpoint(endpoint.Nop)
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			i++
			ep(ctx, keys[i&7])
		}
	})
	b.Run("parallel", func(b *testing.B) {
		ep := newGroup(b, circuitbreaker.GroupConfig{Key: key}).Endpoint(endpoint.Nop)
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			i := 0
			for pb.Next() {
				i++
				ep(ctx, keys[i&7])
			}
		})
	})
}

func BenchmarkHandler(b *testing.B) {
	h := newBreaker(b, "bench", circuitbreaker.Config{}).Handler(
		http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	req := httptest.NewRequest("GET", "/", nil)
	b.Run("serial", func(b *testing.B) {
		w := httptest.NewRecorder()
		b.ReportAllocs()
		for b.Loop() {
			h.ServeHTTP(w, req)
		}
	})
	b.Run("parallel", func(b *testing.B) {
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			w := httptest.NewRecorder()
			for pb.Next() {
				h.ServeHTTP(w, req)
			}
		})
	})
}
