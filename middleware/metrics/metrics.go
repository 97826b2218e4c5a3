package metrics

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-kit/kit/endpoint"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	metricnoop "go.opentelemetry.io/otel/metric/noop"

	"github.com/switchyard/switchyard/discovery"
	"github.com/switchyard/switchyard/outcome"
)

// ScopeName is the instrumentation scope of the meter [New] uses.
const ScopeName = "github.com/switchyard/switchyard/middleware/metrics"

// Attribute keys used on the instruments.
const (
	OperationKey = attribute.Key("operation")
	OutcomeKey   = attribute.Key("outcome")
	BreakerKey   = attribute.Key("breaker")
	ServiceKey   = attribute.Key("service")
	InstanceKey  = attribute.Key("instance")
	ReasonKey    = attribute.Key("reason")
	StateKey     = attribute.Key("state")
)

// DefaultBuckets are the duration histogram's bucket boundaries in
// seconds, from 0.5 ms to 10 s: fine where service calls usually land, and
// coarse where only timeouts live.
var DefaultBuckets = []float64{0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10}

// Breaker state values recorded by [Metrics.BreakerStateChanged].
const (
	BreakerClosed   = 0
	BreakerHalfOpen = 1
	BreakerOpen     = 2
	BreakerUnknown  = -1
)

// ErrInstrument is wrapped by the error [New] returns when the meter
// refuses to create an instrument.
var ErrInstrument = errors.New("metrics: cannot create instrument")

// ErrConfig is wrapped by the error [New] returns for an invalid [Config].
var ErrConfig = errors.New("metrics: invalid configuration")

// Config configures [New]. The zero value is valid: every field's zero
// value is the default written beside it.
type Config struct {
	// MeterProvider is where the instruments are created. Nil means the
	// global provider (otel.GetMeterProvider), which follows a later
	// otel.SetMeterProvider. Use [Prometheus.MeterProvider] to expose the
	// metrics at /metrics.
	MeterProvider metric.MeterProvider
	// Classifier sorts call results into outcomes. Nil means
	// [outcome.Default], the rule the breaker, retry and outlier detection
	// use; replace it only together with theirs.
	Classifier outcome.Classifier
	// Buckets are the duration histogram's boundaries, in seconds,
	// strictly ascending (anything else is an error from [New]). Nil means
	// [DefaultBuckets].
	Buckets []float64
}

// Metrics holds the instruments and is the package's middleware. Create
// it with [New]; the zero value is not usable. [Metrics.Operation] returns
// a cheap Metrics bound to an operation name, which [Metrics.Endpoint] and
// [Metrics.Handler] record under. All methods are safe for concurrent
// use. The hot paths (Endpoint, and Handler with a bound operation) use
// attribute sets computed when the middleware is built and do not
// allocate per call beyond what the SDK does.
type Metrics struct {
	*instruments
	op   string
	sets *opSets // of op; nil on the Metrics New returns
}

// instruments are shared by a Metrics and those its Operation returns.
type instruments struct {
	meter    metric.Meter
	noop     bool // the provider is the API's no-op: Endpoint and Handler add nothing
	classify outcome.Classifier
	now      func() time.Time // time.Now; tests set it through export_test.go

	requests  metric.Int64Counter
	errors    metric.Int64Counter
	duration  metric.Float64Histogram
	inflight  metric.Int64UpDownCounter
	breaker   metric.Int64Gauge
	retries   metric.Int64Counter
	exhausted metric.Int64Counter
	shed      metric.Int64Counter
	ejections metric.Int64Counter
	restores  metric.Int64Counter
	pool      metric.Int64ObservableGauge

	// hooks caches the attribute options of the hook methods and of
	// Handler with an empty route. It is copy-on-write: lookups read the
	// current map without locking or allocating; a new name copies it.
	// Entries are never removed; their number is bounded by the names the
	// program uses (breakers, operations, routes, instances seen).
	hooks   atomic.Pointer[map[hookKey]*hookEntry]
	hooksMu sync.Mutex // serialises the copy-and-store of hooks
}

