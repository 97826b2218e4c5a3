package http

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/go-kit/kit/endpoint"

	"github.com/switchyard/switchyard/balancer"
	"github.com/switchyard/switchyard/balancer/p2c"
	"github.com/switchyard/switchyard/discovery"
	"github.com/switchyard/switchyard/middleware/circuitbreaker"
	"github.com/switchyard/switchyard/middleware/deadline"
	"github.com/switchyard/switchyard/middleware/retry"
	"github.com/switchyard/switchyard/middleware/tracing"
	"github.com/switchyard/switchyard/outcome"
)

// ErrInvalidClient is wrapped by the errors of [NewClientEndpoint] for a
// missing resolver, service or factory.
var ErrInvalidClient = errors.New("http: invalid client endpoint")

// ClientEndpoint calls one operation of one service through the whole
// client-side call path. First is outermost:
//
//	tracing               one client span per call; every decision below is an event on it
//	timeout               WithTimeout: a deadline for calls whose context has none
//	deadline.Endpoint     fails fast when no time is left; a failure past the deadline is a 504
//	extra middleware      WithMiddleware, in the order given
//	retry.Retry           attempts ≤ 3, full-jitter backoff, shared Budget, idempotent calls only
//	attempt timeout       idempotent calls: each attempt but the last bounded by k × p99 of observed latency (AttemptTimeout)
//	balancer.Call         picks an instance per attempt (peak-EWMA P2C), outlier detection
//	circuitbreaker.Group  one breaker per instance (Group.Factory)
//	factory endpoint      go-kit HTTP client for the instance (see NewFactory)
//	                      ▲ instances come from a discovery.Resolver watch
//
// The order matters: the deadline is set and checked once, outside the
// retries, which stop at it (the factory's requests carry what is left of
// it to the server, so the server stops too); retries sit outside the
// balancer so that each attempt
// may pick another instance and the budget counts calls, not attempts;
// breakers sit inside it, one per instance, so that one sick instance opens
// its own breaker and not the service's; their rejections are neutral to
// outlier detection (circuitbreaker.SkipRejections) but retried elsewhere; the
// per-attempt timeout sits between retry and balancer, so that an attempt
// cut off by it counts against its instance (see [AttemptTimeout]) and
// the retry tries another, and so that the retry layer can tell it which
// attempt is the last (retry.FinalAttempt), which it leaves to the
// caller's deadline; the span is outermost so that retries,
// ejections and trips land on it.
//
// For an idempotent call, then, a 5xx answer, a connection error or an
// attempt timeout from one instance is retried on another (the failure
// penalty of the peak-EWMA policy steers the retry away from the instance
// that just failed), within the retry budget and the caller's deadline,
// and the caller sees the retry's answer. An error the caller caused — a
// 4xx, its cancellation or deadline, a request body that could not be
// read (outcome.Aborted) — is never retried nor counted against an
// instance.
//
// A ClientEndpoint is safe for concurrent use. It runs the balancer's
// watch goroutine and timers until Close.
type ClientEndpoint struct {
	bal      *balancer.Balancer
	breakers *circuitbreaker.Group
	budget   *retry.Budget
	ep       endpoint.Endpoint
}

// ClientOption configures [NewClientEndpoint].
type ClientOption func(*clientConfig)

type clientConfig struct {
	policy      balancer.Policy
	outlier     balancer.OutlierConfig
	balCfg      balancer.Config
	breakers    *circuitbreaker.Group
	breakerSet  circuitbreaker.Config
	noBreaker   bool
	budget      *retry.Budget
	retry       retry.Config
	noRetry     bool
	idempotent  bool
	operation   string
	tracing     tracing.Config
	noTrace     bool
	timeout     time.Duration
	attempt     AttemptTimeout
	noAttempt   bool
	deadline    deadline.Config
	noDeadline  bool
	middlewares []endpoint.Middleware
}

