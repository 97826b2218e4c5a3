package metrics_test

import (
	"context"
	"errors"
	"math"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/switchyard/switchyard/balancer"
	"github.com/switchyard/switchyard/balancer/roundrobin"
	"github.com/switchyard/switchyard/discovery"
	"github.com/switchyard/switchyard/internal/clock"
	"github.com/switchyard/switchyard/middleware/metrics"
	"github.com/switchyard/switchyard/outcome"
)

// The hook methods have the balancer's outlier hook shapes.
var _ = balancer.OutlierConfig{OnEject: (*metrics.Metrics)(nil).OutlierEjected, OnRestore: (*metrics.Metrics)(nil).OutlierRestored}

type statusErr int

func (e statusErr) Error() string   { return http.StatusText(int(e)) }
func (e statusErr) StatusCode() int { return int(e) }

type fixture struct {
	m      *metrics.Metrics
	clock  *clock.Fake
	scrape func(t *testing.T) map[string]*dto.MetricFamily
}

func setup(t *testing.T) *fixture {
	t.Helper()
	p, err := metrics.NewPrometheus(metrics.PrometheusConfig{OmitRuntimeMetrics: true, ServiceName: "test"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Shutdown(context.Background()) })
	fake := clock.NewFake(time.Unix(1_700_000_000, 0))
	m, err := metrics.New(metrics.Config{MeterProvider: p.MeterProvider()})
	if err != nil {
		t.Fatal(err)
	}
	metrics.SetNow(m, fake.Now)
	srv := httptest.NewServer(p.Handler())
	t.Cleanup(srv.Close)
	return &fixture{m: m, clock: fake, scrape: func(t *testing.T) map[string]*dto.MetricFamily {
		t.Helper()
		resp, err := http.Get(srv.URL + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("scrape: %s", resp.Status)
		}
		parser := expfmt.NewTextParser(model.UTF8Validation)
		fams, err := parser.TextToMetricFamilies(resp.Body)
		if err != nil {
			t.Fatalf("parse scrape: %v", err)
		}
		return fams
	}}
}

// find returns the series of family name whose labels include want.
func find(fams map[string]*dto.MetricFamily, name string, want map[string]string) *dto.Metric {
	f := fams[name]
	if f == nil {
		return nil
	}
next:
	for _, m := range f.GetMetric() {
		have := map[string]string{}
		for _, l := range m.GetLabel() {
			have[l.GetName()] = l.GetValue()
		}
		for k, v := range want {
			if have[k] != v {
				continue next
			}
		}
		return m
	}
	return nil
}

func value(t *testing.T, fams map[string]*dto.MetricFamily, name string, labels map[string]string) float64 {
	t.Helper()
	m := find(fams, name, labels)
	if m == nil {
		t.Fatalf("no series %s%v in scrape (families: %v)", name, labels, names(fams))
	}
	switch {
	case m.Counter != nil:
		return m.Counter.GetValue()
	case m.Gauge != nil:
		return m.Gauge.GetValue()
	}
	t.Fatalf("%s is neither counter nor gauge", name)
	return 0
}

func names(fams map[string]*dto.MetricFamily) []string {
	var out []string
	for n := range fams {
		out = append(out, n)
	}
	return out
}