// hookKey identifies a cached attribute set: the kind of hook and up to
// three attribute values.
type hookKey struct {
	kind    byte
	a, b, c string
}

type hookEntry struct {
	add []metric.AddOption
	rec []metric.RecordOption
	ops *opSets // for routes
}

func (m *instruments) lookup(k hookKey, build func() *hookEntry) *hookEntry {
	if e, ok := (*m.hooks.Load())[k]; ok {
		return e
	}
	m.hooksMu.Lock()
	defer m.hooksMu.Unlock()
	old := *m.hooks.Load()
	if e, ok := old[k]; ok {
		return e
	}
	e := build()
	next := make(map[hookKey]*hookEntry, len(old)+1)
	for k, v := range old {
		next[k] = v
	}
	next[k] = e
	m.hooks.Store(&next)
	return e
}

func setEntry(attrs ...attribute.KeyValue) func() *hookEntry {
	return func() *hookEntry {
		o := metric.WithAttributeSet(attribute.NewSet(attrs...))
		return &hookEntry{add: []metric.AddOption{o}, rec: []metric.RecordOption{o}}
	}
}

// New creates the instruments on the provider's meter. It fails with an
// error wrapping [ErrConfig] when cfg is invalid, and with one wrapping
// [ErrInstrument] when the meter refuses an instrument.
func New(cfg Config) (*Metrics, error) {
	buckets := cfg.Buckets
	if buckets == nil {
		buckets = DefaultBuckets
	}
	for i := 1; i < len(buckets); i++ {
		if !(buckets[i] > buckets[i-1]) {
			return nil, fmt.Errorf("metrics: %w: buckets %v are not strictly ascending", ErrConfig, buckets)
		}
	}
	mp := cfg.MeterProvider
	if mp == nil {
		mp = otel.GetMeterProvider()
	}
	m := &instruments{meter: mp.Meter(ScopeName), classify: outcome.Or(cfg.Classifier), now: time.Now}
	_, m.noop = mp.(metricnoop.MeterProvider)
	m.hooks.Store(&map[hookKey]*hookEntry{})
	var errs []error
	check := func(err error) {
		if err != nil {
			errs = append(errs, err)
		}
	}
	var err error
	m.requests, err = m.meter.Int64Counter("switchyard.requests",
		metric.WithDescription("Calls and requests handled, by operation."), metric.WithUnit("{request}"))
	check(err)
	m.errors, err = m.meter.Int64Counter("switchyard.errors",
		metric.WithDescription("Calls and requests that did not succeed, by operation and outcome class."), metric.WithUnit("{request}"))
	check(err)
	m.duration, err = m.meter.Float64Histogram("switchyard.request.duration",
		metric.WithDescription("Duration of calls and requests, by operation and outcome class."),
		metric.WithUnit("s"), metric.WithExplicitBucketBoundaries(buckets...))
	check(err)
	m.inflight, err = m.meter.Int64UpDownCounter("switchyard.requests.in_flight",
		metric.WithDescription("Calls and requests in progress, by operation."), metric.WithUnit("{request}"))
	check(err)
	m.breaker, err = m.meter.Int64Gauge("switchyard.breaker.state",
		metric.WithDescription("Circuit breaker state: 0 closed, 1 half-open, 2 open."))
	check(err)
	m.retries, err = m.meter.Int64Counter("switchyard.retries",
		metric.WithDescription("Retry attempts made (not counting first attempts), by operation."), metric.WithUnit("{attempt}"))
	check(err)
	m.exhausted, err = m.meter.Int64Counter("switchyard.retry.budget_exhausted",
		metric.WithDescription("Retries or hedges not made because the retry budget was empty, by operation."), metric.WithUnit("{attempt}"))
	check(err)
	m.shed, err = m.meter.Int64Counter("switchyard.shed",
		metric.WithDescription("Requests rejected by a limiter or breaker before being made, by operation and reason."), metric.WithUnit("{request}"))
	check(err)
	m.ejections, err = m.meter.Int64Counter("switchyard.outlier.ejections",
		metric.WithDescription("Outlier-detection ejections, by service, instance and reason."), metric.WithUnit("{ejection}"))
	check(err)
	m.restores, err = m.meter.Int64Counter("switchyard.outlier.restorations",
		metric.WithDescription("Ejected instances returned to the pool, by service and instance."), metric.WithUnit("{ejection}"))
	check(err)
	m.pool, err = m.meter.Int64ObservableGauge("switchyard.pool.size",
		metric.WithDescription("Instances in a balancer's pool: state=member for all, state=eligible for those not ejected."), metric.WithUnit("{instance}"))
	check(err)
	if len(errs) > 0 {
		return nil, fmt.Errorf("%w: %w", ErrInstrument, errors.Join(errs...))
	}
	return &Metrics{instruments: m}, nil
}