// WithPolicy sets the balancing policy. The default is peak-EWMA P2C
// (balancer/p2c), which steers away from slow and failing instances.
func WithPolicy(p balancer.Policy) ClientOption {
	return func(c *clientConfig) { c.policy = p }
}

// WithOutlierDetection sets the outlier detection config; zero fields take
// balancer's defaults (eject after 5 consecutive server failures for 30s ×
// the number of ejections). Outlier detection is always on.
func WithOutlierDetection(cfg balancer.OutlierConfig) ClientOption {
	return func(c *clientConfig) { c.outlier = cfg }
}

// WithBalancerConfig sets the balancer's configuration (its hooks). Its
// Factory and Classifier are set by the endpoint, and its Outlier by
// [WithOutlierDetection].
func WithBalancerConfig(cfg balancer.Config) ClientOption {
	return func(c *clientConfig) { c.balCfg = cfg }
}

// WithBreakers sets the per-instance breaker group, to share one breaker
// per instance between the endpoints of several operations of a service.
// The default is a new group with [WithBreakerSettings]'s settings.
func WithBreakers(g *circuitbreaker.Group) ClientOption {
	return func(c *clientConfig) { c.breakers = g }
}

// WithBreakerSettings sets the settings of the default breaker group. The
// default is circuitbreaker's zero Config.
func WithBreakerSettings(s circuitbreaker.Config) ClientOption {
	return func(c *clientConfig) { c.breakerSet = s }
}

// WithoutBreakers removes the per-instance breakers.
func WithoutBreakers() ClientOption {
	return func(c *clientConfig) { c.noBreaker = true }
}

// WithBudget sets the retry budget, to share one between every endpoint
// that calls the same service. The default is a new budget with
// retry.BudgetConfig's defaults.
func WithBudget(b *retry.Budget) ClientOption {
	return func(c *clientConfig) { c.budget = b }
}

// WithRetry configures the retry layer (attempts, per-try timeout,
// backoff, classifier, CheckRetry, hooks); the default is the zero
// [retry.Config]. Under [WithIdempotent], its CheckRetry (nil:
// retry.DefaultCheckRetry) sees every call as idempotent.
func WithRetry(cfg retry.Config) ClientOption {
	return func(c *clientConfig) { c.retry = cfg }
}

// WithoutRetry removes the retry layer.
func WithoutRetry() ClientOption {
	return func(c *clientConfig) { c.noRetry = true }
}

// WithIdempotent declares every call of this endpoint safe to repeat (a
// GET, a PUT, a DELETE, or a POST that always carries an idempotency key),
// so server failures are retried without marking each call's context.
// Without it a call is retried only when retry.IsIdempotent says so: its
// context was marked with retry.MarkIdempotent or
// ContextWithIdempotencyKey, or
// its request implements retry.IdempotentRequest.
func WithIdempotent() ClientOption {
	return func(c *clientConfig) { c.idempotent = true }
}

// WithOperation names the client span; the default is the service name.
func WithOperation(name string) ClientOption {
	return func(c *clientConfig) { c.operation = name }
}

// WithTracing configures the tracing layer (a tracer provider,
// attributes); the default is the zero [tracing.Config]. Its spans are
// named after [WithOperation].
func WithTracing(cfg tracing.Config) ClientOption {
	return func(c *clientConfig) { c.tracing = cfg }
}

// WithoutTracing removes the tracing layer.
func WithoutTracing() ClientOption {
	return func(c *clientConfig) { c.noTrace = true }
}

// WithTimeout gives calls whose context has no deadline one of d (on the
// real clock). The default is none: such calls are bounded only by the
// retry layer's attempts and the transport's dial timeout.
func WithTimeout(d time.Duration) ClientOption {
	return func(c *clientConfig) { c.timeout = d }
}

