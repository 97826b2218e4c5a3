package bench

import (
	"context"
	"io"
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

	"github.com/switchyard/switchyard/client"
	"github.com/switchyard/switchyard/discovery"
	"github.com/switchyard/switchyard/discovery/memory"
	"github.com/switchyard/switchyard/middleware/tracing"
)

func nop(context.Context, any) (any, error) { return nil, nil }

// BenchmarkClientChain runs one call through the whole client path on
// no-op instance endpoints, beside the usual go-kit composition, in the
// same run:
//
//   - switchyard: tracing (no-op provider) → deadline → retry with budget →
//     peak-EWMA P2C balancer with outlier detection → per-instance
//     circuit breaker (client.New);
//   - switchyard-globaltracer: the same on the global tracer provider with
//     no SDK installed;
//   - gokit: x/time/rate limiter (not limiting) → gobreaker → lb.Retry(3)
//     over lb.NewRoundRobin.
func BenchmarkClientChain(b *testing.B) {
	ctx := context.Background()
	reg := memory.New()
	defer reg.Close()
	var eps []endpoint.Endpoint
	for i := range 3 {
		addr := "127.0.0.1:" + strconv.Itoa(9000+i)
		if err := reg.Register(ctx, discovery.Instance{ID: addr, Service: "svc", Addr: addr}); err != nil {
			b.Fatal(err)
		}
		eps = append(eps, nop)
	}
	factory := func(discovery.Instance) (endpoint.Endpoint, io.Closer, error) { return nop, nil, nil }
	tracer, err := tracing.New(tracing.Config{TracerProvider: tracenoop.NewTracerProvider()})
	if err != nil {
		b.Fatal(err)
	}
	ours, err := client.New(ctx, reg, "svc", factory, client.Config{Idempotent: true, Tracing: client.Tracing{Tracer: tracer}})
	if err != nil {
		b.Fatal(err)
	}
	defer ours.Close()
	// The same chain on the global tracer provider with no SDK installed,
	// which still creates (non-recording) spans.
	global, err := client.New(ctx, reg, "svc", factory, client.Config{Idempotent: true})
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
	}{{"switchyard", ours.Call}, {"switchyard-globaltracer", global.Call}, {"gokit", kit}} {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := c.ep(ctx, nil); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(c.name+"-parallel", func(b *testing.B) {
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if _, err := c.ep(ctx, nil); err != nil {
						b.Error(err)
						return
					}
				}
			})
		})
	}
}