func TestEndpointSeries(t *testing.T) {
	f := setup(t)
	ep := f.m.Operation("catalog.get").Endpoint(func(ctx context.Context, req any) (any, error) {
		f.clock.Advance(20 * time.Millisecond)
		if req == nil {
			return "ok", nil
		}
		return nil, req.(error)
	})
	canceled, cancel := context.WithCancel(context.Background())
	cancel()
	calls := []struct {
		ctx context.Context
		req any
	}{
		{context.Background(), nil},
		{context.Background(), nil},
		{context.Background(), nil},
		{context.Background(), statusErr(503)},
		{context.Background(), statusErr(404)},
		{canceled, context.Canceled},
	}
	for _, c := range calls {
		ep(c.ctx, c.req)
	}

	fams := f.scrape(t)
	op := map[string]string{"operation": "catalog.get"}
	if v := value(t, fams, "switchyard_requests_total", op); v != 6 {
		t.Errorf("requests = %v, want 6", v)
	}
	for class, want := range map[string]float64{"server_failure": 1, "caller_fault": 1, "canceled": 1} {
		if v := value(t, fams, "switchyard_errors_total", map[string]string{"operation": "catalog.get", "outcome": class}); v != want {
			t.Errorf("errors{%s} = %v, want %v", class, v, want)
		}
	}
	if m := find(fams, "switchyard_errors_total", map[string]string{"outcome": "success"}); m != nil {
		t.Error("successes were counted as errors")
	}
	if v := value(t, fams, "switchyard_requests_in_flight", op); v != 0 {
		t.Errorf("in flight = %v after all calls returned", v)
	}
	h := find(fams, "switchyard_request_duration_seconds", map[string]string{"operation": "catalog.get", "outcome": "success"}).GetHistogram()
	if h.GetSampleCount() != 3 || h.GetSampleSum() < 0.0599 || h.GetSampleSum() > 0.0601 {
		t.Errorf("success histogram count %d sum %v, want 3 and 0.06", h.GetSampleCount(), h.GetSampleSum())
	}
	for _, b := range h.GetBucket() {
		want := uint64(0)
		if b.GetUpperBound() >= 0.025 {
			want = 3
		}
		if b.GetCumulativeCount() != want {
			t.Errorf("bucket le=%v holds %d, want %d", b.GetUpperBound(), b.GetCumulativeCount(), want)
		}
	}
	if len(h.GetBucket()) < len(metrics.DefaultBuckets) {
		t.Errorf("%d buckets, want the %d defaults", len(h.GetBucket()), len(metrics.DefaultBuckets))
	}
	if m := find(fams, "target_info", map[string]string{"service_name": "test"}); m == nil {
		t.Error("target_info lacks service_name=test")
	}
}

func TestInFlightWhileCallRuns(t *testing.T) {
	f := setup(t)
	entered, release := make(chan struct{}), make(chan struct{})
	ep := f.m.Operation("slow").Endpoint(func(context.Context, any) (any, error) {
		close(entered)
		<-release
		return nil, nil
	})
	done := make(chan struct{})
	go func() { ep(context.Background(), nil); close(done) }()
	<-entered
	if v := value(t, f.scrape(t), "switchyard_requests_in_flight", map[string]string{"operation": "slow"}); v != 1 {
		t.Errorf("in flight during the call = %v, want 1", v)
	}
	close(release)
	<-done
	if v := value(t, f.scrape(t), "switchyard_requests_in_flight", map[string]string{"operation": "slow"}); v != 0 {
		t.Errorf("in flight after the call = %v, want 0", v)
	}
}

func TestHandlerSeries(t *testing.T) {
	f := setup(t)
	mux := http.NewServeMux()
	mux.HandleFunc("GET /items/{id}", func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("item")) })
	mux.HandleFunc("POST /items", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusInternalServerError) })
	mux.HandleFunc("GET /limited", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusTooManyRequests) })
	mux.HandleFunc("GET /panic", func(w http.ResponseWriter, r *http.Request) { panic(http.ErrAbortHandler) })
	app := httptest.NewServer(f.m.Handler(mux))
	defer app.Close()
	fixed := httptest.NewServer(f.m.Operation("health").Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {})))
	defer fixed.Close()

	do := func(method, url string) {
		req, _ := http.NewRequest(method, url, nil)
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			resp.Body.Close()
		}
	}
	for i := range 3 {
		do("GET", app.URL+"/items/"+string(rune('a'+i)))
	}
	do("POST", app.URL+"/items")
	do("GET", app.URL+"/limited")
	do("GET", app.URL+"/nowhere")
	do("GET", app.URL+"/panic")
	do("GET", fixed.URL+"/healthz")

	fams := f.scrape(t)
	tests := []struct {
		op, class string
		requests  float64
	}{
		{"GET /items/{id}", "", 3},
		{"POST /items", "server_failure", 1},
		{"GET /limited", "caller_fault", 1},
		{metrics.Unmatched, "caller_fault", 1},
		{"GET /panic", "server_failure", 1},
		{"health", "", 1},
	}
	for _, tt := range tests {
		if v := value(t, fams, "switchyard_requests_total", map[string]string{"operation": tt.op}); v != tt.requests {
			t.Errorf("requests{%s} = %v, want %v", tt.op, v, tt.requests)
		}
		if tt.class != "" {
			if v := value(t, fams, "switchyard_errors_total", map[string]string{"operation": tt.op, "outcome": tt.class}); v != 1 {
				t.Errorf("errors{%s,%s} = %v, want 1", tt.op, tt.class, v)
			}
		} else if find(fams, "switchyard_errors_total", map[string]string{"operation": tt.op}) != nil {
			t.Errorf("%s has errors", tt.op)
		}
	}
	for _, m := range fams["switchyard_requests_total"].GetMetric() {
		for _, l := range m.GetLabel() {
			if l.GetName() == "operation" && strings.Contains(l.GetValue(), "/items/a") {
				t.Errorf("a raw path became a label value: %q", l.GetValue())
			}
		}
	}
	if v := value(t, fams, "switchyard_requests_in_flight", map[string]string{"operation": metrics.AllRoutes}); v != 0 {
		t.Errorf("in flight = %v", v)
	}
}

