package ratelimit_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"
	"time"

	"github.com/go-kit/kit/endpoint"
	"golang.org/x/time/rate"

	"github.com/switchyard/switchyard/middleware/ratelimit"
)

// The limiters admit everything here (rate.Inf), so the numbers are the
// cost of the check itself on a no-op endpoint.
func BenchmarkMiddleware(b *testing.B) {
	ctx := context.Background()
	keys := make([]any, 1024)
	for i := range keys {
		keys[i] = "user-" + strconv.Itoa(i)
	}
	keyOf := func(_ context.Context, r any) string { return r.(string) }
	for _, tc := range []struct {
		name string
		ep   func() endpoint.Endpoint
	}{
		{"global", func() endpoint.Endpoint {
			return newLimiter(b, rate.Inf, 1, ratelimit.Config{}).Endpoint(endpoint.Nop)
		}},
		{"perkey", func() endpoint.Endpoint {
			return newLimiter(b, rate.Inf, 1, ratelimit.Config{Key: keyOf}).Endpoint(endpoint.Nop)
		}},
		{"global-limited", func() endpoint.Endpoint {
			return newLimiter(b, 1e-9, 1, ratelimit.Config{}).Endpoint(endpoint.Nop)
		}},
	} {
		b.Run(tc.name+"/serial", func(b *testing.B) {
			ep := tc.ep()
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				i++
				ep(ctx, keys[i&1023])
			}
		})
		b.Run(tc.name+"/parallel", func(b *testing.B) {
			ep := tc.ep()
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				i := 0
				for pb.Next() {
					i++
					ep(ctx, keys[i&1023])
				}
			})
		})
	}
}

func BenchmarkHandler(b *testing.B) {
	h := newLimiter(b, rate.Inf, 1, ratelimit.Config{HTTPKey: ratelimit.RemoteIP}).Handler(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
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

// discardWriter keeps one header map and drops the body, so that a
// benchmark of an answer measures the answer, not a growing recorder.
type discardWriter struct{ h http.Header }

func (w *discardWriter) Header() http.Header         { return w.h }
func (w *discardWriter) Write(p []byte) (int, error) { return len(p), nil }
func (w *discardWriter) WriteHeader(int)             {}

// BenchmarkHandlerRejected is the cost of a 429 answer: the limiter is
// empty after the first request, so every other one is refused.
func BenchmarkHandlerRejected(b *testing.B) {
	h := newLimiter(b, rate.Every(time.Hour), 1, ratelimit.Config{}).Handler(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	req := httptest.NewRequest("GET", "/", nil)
	w := &discardWriter{h: http.Header{}}
	h.ServeHTTP(w, req)
	b.ReportAllocs()
	for b.Loop() {
		h.ServeHTTP(w, req)
	}
}
