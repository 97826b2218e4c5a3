package http_test

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	shttp "github.com/switchyard/switchyard/transport/http"
)

var benchBody = []byte(`{"email":"ann@example.com","name":"Ann Example","age":41,"role":"admin"}`)

// BenchmarkDecodeJSON measures the request decoder on a small body.
func BenchmarkDecodeJSON(b *testing.B) {
	b.ReportAllocs()
	b.Run("serial", func(b *testing.B) {
		b.ReportAllocs()
		rd := bytes.NewReader(benchBody)
		r := httptest.NewRequest(http.MethodPost, "/", rd)
		r.Header.Set("Content-Type", "application/json")
		for b.Loop() {
			rd.Reset(benchBody)
			r.Body = io.NopCloser(rd)
			var v createUser
			if err := shttp.DecodeJSON(r, &v); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("parallel", func(b *testing.B) {
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			rd := bytes.NewReader(benchBody)
			r := httptest.NewRequest(http.MethodPost, "/", rd)
			for pb.Next() {
				rd.Reset(benchBody)
				r.Body = io.NopCloser(rd)
				var v createUser
				if err := shttp.DecodeJSON(r, &v); err != nil {
					b.Fatal(err)
				}
			}
		})
	})
}

type discardWriter struct{ h http.Header }

func (w *discardWriter) Header() http.Header         { return w.h }
func (w *discardWriter) Write(p []byte) (int, error) { return len(p), nil }
func (w *discardWriter) WriteHeader(int)             {}

// BenchmarkEncodeJSONResponse measures the response encoder.
func BenchmarkEncodeJSONResponse(b *testing.B) {
	resp := user{ID: "u1", Email: "ann@example.com", Role: "customer"}
	ctx := context.Background()
	b.Run("serial", func(b *testing.B) {
		b.ReportAllocs()
		w := &discardWriter{h: http.Header{}}
		for b.Loop() {
			clear(w.h)
			if err := shttp.EncodeJSONResponse(ctx, w, resp); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("parallel", func(b *testing.B) {
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			w := &discardWriter{h: http.Header{}}
			for pb.Next() {
				clear(w.h)
				if err := shttp.EncodeJSONResponse(ctx, w, resp); err != nil {
					b.Fatal(err)
				}
			}
		})
	})
}
