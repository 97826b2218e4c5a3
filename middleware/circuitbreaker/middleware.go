package circuitbreaker

import (
	"context"
	"net/http"
	"strconv"
	"time"

	"github.com/go-kit/kit/endpoint"

	"github.com/switchyard/switchyard/internal/httperr"
	"github.com/switchyard/switchyard/internal/reqbody"
	"github.com/switchyard/switchyard/internal/respwriter"
	"github.com/switchyard/switchyard/outcome"
)

// Endpoint returns next guarded by b: next is called only while b lets
// calls through, its outcome is counted, and rejected calls fail with a
// [*RejectedError] without calling next. The method value b.Endpoint is an
// endpoint.Middleware; every endpoint it wraps shares b.
func (b *Breaker) Endpoint(next endpoint.Endpoint) endpoint.Endpoint {
	return func(ctx context.Context, request any) (any, error) {
		return call(ctx, b, next, request)
	}
}

func call(ctx context.Context, b *Breaker, next endpoint.Endpoint, request any) (any, error) {
	var resp any
	err := b.Execute(ctx, func(ctx context.Context) error {
		var err error
		resp, err = next(ctx, request)
		return err
	})
	return resp, err
}

// Handler returns next guarded by b, as a server or a gateway route
// would guard it: a response with status ≥ 400 is classified (see
// a [*outcome.StatusError] carrying it, so that outcome.Default counts
// 5xx as server failures and 4xx, 429 included, as the caller's fault), a request whose client went away counts as neither
// success nor failure, and so does a request the client broke itself
// (outcome.Aborted: its body failed to read — broken chunked framing, a
// hang-up mid-upload — or the answer was 413 or 408, whatever the handler
// then answered); and while b rejects calls the request is answered 503
// with a Retry-After header (whole seconds, at least 1) and the JSON body
// {"error":{"code":"circuit_open","message":"…"}}, without calling next.
// The method value b.Handler is a func(http.Handler) http.Handler, usable
// as gateway route middleware.
func (b *Breaker) Handler(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sw := respwriter.New(w)
		body := reqbody.Watch(r)
		err := b.Execute(r.Context(), func(context.Context) error {
			next.ServeHTTP(sw, r)
			var err error
			if sw.Status() >= 400 {
				err = &outcome.StatusError{Status: sw.Status()}
			}
			return body.Abort(sw.Status(), err)
		})
		if re, ok := err.(*RejectedError); ok {
			writeRejection(w, re)
		}
	})
}

func writeRejection(w http.ResponseWriter, e *RejectedError) {
	secs := httperr.RetryAfterSeconds(e.RetryAfter)
	w.Header().Set("Retry-After", strconv.FormatInt(secs, 10))
	msg := "upstream is unavailable (circuit open), retry after " + (time.Duration(secs) * time.Second).String()
	if e.State == HalfOpen {
		msg = "upstream is being probed (circuit half-open), retry after " + (time.Duration(secs) * time.Second).String()
	}
	httperr.Write(w, http.StatusServiceUnavailable, "circuit_open", msg)
}