// WithAttemptTimeout sets how the per-attempt timeout of idempotent calls
// is derived from observed latency (see [AttemptTimeout]; the default is
// its zero value: max(250 ms, 3 × p99), 1 s until measured). The last
// attempt of a call, and every attempt under [WithoutRetry], has none.
func WithAttemptTimeout(a AttemptTimeout) ClientOption {
	return func(c *clientConfig) { c.attempt, c.noAttempt = a, false }
}

// WithoutAttemptTimeout removes the per-attempt timeout: an attempt of an
// idempotent call then waits as long as the caller's deadline allows.
func WithoutAttemptTimeout() ClientOption {
	return func(c *clientConfig) { c.noAttempt = true }
}

// WithDeadline configures the deadline layer (a minimum budget, hooks:
// see [deadline.Config]; its server-side fields do not apply); the
// default is the zero Config.
func WithDeadline(cfg deadline.Config) ClientOption {
	return func(c *clientConfig) { c.deadline = cfg }
}

// WithoutDeadline removes the deadline layer (and WithTimeout's).
func WithoutDeadline() ClientOption {
	return func(c *clientConfig) { c.noDeadline = true }
}

// WithMiddleware adds middleware inside the deadline layer and outside the
// retry layer, first outermost: the place for logging or metrics that
// should see one call however many attempts it takes.
func WithMiddleware(mws ...endpoint.Middleware) ClientOption {
	return func(c *clientConfig) { c.middlewares = append(c.middlewares, mws...) }
}

// NewClientEndpoint follows service through r and returns the call path
// described on [ClientEndpoint], with f making each instance's endpoint
// (usually [NewFactory]). It waits, bounded by ctx, for the balancer's
// first view of the service, so that a call made right after it returns
// does not fail for want of instances that are registered.
func NewClientEndpoint(ctx context.Context, r discovery.Resolver, service string, f balancer.Factory, opts ...ClientOption) (*ClientEndpoint, error) {
	switch {
	case r == nil:
		return nil, fmt.Errorf("%w: no resolver", ErrInvalidClient)
	case service == "":
		return nil, fmt.Errorf("%w: no service", ErrInvalidClient)
	case f == nil:
		return nil, fmt.Errorf("%w: no factory", ErrInvalidClient)
	}
	cfg := clientConfig{operation: service}
	for _, o := range opts {
		o(&cfg)
	}
	if cfg.policy == nil {
		cfg.policy = p2c.New()
	}
	c := &ClientEndpoint{}

	var classifier outcome.Classifier = outcome.Default
	if !cfg.noBreaker {
		c.breakers = cfg.breakers
		if c.breakers == nil {
			g, err := circuitbreaker.NewGroup(circuitbreaker.GroupConfig{Breaker: cfg.breakerSet})
			if err != nil {
				return nil, fmt.Errorf("%w: %w", ErrInvalidClient, err)
			}
			c.breakers = g
		}
		f = c.breakers.Factory(f)
		// A breaker's rejection never reached the instance: neutral for
		// outlier detection, which already counted the failures behind it.
		classifier = circuitbreaker.SkipRejections(nil)
	}
	balCfg := cfg.balCfg
	balCfg.Factory, balCfg.Classifier, balCfg.Outlier = f, classifier, &cfg.outlier
	bal, err := balancer.New(cfg.policy, balCfg)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidClient, err)
	}
	c.bal = bal

	var mws []endpoint.Middleware
	if !cfg.noTrace {
		tr, err := tracing.New(cfg.tracing)
		if err != nil {
			c.bal.Close()
			return nil, fmt.Errorf("%w: %w", ErrInvalidClient, err)
		}
		mws = append(mws, tr.Operation(cfg.operation).Endpoint)
	}
	if !cfg.noDeadline {
		if cfg.timeout > 0 {
			mws = append(mws, defaultTimeout(cfg.timeout))
		}
		d, err := deadline.New(cfg.deadline)
		if err != nil {
			c.bal.Close()
			return nil, fmt.Errorf("%w: %w", ErrInvalidClient, err)
		}
		mws = append(mws, d.Endpoint)
	}
	mws = append(mws, cfg.middlewares...)
	if !cfg.noRetry {
		c.budget = cfg.budget
		if c.budget == nil {
			b, err := retry.NewBudget(retry.BudgetConfig{})
			if err != nil {
				c.bal.Close()
				return nil, err
			}
			c.budget = b
		}
		rcfg := cfg.retry
		if cfg.idempotent {
			rcfg.CheckRetry = alwaysIdempotent(rcfg.CheckRetry)
		}
		r, err := retry.New(c.budget, rcfg)
		if err != nil {
			c.bal.Close()
			return nil, fmt.Errorf("%w: %w", ErrInvalidClient, err)
		}
		mws = append(mws, r.Endpoint)
	}
	if !cfg.noAttempt {
		a, err := newAttempts(cfg.attempt, cfg.idempotent, classifier)
		if err != nil {
			c.bal.Close()
			return nil, fmt.Errorf("%w: %w", ErrInvalidClient, err)
		}
		mws = append(mws, a.middleware)
	}
	c.ep = c.bal.Call
	for i := len(mws) - 1; i >= 0; i-- {
		c.ep = mws[i](c.ep)
	}

	w, err := r.Watch(ctx, service)
	if err != nil {
		c.bal.Close()
		return nil, fmt.Errorf("http: watch %s: %w", service, err)
	}
	if err := c.bal.Follow(w); err != nil {
		w.Stop()
		c.bal.Close()
		return nil, err
	}
	if err := c.bal.WaitReady(ctx); err != nil {
		c.bal.Close()
		return nil, fmt.Errorf("http: waiting for %s: %w", service, err)
	}
	return c, nil
}

