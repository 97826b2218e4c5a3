package client

import (
	"context"
	"io"
	"sync"

	"github.com/go-kit/kit/endpoint"

	"github.com/switchyard/switchyard/balancer"
	"github.com/switchyard/switchyard/discovery"
	"github.com/switchyard/switchyard/middleware/retry"
	"github.com/switchyard/switchyard/outcome"
)

// triedRequest carries a call's request through the retry layer together
// with the instances its attempts went to, so that the balancer sends each
// retry to an instance the call has not tried (balancer.TriedHosts). The
// retry layer hands the same request to every attempt, and it is the only
// value that lives as long as the call between retry and balancer, so the
// layer just outside retry wraps the request in it, and everything below
// that sees the caller's request takes it out again: CheckRetry, the
// attempt-timeout layer and the instance's endpoint, which records its
// instance before it calls the factory's endpoint with the caller's
// request. Attempts are sequential, so no lock is needed.
type triedRequest struct {
	req any
	n   int
	// ids are the instance IDs of the attempts made so far. The last
	// attempt's is never needed, so a call's retries fit.
	ids [retry.MaxAttempts - 1]string
}

var _ balancer.TriedHosts = (*triedRequest)(nil)

// Tried reports whether an earlier attempt of the call went to h.
func (t *triedRequest) Tried(h *balancer.Host) bool {
	for _, id := range t.ids[:t.n] {
		if id == h.Instance.ID {
			return true
		}
	}
	return false
}

// callerRequest returns the request the caller gave, taken out of its
// triedRequest if it is in one.
func callerRequest(req any) any {
	if t, ok := req.(*triedRequest); ok {
		return t.req
	}
	return req
}

// triedRequests recycles the records: the layers below the retry layer
// run within the call and hand nothing but the caller's request to code
// that could keep it (the factory's endpoint, CheckRetry), so a record is
// free again when the call returns. Reusing it spares every retryable
// call an allocation, which was a third of the chain's time on a no-op
// endpoint.
var triedRequests = sync.Pool{New: func() any { return new(triedRequest) }}

// remembersTries is the layer just outside retry: it carries the request
// of each call that the retry layer may retry in a triedRequest. mayRetry
// says which calls those are; the others go through untouched.
func remembersTries(mayRetry func(ctx context.Context, req any) bool) endpoint.Middleware {
	return func(next endpoint.Endpoint) endpoint.Endpoint {
		return func(ctx context.Context, req any) (any, error) {
			if !mayRetry(ctx, req) {
				return next(ctx, req)
			}
			t := triedRequests.Get().(*triedRequest)
			t.req = req
			resp, err := next(ctx, t)
			// Drop the references before the record goes back, so that
			// the pool keeps neither the request nor the IDs alive. A
			// call that panics leaves its record to the collector.
			*t = triedRequest{}
			triedRequests.Put(t)
			return resp, err
		}
	}
}

// recordTries wraps the endpoints f makes so that each records its
// instance in the call's triedRequest and calls the endpoint with the
// caller's request.
func recordTries(f balancer.Factory) balancer.Factory {
	return func(inst discovery.Instance) (endpoint.Endpoint, io.Closer, error) {
		ep, c, err := f(inst)
		if err != nil {
			return ep, c, err
		}
		id := inst.ID
		return func(ctx context.Context, req any) (any, error) {
			if t, ok := req.(*triedRequest); ok {
				if t.n < len(t.ids) {
					t.ids[t.n] = id
					t.n++
				}
				req = t.req
			}
			return ep(ctx, req)
		}, c, nil
	}
}

// callersCheck returns check (nil: retry.DefaultCheckRetry) asked about
// the caller's request rather than its triedRequest.
func callersCheck(check retry.CheckRetry) retry.CheckRetry {
	if check == nil {
		check = retry.DefaultCheckRetry
	}
	return func(ctx context.Context, req any, attempts int, class outcome.Class, err error) bool {
		return check(ctx, callerRequest(req), attempts, class, err)
	}
}
