package client

import (
	"errors"
	"time"

	"github.com/go-kit/kit/endpoint"

	"github.com/switchyard/switchyard/balancer"
	"github.com/switchyard/switchyard/middleware/circuitbreaker"
	"github.com/switchyard/switchyard/middleware/deadline"
	"github.com/switchyard/switchyard/middleware/retry"
	"github.com/switchyard/switchyard/middleware/tracing"
)

// ErrConfig is wrapped by the errors of [New] for a missing resolver,
// service or factory, or a field of [Config] out of range.
var ErrConfig = errors.New("client: invalid configuration")

// Config configures the chain [New] builds. Each layer is a field; the
// zero value of each is the layer on with its defaults, and its Off field
// leaves it out. The zero Config is valid: every layer, every default.
type Config struct {
	// Operation names the client span. Empty means the service name.
	Operation string
	// Idempotent declares every call safe to repeat (a GET, a PUT, a
	// DELETE, or a POST that always carries an idempotency key), so server
	// failures are retried and attempts timed without marking each call's
	// context. False: a call is idempotent only when retry.IsIdempotent
	// says so (retry.MarkIdempotent, retry.ContextWithIdempotencyKey, a
	// retry.IdempotentRequest).
	Idempotent bool
	// Timeout gives calls whose context has no deadline one of Timeout
	// (on the real clock). Zero means none: such calls are bounded only by
	// the retry layer's attempts and the transport's dial timeout. Negative
	// is an error.
	Timeout time.Duration
	// Policy is the balancing policy. Nil means peak-EWMA P2C
	// (balancer/p2c.New()), which steers away from slow and failing
	// instances.
	Policy balancer.Policy
	// Outlier configures outlier detection, which is always on; zero
	// fields take balancer's defaults (eject after 5 consecutive server
	// failures for 30 s × the number of ejections).
	Outlier balancer.OutlierConfig
	// BalancerHooks are the balancer's hooks (balancer.Hooks). Default
	// none.
	BalancerHooks balancer.Hooks
	// Breakers is the per-instance circuit breaker layer.
	Breakers Breakers
	// Retry is the retry layer.
	Retry Retry
	// AttemptTimeout is the per-attempt timeout of idempotent calls.
	AttemptTimeout AttemptTimeout
	// Deadline is the deadline layer.
	Deadline Deadline
	// Tracing is the tracing layer.
	Tracing Tracing
	// Middleware is added inside the deadline layer and outside the retry
	// layer, first outermost: the place for logging or metrics that should
	// see one call however many attempts it takes. Default none.
	Middleware []endpoint.Middleware
}

// Breakers configures the per-instance circuit breakers. The zero value is
// a new group of breakers with circuitbreaker's zero Config.
type Breakers struct {
	// Group is the breaker group, to share one breaker per instance
	// between the endpoints of several operations of a service. Nil means
	// a new group with Config.
	Group *circuitbreaker.Group
	// Config configures the new group's breakers when Group is nil.
	// Setting both is an error.
	Config circuitbreaker.Config
	// Off leaves the breakers out.
	Off bool
}

// Retry configures the retry layer. The zero value is a new budget with
// retry.BudgetConfig's defaults and the zero retry.Config (at most 3
// attempts, full-jitter backoff, idempotent calls only).
type Retry struct {
	// Budget is the retry budget, to share one between every endpoint that
	// calls the same service. Nil means a new budget.
	Budget *retry.Budget
	// Config configures the layer (attempts, per-try timeout, backoff,
	// classifier, CheckRetry, hooks). Under [Config.Idempotent], its
	// CheckRetry (nil: retry.DefaultCheckRetry) sees every call as
	// idempotent. A CheckRetry of your own is given your request, and
	// makes every call retryable as far as the chain knows, so every call
	// carries the record of the instances it tried.
	Config retry.Config
	// Off leaves the retry layer out: every call is made once, and every
	// attempt is the last (no attempt timeout).
	Off bool
}

// Deadline configures the deadline layer, which fails a call at once when
// its context has no time left. The zero value uses deadline's zero
// Config.
type Deadline struct {
	// Config configures the layer (a minimum budget, hooks; its
	// server-side fields do not apply).
	Config deadline.Config
	// Off leaves the layer out.
	Off bool
}

// Tracing configures the tracing layer: one client span per call, named
// after [Config.Operation]. The zero value traces through the global
// tracer provider.
type Tracing struct {
	// Tracer starts the spans. Nil means tracing.New(tracing.Config{}):
	// client spans from the global provider.
	Tracer *tracing.Tracer
	// Off leaves the layer out.
	Off bool
}
