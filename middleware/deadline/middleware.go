package deadline

import (
	"context"
	"errors"

	"github.com/go-kit/kit/endpoint"
)

// Endpoint returns next wrapped in a layer that enforces the context's
// deadline, on either side of a call; the method value d.Endpoint is an
// endpoint.Middleware:
//
//   - if [Deadline.ServerBefore] recorded a malformed header in the context, it
//     returns that error (an [*Error] with status 400) without calling
//     next;
//   - if the context's deadline leaves no more than MinBudget (by
//     default, if it has passed), it returns a 504 [*Error] matching
//     [ErrExceeded] without calling next — a client fails fast instead of
//     sending a request that cannot be answered in time;
//   - if next fails after the deadline has passed, it returns a 504
//     [*Error] that wraps next's error, so that a server reports the
//     deadline rather than whatever the cancellation looked like further
//     down.
//
// Contexts without a deadline pass straight through. On that path and on
// success it does not allocate.
func (c *Deadline) Endpoint(next endpoint.Endpoint) endpoint.Endpoint {
	return func(ctx context.Context, req any) (any, error) {
		if err, ok := ctx.Value(errorKey{}).(error); ok {
			event(ctx, EventBadHeader, "malformed", 0)
			if c.hooks.OnBadHeader != nil {
				c.hooks.OnBadHeader()
			}
			return nil, err
		}
		dl, ok := ctx.Deadline()
		if !ok {
			return next(ctx, req)
		}
		// Without a minimum, the context knows whether its deadline
		// has passed, and asking it is cheaper than reading the clock.
		if c.minBudget == 0 && ctx.Err() != nil || c.minBudget > 0 && dl.Sub(c.clk.Now()) <= c.minBudget {
			c.exceeded(ctx, ReasonOnArrival, dl.Sub(c.clk.Now()))
			return nil, exceeded("deadline exceeded before the call", ctx.Err())
		}
		resp, err := next(ctx, req)
		if err != nil && errors.Is(ctx.Err(), context.DeadlineExceeded) {
			var de *Error
			if errors.As(err, &de) && errors.Is(de, ErrExceeded) {
				return resp, err // already says so
			}
			c.exceeded(ctx, ReasonTimeout, 0)
			return resp, exceeded("deadline exceeded", err)
		}
		return resp, err
	}
}
