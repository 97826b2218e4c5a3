package http_test

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"
	"time"

	"github.com/go-kit/kit/endpoint"
	kitrl "github.com/go-kit/kit/ratelimit"
	"github.com/go-kit/kit/sd"
	"github.com/go-kit/kit/sd/lb"
	"github.com/sony/gobreaker/v2"
	tracenoop "go.opentelemetry.io/otel/trace/noop"
	"golang.org/x/time/rate"

	"github.com/switchyard/switchyard/discovery"
	"github.com/switchyard/switchyard/discovery/memory"
	"github.com/switchyard/switchyard/middleware/tracing"
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

func noop(context.Context, any) (any, error) { return nil, nil }

// BenchmarkClientChain measures the whole client call path — P2C
// balancer with outlier detection, a breaker per instance, retry with a
// budget, no-op tracing (the no-op provider) — on no-op instance endpoints, beside go-kit's
// lb.Retry(round robin) with a gobreaker breaker and an x/time/rate
// limiter (that does not limit), in the same run.
func BenchmarkClientChain(b *testing.B) {
	ctx := context.Background()
	reg := memory.New()
	defer reg.Close()
	var eps []endpoint.Endpoint
	for i := range 3 {
		addr := "127.0.0.1:" + strconv.Itoa(9000+i)
		_ = reg.Register(ctx, discovery.Instance{ID: addr, Service: "svc", Addr: addr})
		eps = append(eps, noop)
	}
	factory := func(discovery.Instance) (endpoint.Endpoint, io.Closer, error) { return noop, nil, nil }
	ce, err := shttp.NewClientEndpoint(ctx, reg, "svc", factory, shttp.WithIdempotent(),
		shttp.WithTracingOptions(tracing.WithTracerProvider(tracenoop.NewTracerProvider())))
	if err != nil {
		b.Fatal(err)
	}
	defer ce.Close()
	// The same chain on the global tracer provider with no SDK installed,
	// which still creates (non-recording) spans.
	global, err := shttp.NewClientEndpoint(ctx, reg, "svc", factory, shttp.WithIdempotent())
	if err != nil {
		b.Fatal(err)
	}
	defer global.Close()

	cb := gobreaker.NewCircuitBreaker[any](gobreaker.Settings{Name: "svc"})
	breaker := func(next endpoint.Endpoint) endpoint.Endpoint {
		return func(ctx context.Context, req any) (any, error) {
			return cb.Execute(func() (any, error) { return next(ctx, req) })
		}
	}
	limiter := kitrl.NewErroringLimiter(rate.NewLimiter(rate.Inf, 1))
	kit := limiter(breaker(lb.Retry(3, time.Second, lb.NewRoundRobin(sd.FixedEndpointer(eps)))))

	for _, c := range []struct {
		name string
		ep   endpoint.Endpoint
	}{{"switchyard", ce.Call}, {"switchyard-globaltracer", global.Call}, {"gokit", kit}} {
		b.Run(c.name+"/serial", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := c.ep(ctx, nil); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(c.name+"/parallel", func(b *testing.B) {
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if _, err := c.ep(ctx, nil); err != nil {
						b.Fatal(err)
					}
				}
			})
		})
	}
}