// Operation returns a Metrics that shares m's instruments and records
// [Metrics.Endpoint] calls and [Metrics.Handler] requests under operation.
// It computes the operation's attribute sets once, so call it when the
// middleware is built, not per call.
func (m *Metrics) Operation(operation string) *Metrics {
	return &Metrics{instruments: m.instruments, op: operation, sets: newOpSets(operation)}
}

// opSets are the precomputed measurement options of one operation.
type opSets struct {
	base []metric.AddOption                        // {operation}
	errs [outcome.NumClasses][]metric.AddOption    // {operation, outcome}
	durs [outcome.NumClasses][]metric.RecordOption // {operation, outcome}
}

func newOpSets(operation string) *opSets {
	s := &opSets{base: []metric.AddOption{metric.WithAttributeSet(attribute.NewSet(OperationKey.String(operation)))}}
	for c := range outcome.Class(outcome.NumClasses) {
		set := metric.WithAttributeSet(attribute.NewSet(OperationKey.String(operation), OutcomeKey.String(c.String())))
		s.errs[c] = []metric.AddOption{set}
		s.durs[c] = []metric.RecordOption{set}
	}
	return s
}

// record counts a finished call of class c that took d seconds.
func (m *instruments) record(ctx context.Context, s *opSets, d float64, c outcome.Class) {
	m.requests.Add(ctx, 1, s.base...)
	if int(c) >= outcome.NumClasses {
		c = outcome.ServerFailure // a custom classifier's unknown class
	}
	if c != outcome.Success {
		m.errors.Add(ctx, 1, s.errs[c]...)
	}
	m.duration.Record(ctx, d, s.durs[c]...)
}

// Endpoint is endpoint middleware that counts and times each call under
// the operation bound with [Metrics.Operation] ("" on the Metrics [New]
// returns: bind a name first): in-flight while it runs, then requests,
// errors by outcome class and the duration histogram. With the no-op
// provider from go.opentelemetry.io/otel/metric/noop it returns next
// unchanged. The context is passed to the instruments, so an SDK may
// attach exemplars from the current span.
func (m *Metrics) Endpoint(next endpoint.Endpoint) endpoint.Endpoint {
	if m.noop {
		return next
	}
	s := m.sets
	if s == nil {
		s = newOpSets(m.op)
	}
	in := m.instruments
	return func(ctx context.Context, req any) (any, error) {
		in.inflight.Add(ctx, 1, s.base...)
		start := in.now()
		resp, err := next(ctx, req)
		d := in.now().Sub(start).Seconds()
		in.inflight.Add(ctx, -1, s.base...)
		in.record(ctx, s, d, in.classify(ctx, err))
		return resp, err
	}
}

