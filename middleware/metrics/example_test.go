package metrics_test

import (
	"bufio"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"time"

	"github.com/go-kit/kit/endpoint"

	"github.com/switchyard/switchyard/balancer"
	"github.com/switchyard/switchyard/discovery"
	"github.com/switchyard/switchyard/middleware/metrics"
)

// Instruments on a private Prometheus registry, an instrumented endpoint,
// and a scrape of /metrics.
func Example() {
	prom, err := metrics.NewPrometheus(metrics.PrometheusConfig{OmitRuntimeMetrics: true})
	if err != nil {
		panic(err)
	}
	defer prom.Shutdown(context.Background())
	m, err := metrics.New(metrics.Config{MeterProvider: prom.MeterProvider()})
	if err != nil {
		panic(err)
	}

	get := m.Operation("catalog.get").Endpoint(func(_ context.Context, req any) (any, error) {
		if req == "missing" {
			return nil, notFound{}
		}
		return "product", nil
	})
	for _, req := range []string{"a", "b", "missing"} {
		get(context.Background(), req)
	}

	mux := http.NewServeMux()
	mux.Handle("GET /metrics", prom.Handler())
	srv := httptest.NewServer(mux)
	defer srv.Close()
	resp, err := http.Get(srv.URL + "/metrics")
	if err != nil {
		panic(err)
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "switchyard_requests_total") || strings.HasPrefix(line, "switchyard_errors_total") ||
			strings.HasPrefix(line, "switchyard_request_duration_seconds_count") {
			fmt.Println(line)
		}
	}
	// Output:
	// switchyard_errors_total{operation="catalog.get",outcome="caller_fault"} 1
	// switchyard_request_duration_seconds_count{operation="catalog.get",outcome="caller_fault"} 1
	// switchyard_request_duration_seconds_count{operation="catalog.get",outcome="success"} 2
	// switchyard_requests_total{operation="catalog.get"} 3
}

type notFound struct{}

func (notFound) Error() string   { return "not found" }
func (notFound) StatusCode() int { return http.StatusNotFound }

// The hook methods plug into the other middleware's callbacks: directly
// where the shapes match (the balancer's outlier hooks), through a
// one-line closure elsewhere.
func ExampleMetrics_OutlierEjected() {
	prom, _ := metrics.NewPrometheus(metrics.PrometheusConfig{OmitRuntimeMetrics: true})
	defer prom.Shutdown(context.Background())
	m, _ := metrics.New(metrics.Config{MeterProvider: prom.MeterProvider()})

	cfg := balancer.OutlierConfig{OnEject: m.OutlierEjected, OnRestore: m.OutlierRestored}
	// A breaker's hook that reports states by name:
	onStateChange := func(name string, from, to fmt.Stringer) { m.BreakerStateChanged(name, to.String()) }

	cfg.OnEject(discovery.Instance{ID: "users-1", Service: "users"}, balancer.ReasonConsecutive, 30*time.Second)
	onStateChange("users", state("closed"), state("open"))

	rec := httptest.NewRecorder()
	prom.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	for _, line := range strings.Split(rec.Body.String(), "\n") {
		if strings.HasPrefix(line, "switchyard_") {
			fmt.Println(line)
		}
	}
	// Output:
	// switchyard_breaker_state{breaker="users"} 2
	// switchyard_outlier_ejections_total{instance="users-1",reason="consecutive_failures",service="users"} 1
}

type state string

func (s state) String() string { return string(s) }

// Order matters: the first middleware is the outermost, so here the
// metrics see the retried call once, with its final outcome.
func ExampleMetrics_Endpoint() {
	prom, _ := metrics.NewPrometheus(metrics.PrometheusConfig{OmitRuntimeMetrics: true})
	defer prom.Shutdown(context.Background())
	m, _ := metrics.New(metrics.Config{MeterProvider: prom.MeterProvider()})

	attempts := 0
	retryOnce := func(next endpoint.Endpoint) endpoint.Endpoint {
		return func(ctx context.Context, req any) (any, error) {
			if resp, err := next(ctx, req); err == nil {
				return resp, nil
			}
			m.Retried("orders.create")
			return next(ctx, req)
		}
	}
	ep := endpoint.Chain(m.Operation("orders.create").Endpoint, retryOnce)(func(context.Context, any) (any, error) {
		attempts++
		if attempts == 1 {
			return nil, fmt.Errorf("connection reset")
		}
		return "created", nil
	})
	resp, _ := ep(context.Background(), nil)
	fmt.Println(resp, "after", attempts, "attempts")

	rec := httptest.NewRecorder()
	prom.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	for _, line := range strings.Split(rec.Body.String(), "\n") {
		if strings.HasPrefix(line, "switchyard_requests_total") || strings.HasPrefix(line, "switchyard_retries_total") ||
			strings.HasPrefix(line, "switchyard_errors_total") {
			fmt.Println(line)
		}
	}
	// Output:
	// created after 2 attempts
	// switchyard_requests_total{operation="orders.create"} 1
	// switchyard_retries_total{operation="orders.create"} 1
}
