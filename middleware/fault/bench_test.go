package fault_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/go-kit/kit/endpoint"

	"github.com/switchyard/switchyard/middleware/fault"
)

// The injectors are enabled but never fire (0.001% abort with a draw that
// always misses), so the numbers are the cost of deciding, on a no-op
// endpoint.
func BenchmarkMiddleware(b *testing.B) {
	inj := withRand(mustNew(b, fault.Config{AbortPercent: 0.001}), func() float64 { return 0.5 })
	ep := inj.Endpoint(endpoint.Nop)
	ctx := context.Background()
	b.Run("serial", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			ep(ctx, nil)
		}
	})
	b.Run("parallel", func(b *testing.B) {
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				ep(ctx, nil)
			}
		})
	})
	real := mustNew(b, fault.Config{AbortPercent: 0.001})
	ep2 := real.Endpoint(endpoint.Nop)
	b.Run("real-rand/parallel", func(b *testing.B) {
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				ep2(ctx, nil)
			}
		})
	})
}

func BenchmarkHandler(b *testing.B) {
	inj := mustNew(b, fault.Config{AbortPercent: 0.001, Headers: true})
	h := inj.Handler(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
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
