package metrics

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/prometheus/otlptranslator"
	otelprom "go.opentelemetry.io/otel/exporters/prometheus"
	"go.opentelemetry.io/otel/metric"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/resource"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
)

// ErrPrometheus is wrapped by the error [NewPrometheus] returns.
var ErrPrometheus = errors.New("metrics: cannot set up the Prometheus exporter")

// PrometheusConfig configures [NewPrometheus]. The zero value is valid:
// every field's zero value is the default written beside it.
type PrometheusConfig struct {
	// ServiceName is the service.name resource attribute, which appears in
	// the target_info series. Empty means the SDK's default
	// ("unknown_service:<program name>", or OTEL_SERVICE_NAME).
	ServiceName string
	// OmitRuntimeMetrics leaves out the Go runtime and process collectors
	// (go_*, process_*). False, the default, includes them.
	OmitRuntimeMetrics bool
}

// Prometheus is an OpenTelemetry MeterProvider whose metrics are served in
// the Prometheus text format from a registry of its own, so that several
// can live in one process (tests, or one per embedded service) without
// colliding in prometheus.DefaultRegisterer. Create it with
// [NewPrometheus] (the zero value is not usable); it is safe for concurrent
// use.
type Prometheus struct {
	registry *prometheus.Registry
	provider *sdkmetric.MeterProvider
	handler  http.Handler
}

// NewPrometheus creates a private registry, an OpenTelemetry Prometheus
// exporter registered with it (metric names translated the Prometheus way:
// dots to underscores, unit and _total suffixes), and a MeterProvider that
// reads through the exporter. Pass [Prometheus.MeterProvider] to [New] as
// [Config.MeterProvider], and serve [Prometheus.Handler] at /metrics.
func NewPrometheus(cfg PrometheusConfig) (*Prometheus, error) {
	reg := prometheus.NewRegistry()
	if !cfg.OmitRuntimeMetrics {
		if err := reg.Register(collectors.NewGoCollector()); err != nil {
			return nil, fmt.Errorf("%w: %w", ErrPrometheus, err)
		}
		if err := reg.Register(collectors.NewProcessCollector(collectors.ProcessCollectorOpts{})); err != nil {
			return nil, fmt.Errorf("%w: %w", ErrPrometheus, err)
		}
	}
	exp, err := otelprom.New(
		otelprom.WithRegisterer(reg),
		otelprom.WithTranslationStrategy(otlptranslator.UnderscoreEscapingWithSuffixes),
		// Every series here is already named switchyard_*; the otel_scope_*
		// labels would only add noise to each one.
		otelprom.WithoutScopeInfo(),
	)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrPrometheus, err)
	}
	res := resource.Default()
	if cfg.ServiceName != "" {
		res, err = resource.Merge(res, resource.NewSchemaless(semconv.ServiceName(cfg.ServiceName)))
		if err != nil {
			return nil, fmt.Errorf("%w: %w", ErrPrometheus, err)
		}
	}
	return &Prometheus{
		registry: reg,
		provider: sdkmetric.NewMeterProvider(sdkmetric.WithReader(exp), sdkmetric.WithResource(res)),
		handler:  promhttp.HandlerFor(reg, promhttp.HandlerOpts{ErrorHandling: promhttp.ContinueOnError}),
	}, nil
}

// MeterProvider returns the provider whose instruments the handler serves.
func (p *Prometheus) MeterProvider() metric.MeterProvider { return p.provider }

// Registry returns the private registry, for registering further
// Prometheus collectors next to the OpenTelemetry ones.
func (p *Prometheus) Registry() *prometheus.Registry { return p.registry }

// Handler returns the handler to serve at /metrics. Each scrape collects
// the current values, running the callbacks of observable instruments
// such as the pool size.
func (p *Prometheus) Handler() http.Handler { return p.handler }

// Shutdown stops the provider; later scrapes serve no OpenTelemetry
// metrics.
func (p *Prometheus) Shutdown(ctx context.Context) error { return p.provider.Shutdown(ctx) }
