package concurrency_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/go-kit/kit/endpoint"

	"github.com/switchyard/switchyard/middleware/concurrency"
)

func BenchmarkMiddleware(b *testing.B) {
	ctx := context.Background()
	for _, tc := range []struct {
		name string
		l    func() *concurrency.Limiter
	}{
		{"fixed", func() *concurrency.Limiter { return newLimiter(b, concurrency.Config{Limit: 1 << 20}) }},
		{"adaptive", func() *concurrency.Limiter {
			return newLimiter(b, concurrency.Config{Adaptive: concurrency.Adaptive{Initial: 1 << 20, Max: 1 << 20}})
		}},
	} {
		b.Run(tc.name+"/serial", func(b *testing.B) {
			ep := tc.l().Endpoint(endpoint.Nop)
			b.ReportAllocs()
			for b.Loop() {
				ep(ctx, nil)
			}
		})
		b.Run(tc.name+"/parallel", func(b *testing.B) {
			ep := tc.l().Endpoint(endpoint.Nop)
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					ep(ctx, nil)
				}
			})
		})
	}
	b.Run("shed/serial", func(b *testing.B) {
		l := newLimiter(b, concurrency.Config{Limit: 1})
		tok, _ := l.Acquire(ctx)
		defer tok.Release(ctx, nil)
		ep := l.Endpoint(endpoint.Nop)
		b.ReportAllocs()
		for b.Loop() {
			ep(ctx, nil)
		}
	})
}

func BenchmarkHandler(b *testing.B) {
	h := newLimiter(b, concurrency.Config{Limit: 1 << 20}).Handler(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
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
