package deadline_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/switchyard/switchyard/middleware/deadline"
)

func noop(context.Context, any) (any, error) { return nil, nil }

func BenchmarkMiddleware(b *testing.B) {
	ep := mustDeadline(deadline.Config{}).Endpoint(noop)
	withDeadline, cancel := context.WithTimeout(context.Background(), time.Hour)
	defer cancel()
	for _, c := range []struct {
		name string
		ctx  context.Context
	}{{"no-deadline", context.Background()}, {"deadline", withDeadline}} {
		b.Run(c.name+"/serial", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				_, _ = ep(c.ctx, nil)
			}
		})
		b.Run(c.name+"/parallel", func(b *testing.B) {
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					_, _ = ep(c.ctx, nil)
				}
			})
		})
	}
}

// nopWriter is a ResponseWriter that discards everything, so the
// benchmark measures the wrapper and not httptest's recorder.
type nopWriter struct{ h http.Header }

func (w *nopWriter) Header() http.Header         { return w.h }
func (w *nopWriter) Write(p []byte) (int, error) { return len(p), nil }
func (w *nopWriter) WriteHeader(int)             {}

func BenchmarkHandler(b *testing.B) {
	h := mustDeadline(deadline.Config{}).Handler(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(204) }))
	for _, c := range []struct{ name, header string }{{"no-header", ""}, {"header", "5000"}} {
		req := httptest.NewRequest(http.MethodGet, "/", nil)
		if c.header != "" {
			req.Header.Set(deadline.Header, c.header)
		}
		b.Run(c.name+"/serial", func(b *testing.B) {
			b.ReportAllocs()
			w := &nopWriter{h: make(http.Header)}
			for b.Loop() {
				h.ServeHTTP(w, req)
			}
		})
		b.Run(c.name+"/parallel", func(b *testing.B) {
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				w := &nopWriter{h: make(http.Header)}
				for pb.Next() {
					h.ServeHTTP(w, req)
				}
			})
		})
	}
}

type nopRT struct{}

func (nopRT) RoundTrip(r *http.Request) (*http.Response, error) {
	return &http.Response{StatusCode: 204, Body: http.NoBody, Request: r}, nil
}

func BenchmarkTransport(b *testing.B) {
	rt := mustDeadline(deadline.Config{}).Transport(nopRT{})
	ctx, cancel := context.WithTimeout(context.Background(), time.Hour)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://upstream/", nil)
	b.Run("serial", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			_, _ = rt.RoundTrip(req)
		}
	})
	b.Run("parallel", func(b *testing.B) {
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				_, _ = rt.RoundTrip(req)
			}
		})
	})
}
