package concurrency

import (
	"context"
	"errors"
	"net/http"
	"strconv"

	"github.com/go-kit/kit/endpoint"

	"github.com/switchyard/switchyard/internal/httperr"
	"github.com/switchyard/switchyard/internal/reqbody"
	"github.com/switchyard/switchyard/internal/respwriter"
	"github.com/switchyard/switchyard/outcome"
)

// Endpoint returns next run under a slot of l. A shed call returns the
// limiter's error without reaching next; a panicking call still frees its
// slot. The method value l.Endpoint is an endpoint.Middleware.
func (l *Limiter) Endpoint(next endpoint.Endpoint) endpoint.Endpoint {
	return func(ctx context.Context, request any) (resp any, err error) {
		t, err := l.Acquire(ctx)
		if err != nil {
			return nil, err
		}
		// Deferred so that a panicking endpoint does not keep its slot.
		defer func() { t.Release(ctx, err) }()
		return next(ctx, request)
	}
}

// Handler returns next served under a slot of l. A shed request is
// answered 503 with a Retry-After header (see [Config.RetryAfter]) and the
// body {"error":{"code":"overloaded","message":"…"}}, without calling
// next. For the adaptive limit, responses with status 500 and above are
// reported as failures; their latency counts like any other, except for
// requests the client broke itself (outcome.Aborted: a body that failed
// to read, a 413 or 408 answer) and requests whose client went away,
// which teach the limit nothing: their latency is the client's. The
// method value l.Handler is a func(http.Handler) http.Handler, usable as
// gateway route middleware.
func (l *Limiter) Handler(next http.Handler) http.Handler {
	retryAfter := strconv.FormatInt(httperr.RetryAfterSeconds(l.retryAfter), 10)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx := r.Context()
		t, err := l.Acquire(ctx)
		if err != nil {
			var le *Error
			if errors.As(err, &le) {
				w.Header().Set("Retry-After", retryAfter)
			}
			httperr.Write(w, http.StatusServiceUnavailable, "overloaded", err.Error())
			return
		}
		if l.adapt == nil {
			defer t.Release(ctx, nil)
			next.ServeHTTP(w, r)
			return
		}
		sw := respwriter.New(w)
		body := reqbody.Watch(r)
		defer func() {
			var err error
			if sw.Status() >= 500 {
				err = &outcome.StatusError{Status: sw.Status()}
			}
			t.Release(ctx, body.Abort(sw.Status(), err))
		}()
		next.ServeHTTP(sw, r)
	})
}
