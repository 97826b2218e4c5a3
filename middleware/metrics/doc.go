// Package metrics records OpenTelemetry metrics for calls, HTTP requests and
// the decisions of the other Switchyard middleware, and exposes them to
// Prometheus.
//
// A [Metrics] owns one set of instruments on a meter:
//
//	switchyard.requests            counter        {operation}
//	switchyard.errors              counter        {operation, outcome}
//	switchyard.request.duration    histogram (s)  {operation, outcome}
//	switchyard.requests.in_flight  up-down        {operation}
//	switchyard.breaker.state       gauge          {breaker}  0 closed, 1 half-open, 2 open
//	switchyard.retries             counter        {operation}
//	switchyard.retry.budget_exhausted counter     {operation}
//	switchyard.shed                counter        {operation, reason}
//	switchyard.outlier.ejections   counter        {service, instance, reason}
//	switchyard.outlier.restorations counter       {service, instance}
//	switchyard.pool.size           gauge          {service, state}  state is "member" or "eligible"
//
// outcome is the [outcome.Class] of the call as decided by [outcome.Default]
// (or [Config.Classifier]): "success",
// "server_failure", "caller_fault" or "canceled". Attribute values are
// always operation, route, breaker or service names chosen by the program,
// never raw request paths, so the number of series stays bounded.
//
// [New] builds a Metrics from a [Config] whose zero value means the global
// meter provider, [outcome.Default] and [DefaultBuckets]; an invalid Config
// is an error wrapping [ErrConfig]. [Metrics.Operation] binds an operation
// name; [Metrics.Endpoint] is endpoint middleware and [Metrics.Handler]
// wraps an [net/http.Handler] (without a bound operation it records under
// the matched route pattern):
//
//	m, err := metrics.New(metrics.Config{MeterProvider: prom.MeterProvider()})
//	ep = m.Operation("users.get").Endpoint(ep)
//	h = m.Handler(mux)
//
// The hook methods ([Metrics.BreakerStateChanged],
// [Metrics.Retried], [Metrics.BudgetExhausted], [Metrics.Shed],
// [Metrics.OutlierEjected] and friends) take plain strings so that any
// middleware's callback can be adapted to them in one line; see the
// package example.
//
// [NewPrometheus] builds a MeterProvider that exports to a private
// Prometheus registry through the OpenTelemetry Prometheus exporter, and the
// [net/http.Handler] that serves it at /metrics. In the Prometheus text
// format the names above become switchyard_requests_total,
// switchyard_request_duration_seconds_bucket and so on.
package metrics
