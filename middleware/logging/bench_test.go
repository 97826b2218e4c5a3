package logging_test

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/switchyard/switchyard/middleware/logging"
)

func BenchmarkHandler(b *testing.B) {
	for _, c := range []struct {
		name   string
		logger *slog.Logger
	}{
		{"discard", slog.New(slog.DiscardHandler)},
		{"json", slog.New(slog.NewJSONHandler(discard{}, nil))},
	} {
		h := newLogger(b, logging.Config{Logger: c.logger}).Handler(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
		b.Run(c.name, func(b *testing.B) {
			req := httptest.NewRequest(http.MethodGet, "/x?q=1&token=abc", nil)
			w := httptest.NewRecorder()
			b.ReportAllocs()
			for b.Loop() {
				h.ServeHTTP(w, req)
			}
		})
		b.Run(c.name+"/parallel", func(b *testing.B) {
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				req := httptest.NewRequest(http.MethodGet, "/x?q=1&token=abc", nil)
				w := httptest.NewRecorder()
				for pb.Next() {
					h.ServeHTTP(w, req)
				}
			})
		})
	}
}

func BenchmarkEndpoint(b *testing.B) {
	ep := newLogger(b, logging.Config{Logger: slog.New(slog.NewJSONHandler(discard{}, nil))}).Operation("op").Endpoint(func(context.Context, any) (any, error) { return nil, nil })
	ctx := context.Background()
	b.Run("json", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			ep(ctx, nil)
		}
	})
	b.Run("json/parallel", func(b *testing.B) {
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				ep(ctx, nil)
			}
		})
	})
}

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }
