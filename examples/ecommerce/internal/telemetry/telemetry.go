package telemetry

import (
	"context"
	"io"
	"log/slog"

	"github.com/go-kit/kit/endpoint"

	"github.com/switchyard/switchyard/balancer"
	"github.com/switchyard/switchyard/client"
	"github.com/switchyard/switchyard/middleware/circuitbreaker"
	"github.com/switchyard/switchyard/middleware/logging"
	"github.com/switchyard/switchyard/middleware/metrics"
	"github.com/switchyard/switchyard/middleware/retry"
)

// Instruments are a service's metrics: instruments from middleware/metrics
// on a private Prometheus registry, which instance.Run serves at /metrics.
// Create them with [New]; they are safe for concurrent use.
type Instruments struct {
	Prometheus *metrics.Prometheus
	Metrics    *metrics.Metrics
}

// New returns the instruments of service, with Go runtime and process
// metrics included. Shut down their Prometheus when done.
func New(service string) (*Instruments, error) {
	p, err := metrics.NewPrometheus(metrics.PrometheusConfig{ServiceName: service})
	if err != nil {
		return nil, err
	}
	m, err := metrics.New(metrics.Config{MeterProvider: p.MeterProvider()})
	if err != nil {
		_ = p.Shutdown(context.Background())
		return nil, err
	}
	return &Instruments{Prometheus: p, Metrics: m}, nil
}

// ClientConfig returns the client.Config (for client.New, or the shop's
// call.New) that records a client's calls under operation (count, errors,
// latency), its breakers' states, its retries and budget refusals, and its
// outlier ejections.
// Change the other fields of the value it returns as needed; keep its hooks
// when setting the breaker, outlier or retry configuration.
func (t *Instruments) ClientConfig(operation string) client.Config {
	m := t.Metrics
	return client.Config{
		Operation:  operation,
		Middleware: []endpoint.Middleware{m.Operation(operation).Endpoint},
		Breakers: client.Breakers{Config: circuitbreaker.Config{Hooks: circuitbreaker.Hooks{
			OnStateChange: func(name string, _, to circuitbreaker.State) { m.BreakerStateChanged(name, to.String()) },
		}}},
		Outlier: balancer.OutlierConfig{OnEject: m.OutlierEjected, OnRestore: m.OutlierRestored},
		Retry: client.Retry{Config: retry.Config{Hooks: retry.Hooks{
			OnRetry:           func(int, error) { m.Retried(operation) },
			OnBudgetExhausted: func() { m.BudgetExhausted(operation) },
		}}},
	}
}

// NewLogger returns a JSON logger writing to w at Info level, with every
// record tagged service=service and credentials redacted
// (logging.ReplaceAttr).
func NewLogger(w io.Writer, service string) *slog.Logger {
	h := slog.NewJSONHandler(w, &slog.HandlerOptions{ReplaceAttr: logging.ReplaceAttr})
	return slog.New(h).With("service", service)
}