func TestHookSeries(t *testing.T) {
	f := setup(t)
	m := f.m
	for _, s := range []string{"open", "half-open", "closed", "Open"} {
		m.BreakerStateChanged("users", s)
	}
	m.BreakerStateChanged("orders", "half_open")
	m.BreakerStateChanged("weird", "melted")
	for range 3 {
		m.Retried("orders.create")
	}
	m.BudgetExhausted("orders.create")
	m.Shed("catalog.list", "rate_limited")
	m.Shed("catalog.list", "rate_limited")
	m.Shed("catalog.list", "concurrency")

	b, err := balancer.New(roundrobin.New(), balancer.Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	b.Update([]discovery.Instance{
		{ID: "u1", Service: "users", Addr: "127.0.0.1:1"},
		{ID: "u2", Service: "users", Addr: "127.0.0.1:2"},
		{ID: "u3", Service: "users", Addr: "127.0.0.1:3"},
	})
	cfg := balancer.OutlierConfig{OnEject: m.OutlierEjected, OnRestore: m.OutlierRestored}
	cfg.OnEject(discovery.Instance{ID: "u2", Service: "users"}, balancer.ReasonConsecutive, 30*time.Second)
	cfg.OnRestore(discovery.Instance{ID: "u2", Service: "users"})
	m.Ejected("users", "u2", balancer.ReasonConsecutive)
	reg, err := m.ObservePool("users", b.Len)
	if err != nil {
		t.Fatal(err)
	}

	fams := f.scrape(t)
	checks := []struct {
		name   string
		labels map[string]string
		want   float64
	}{
		{"switchyard_breaker_state", map[string]string{"breaker": "users"}, metrics.BreakerOpen},
		{"switchyard_breaker_state", map[string]string{"breaker": "orders"}, metrics.BreakerHalfOpen},
		{"switchyard_breaker_state", map[string]string{"breaker": "weird"}, metrics.BreakerUnknown},
		{"switchyard_retries_total", map[string]string{"operation": "orders.create"}, 3},
		{"switchyard_retry_budget_exhausted_total", map[string]string{"operation": "orders.create"}, 1},
		{"switchyard_shed_total", map[string]string{"operation": "catalog.list", "reason": "rate_limited"}, 2},
		{"switchyard_shed_total", map[string]string{"operation": "catalog.list", "reason": "concurrency"}, 1},
		{"switchyard_outlier_ejections_total", map[string]string{"service": "users", "instance": "u2", "reason": "consecutive_failures"}, 2},
		{"switchyard_outlier_restorations_total", map[string]string{"service": "users", "instance": "u2"}, 1},
		{"switchyard_pool_size", map[string]string{"service": "users", "state": "member"}, 3},
		{"switchyard_pool_size", map[string]string{"service": "users", "state": "eligible"}, 3},
	}
	for _, c := range checks {
		if v := value(t, fams, c.name, c.labels); v != c.want {
			t.Errorf("%s%v = %v, want %v", c.name, c.labels, v, c.want)
		}
	}

	b.Update(nil)
	if v := value(t, f.scrape(t), "switchyard_pool_size", map[string]string{"service": "users", "state": "member"}); v != 0 {
		t.Errorf("pool size after emptying = %v", v)
	}
	if err := reg.Unregister(); err != nil {
		t.Fatal(err)
	}
	if find(f.scrape(t), "switchyard_pool_size", map[string]string{"service": "users"}) != nil {
		t.Error("pool size still reported after Unregister")
	}
}

func TestPrometheusInstancesAreIndependent(t *testing.T) {
	a, b := setup(t), setup(t)
	a.m.Retried("x")
	if find(b.scrape(t), "switchyard_retries_total", nil) != nil {
		t.Error("a retry on one instance showed up in another's scrape")
	}
	if value(t, a.scrape(t), "switchyard_retries_total", map[string]string{"operation": "x"}) != 1 {
		t.Error("retry missing from its own scrape")
	}
}

func TestRuntimeMetricsByDefault(t *testing.T) {
	p, err := metrics.NewPrometheus(metrics.PrometheusConfig{})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Shutdown(context.Background())
	rec := httptest.NewRecorder()
	p.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	if !strings.Contains(rec.Body.String(), "go_goroutines") {
		t.Error("default registry lacks go_goroutines")
	}
}

func TestCustomClassifier(t *testing.T) {
	p, err := metrics.NewPrometheus(metrics.PrometheusConfig{OmitRuntimeMetrics: true})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Shutdown(context.Background())
	errBenign := errors.New("benign")
	m, err := metrics.New(metrics.Config{MeterProvider: p.MeterProvider(), Classifier: func(ctx context.Context, err error) outcome.Class {
		if errors.Is(err, errBenign) {
			return outcome.Success
		}
		return outcome.Default(ctx, err)
	}})
	if err != nil {
		t.Fatal(err)
	}
	ep := m.Operation("op").Endpoint(func(context.Context, any) (any, error) { return nil, errBenign })
	ep(context.Background(), nil)
	rec := httptest.NewRecorder()
	p.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	body := rec.Body.String()
	if !strings.Contains(body, "switchyard_requests_total") || strings.Contains(body, "switchyard_errors_total{") {
		t.Errorf("classifier ignored:\n%s", body)
	}
}

func TestHotPathsDoNotAllocate(t *testing.T) {
	p, err := metrics.NewPrometheus(metrics.PrometheusConfig{OmitRuntimeMetrics: true})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Shutdown(context.Background())
	m, err := metrics.New(metrics.Config{MeterProvider: p.MeterProvider()})
	if err != nil {
		t.Fatal(err)
	}
	var errUnavailable error = statusErr(503)
	ok := m.Operation("op").Endpoint(func(context.Context, any) (any, error) { return nil, nil })
	failing := m.Operation("op").Endpoint(func(context.Context, any) (any, error) { return nil, errUnavailable })
	ctx := context.Background()
	// The classifier's own allocations (errors.As in outcome.Default) are
	// not the middleware's.
	f := func() { outcome.Default(ctx, errUnavailable) }
	classify := testing.AllocsPerRun(200, f)
	failing(ctx, nil)
	if n := testing.AllocsPerRun(200, func() { failing(ctx, nil) }); n > classify {
		t.Errorf("Endpoint on the error path allocates %v times per call, the classifier %v", n, classify)
	}
	for name, f := range map[string]func(){
		"Endpoint":            func() { ok(ctx, nil) },
		"Retried":             func() { m.Retried("op") },
		"Shed":                func() { m.Shed("op", "rate_limited") },
		"BreakerStateChanged": func() { m.BreakerStateChanged("b", "open") },
	} {
		f() // first use builds the attribute set
		if n := testing.AllocsPerRun(200, f); n != 0 {
			t.Errorf("%s allocates %v times per call", name, n)
		}
	}
}

func TestNewRejectsBadBuckets(t *testing.T) {
	for _, b := range [][]float64{{1, 1}, {2, 1}, {0.1, math.NaN()}} {
		if m, err := metrics.New(metrics.Config{Buckets: b}); !errors.Is(err, metrics.ErrConfig) || m != nil {
			t.Errorf("buckets %v: New = %v, %v; want an ErrConfig", b, m, err)
		}
	}
	if _, err := metrics.New(metrics.Config{Buckets: []float64{0.1, 1}}); err != nil {
		t.Errorf("ascending buckets: %v", err)
	}
}