// defaultTimeout gives calls without a deadline one of d.
func defaultTimeout(d time.Duration) endpoint.Middleware {
	return func(next endpoint.Endpoint) endpoint.Endpoint {
		return func(ctx context.Context, req any) (any, error) {
			if _, ok := ctx.Deadline(); ok {
				return next(ctx, req)
			}
			ctx, cancel := context.WithTimeout(ctx, d)
			defer cancel()
			return next(ctx, req)
		}
	}
}

// alwaysIdempotent returns check (nil: retry.DefaultCheckRetry) asked
// about every call as an idempotent one: the endpoint was declared
// idempotent with WithIdempotent. The mark costs an allocation on a
// failed attempt only.
func alwaysIdempotent(check retry.CheckRetry) retry.CheckRetry {
	if check == nil {
		check = retry.DefaultCheckRetry
	}
	return func(ctx context.Context, req any, attempts int, class outcome.Class, err error) bool {
		return check(retry.MarkIdempotent(ctx), req, attempts, class, err)
	}
}

// Call is the endpoint.Endpoint of the whole call path.
func (c *ClientEndpoint) Call(ctx context.Context, request any) (any, error) {
	return c.ep(ctx, request)
}

// Endpoint returns [ClientEndpoint.Call] as an endpoint.Endpoint.
func (c *ClientEndpoint) Endpoint() endpoint.Endpoint { return c.ep }

// Balancer returns the balancer, for dashboards (Hosts) and tests.
func (c *ClientEndpoint) Balancer() *balancer.Balancer { return c.bal }

// Breakers returns the per-instance breaker group, or nil without
// breakers.
func (c *ClientEndpoint) Breakers() *circuitbreaker.Group { return c.breakers }

// Budget returns the retry budget, or nil without retries.
func (c *ClientEndpoint) Budget() *retry.Budget { return c.budget }

// Close stops following the service, stops the balancer's timers and
// releases the instances' endpoints. Calls afterwards fail with
// balancer.ErrNoHosts.
func (c *ClientEndpoint) Close() error { return c.bal.Close() }