// BreakerStateChanged records that the breaker called name is now in
// state: "closed", "half-open" (also "half_open" or "halfopen") or "open",
// in any case; anything else records [BreakerUnknown]. It suits a
// circuitbreaker OnStateChange hook:
//
//	OnStateChange: func(name string, _, to circuitbreaker.State) { m.BreakerStateChanged(name, to.String()) }
func (m *Metrics) BreakerStateChanged(name, state string) {
	v := int64(BreakerUnknown)
	switch strings.ToLower(state) {
	case "closed":
		v = BreakerClosed
	case "half-open", "half_open", "halfopen":
		v = BreakerHalfOpen
	case "open":
		v = BreakerOpen
	}
	m.breaker.Record(context.Background(), v, m.lookup(hookKey{kind: 'b', a: name}, setEntry(BreakerKey.String(name))).rec...)
}

// Retried counts one retry (an attempt after the first) of operation.
func (m *Metrics) Retried(operation string) {
	m.retries.Add(context.Background(), 1, m.lookup(hookKey{kind: 'o', a: operation}, setEntry(OperationKey.String(operation))).add...)
}

// BudgetExhausted counts one retry or hedge of operation that the retry
// budget refused.
func (m *Metrics) BudgetExhausted(operation string) {
	m.exhausted.Add(context.Background(), 1, m.lookup(hookKey{kind: 'o', a: operation}, setEntry(OperationKey.String(operation))).add...)
}

// Shed counts one request of operation rejected before it was made, for
// example by a rate limiter ("rate_limited"), a bulkhead ("concurrency")
// or an open breaker ("breaker_open").
func (m *Metrics) Shed(operation, reason string) {
	m.shed.Add(context.Background(), 1, m.lookup(hookKey{kind: 's', a: operation, b: reason},
		setEntry(OperationKey.String(operation), ReasonKey.String(reason))).add...)
}

// Ejected counts one outlier ejection of instanceID from service for
// reason.
func (m *Metrics) Ejected(service, instanceID, reason string) {
	m.ejections.Add(context.Background(), 1, m.lookup(hookKey{kind: 'e', a: service, b: instanceID, c: reason},
		setEntry(ServiceKey.String(service), InstanceKey.String(instanceID), ReasonKey.String(reason))).add...)
}

// Restored counts one return of instanceID to service's pool after an
// ejection.
func (m *Metrics) Restored(service, instanceID string) {
	m.restores.Add(context.Background(), 1, m.lookup(hookKey{kind: 'i', a: service, b: instanceID},
		setEntry(ServiceKey.String(service), InstanceKey.String(instanceID))).add...)
}

// OutlierEjected is [Metrics.Ejected] in the shape of the balancer's
// OutlierConfig.OnEject, so that the method value can be assigned to it:
//
//	balancer.OutlierConfig{OnEject: m.OutlierEjected, OnRestore: m.OutlierRestored}
//
// The ejection's duration is not recorded.
func (m *Metrics) OutlierEjected(inst discovery.Instance, reason string, _ time.Duration) {
	m.Ejected(inst.Service, inst.ID, reason)
}

// OutlierRestored is [Metrics.Restored] in the shape of the balancer's
// OutlierConfig.OnRestore.
func (m *Metrics) OutlierRestored(inst discovery.Instance) {
	m.Restored(inst.Service, inst.ID)
}

// ObservePool reports service's pool size at every collection by calling
// size, which returns how many instances the pool has and how many of them
// are eligible (not ejected); a balancer's Len method has that shape:
//
//	reg, err := m.ObservePool("users", b.Len)
//	defer reg.Unregister()
//
// size is called from the collecting goroutine and must be safe for
// concurrent use. Unregister the registration when the pool goes away.
func (m *Metrics) ObservePool(service string, size func() (members, eligible int)) (metric.Registration, error) {
	member := metric.WithAttributeSet(attribute.NewSet(ServiceKey.String(service), StateKey.String("member")))
	eligible := metric.WithAttributeSet(attribute.NewSet(ServiceKey.String(service), StateKey.String("eligible")))
	return m.meter.RegisterCallback(func(_ context.Context, o metric.Observer) error {
		n, e := size()
		o.ObserveInt64(m.pool, int64(n), member)
		o.ObserveInt64(m.pool, int64(e), eligible)
		return nil
	}, m.pool)
}
