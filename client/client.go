package client

import (
	"context"
	"fmt"
	"reflect"
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

// Endpoint calls one operation of one service through the whole client
// chain described in the package documentation, first outermost: tracing,
// timeout, deadline, [Config.Middleware], retry, attempt timeout, balancer,
// per-instance breakers, the factory's endpoint.
//
// An Endpoint is safe for concurrent use. It runs the balancer's watch
// goroutine and timers until Close.
type Endpoint struct {
	bal      *balancer.Balancer
	breakers *circuitbreaker.Group
	budget   *retry.Budget
	ep       endpoint.Endpoint
}

// New follows service through r and returns the chain cfg describes, with
// f making each instance's endpoint (for HTTP, transport/http's
// NewFactory). It waits, bounded by ctx, for the balancer's first view of
// the service, so that a call made right after it returns does not fail
// for want of instances that are registered; that view may be empty (see
// [Endpoint.WaitHosts]). A missing argument or a field out of range is an
// error wrapping [ErrConfig].
func New(ctx context.Context, r discovery.Resolver, service string, f balancer.Factory, cfg Config) (*Endpoint, error) {
	switch {
	case r == nil:
		return nil, fmt.Errorf("%w: no resolver", ErrConfig)
	case service == "":
		return nil, fmt.Errorf("%w: no service", ErrConfig)
	case f == nil:
		return nil, fmt.Errorf("%w: no factory", ErrConfig)
	case cfg.Timeout < 0:
		return nil, fmt.Errorf("%w: negative timeout %v", ErrConfig, cfg.Timeout)
	case cfg.Breakers.Group != nil && !reflect.ValueOf(cfg.Breakers.Config).IsZero():
		return nil, fmt.Errorf("%w: both a breaker group and a breaker config", ErrConfig)
	}
	if cfg.Operation == "" {
		cfg.Operation = service
	}
	policy := cfg.Policy
	if policy == nil {
		policy = p2c.New()
	}
	c := &Endpoint{}

	var classifier outcome.Classifier = outcome.Default
	if !cfg.Breakers.Off {
		c.breakers = cfg.Breakers.Group
		if c.breakers == nil {
			g, err := circuitbreaker.NewGroup(circuitbreaker.GroupConfig{Breaker: cfg.Breakers.Config})
			if err != nil {
				return nil, fmt.Errorf("%w: %w", ErrConfig, err)
			}
			c.breakers = g
		}
		f = c.breakers.Factory(f)
		// A breaker's rejection never reached the instance: neutral for
		// outlier detection, which already counted the failures behind it.
		classifier = circuitbreaker.SkipRejections(nil)
	}
	if !cfg.Retry.Off {
		// Outermost, so that the breakers and the caller's factory see
		// the caller's request.
		f = recordTries(f)
	}
	outlier := cfg.Outlier
	bal, err := balancer.New(policy, balancer.Config{
		Factory: f, Classifier: classifier, Outlier: &outlier, Hooks: cfg.BalancerHooks,
	})
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrConfig, err)
	}
	c.bal = bal
	fail := func(err error) (*Endpoint, error) {
		c.bal.Close()
		return nil, fmt.Errorf("%w: %w", ErrConfig, err)
	}

	var mws []endpoint.Middleware
	if !cfg.Tracing.Off {
		tr := cfg.Tracing.Tracer
		if tr == nil {
			if tr, err = tracing.New(tracing.Config{}); err != nil {
				return fail(err)
			}
		}
		mws = append(mws, tr.Operation(cfg.Operation).Endpoint)
	}
	if cfg.Timeout > 0 {
		mws = append(mws, defaultTimeout(cfg.Timeout))
	}
	if !cfg.Deadline.Off {
		d, err := deadline.New(cfg.Deadline.Config)
		if err != nil {
			return fail(err)
		}
		mws = append(mws, d.Endpoint)
	}
	mws = append(mws, cfg.Middleware...)
	if !cfg.Retry.Off {
		c.budget = cfg.Retry.Budget
		if c.budget == nil {
			b, err := retry.NewBudget(retry.BudgetConfig{})
			if err != nil {
				return fail(err)
			}
			c.budget = b
		}
		rcfg := cfg.Retry.Config
		// The calls the retry layer may retry: every call under a
		// CheckRetry of the caller's, which may retry anything; else, as
		// retry.DefaultCheckRetry, idempotent calls only.
		mayRetry := func(ctx context.Context, req any) bool { return retry.IsIdempotent(ctx, req) }
		if cfg.Idempotent || rcfg.CheckRetry != nil {
			mayRetry = func(context.Context, any) bool { return true }
		}
		if cfg.Idempotent {
			rcfg.CheckRetry = alwaysIdempotent(rcfg.CheckRetry)
		}
		rcfg.CheckRetry = callersCheck(rcfg.CheckRetry)
		r, err := retry.New(c.budget, rcfg)
		if err != nil {
			return fail(err)
		}
		mws = append(mws, remembersTries(mayRetry), r.Endpoint)
	}
	if !cfg.AttemptTimeout.Off {
		a, err := newAttempts(cfg.AttemptTimeout, cfg.Idempotent, classifier)
		if err != nil {
			return fail(err)
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
		return nil, fmt.Errorf("client: watch %s: %w", service, err)
	}
	if err := c.bal.Follow(w); err != nil {
		w.Stop()
		c.bal.Close()
		return nil, err
	}
	if err := c.bal.WaitReady(ctx); err != nil {
		c.bal.Close()
		return nil, fmt.Errorf("client: waiting for %s: %w", service, err)
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
// idempotent with Config.Idempotent. The mark costs an allocation on a
// failed attempt only.
func alwaysIdempotent(check retry.CheckRetry) retry.CheckRetry {
	if check == nil {
		check = retry.DefaultCheckRetry
	}
	return func(ctx context.Context, req any, attempts int, class outcome.Class, err error) bool {
		return check(retry.MarkIdempotent(ctx), req, attempts, class, err)
	}
}

// Call makes one call through the whole chain. Its method value e.Call is
// the chain's endpoint.Endpoint.
func (e *Endpoint) Call(ctx context.Context, request any) (any, error) {
	return e.ep(ctx, request)
}

// WaitHosts blocks until the chain has an instance to call — its balancer
// has at least one host — or ctx ends, or e is closed. A service calls it
// before taking traffic, so that its first requests do not fail with
// no_instances while a dependency started together with it registers. It
// does not poll (see balancer.Balancer.WaitHosts). [New] waits only for
// the first view of the service, which may be empty.
func (e *Endpoint) WaitHosts(ctx context.Context) error {
	if err := e.bal.WaitHosts(ctx); err != nil {
		return fmt.Errorf("client: %w", err)
	}
	return nil
}

// Balancer returns the balancer, for dashboards (Hosts) and tests.
func (e *Endpoint) Balancer() *balancer.Balancer { return e.bal }

// Breakers returns the per-instance breaker group, or nil when
// [Breakers.Off].
func (e *Endpoint) Breakers() *circuitbreaker.Group { return e.breakers }

// Budget returns the retry budget, or nil when [Retry.Off].
func (e *Endpoint) Budget() *retry.Budget { return e.budget }

// Close stops following the service, stops the balancer's timers and
// releases the instances' endpoints. Calls afterwards fail with
// balancer.ErrNoHosts.
func (e *Endpoint) Close() error { return e.bal.Close() }
