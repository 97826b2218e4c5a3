package metrics

import (
	"context"
	"net/http"

	"github.com/switchyard/switchyard/internal/reqbody"
	"github.com/switchyard/switchyard/internal/respwriter"
	"github.com/switchyard/switchyard/outcome"
)

// Unmatched is the operation recorded by [Metrics.Handler] without a bound
// operation for a request that no [http.ServeMux] pattern matched.
const Unmatched = "unmatched"

// AllRoutes is the operation under which [Metrics.Handler] without a
// bound operation keeps its in-flight count, since the route is known only after the
// request has been routed.
const AllRoutes = "*"

// Handler wraps next so that each request is counted and timed like a call
// of [Metrics.Endpoint], under the operation bound with [Metrics.Operation].
//
// Without a bound operation (the Metrics [New] returns) the operation is
// the [http.ServeMux] pattern that
// matched the request inside next ("GET /items/{id}"), or [Unmatched];
// the in-flight count is then kept under [AllRoutes]. Raw paths are never
// used, so the number of series stays bounded.
//
// The outcome class comes from the status code through the same rule as
// for endpoint errors (by default [outcome.Default]): 5xx are server
// failures, 4xx (429 included) caller faults, and an error status is
// "canceled" when the client went away before the handler finished. A
// request the client broke itself is "aborted", whatever the status: its
// body failed to read (broken chunked framing, a hang-up mid-upload, a
// read error), or the answer was 413 or 408. A
// panic in next is recorded as a 500 and re-raised.
//
// The method value m.Handler is a func(http.Handler) http.Handler, usable
// as route middleware.
func (m *Metrics) Handler(next http.Handler) http.Handler {
	if m.noop {
		return next
	}
	if m.op != "" {
		s := m.sets
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			ctx := r.Context()
			m.inflight.Add(ctx, 1, s.base...)
			start := m.now()
			rw := respwriter.New(w)
			body := reqbody.Watch(r)
			defer func() {
				p := recover()
				d := m.now().Sub(start).Seconds()
				m.inflight.Add(ctx, -1, s.base...)
				m.record(ctx, s, d, m.statusClass(ctx, body, status(rw, p)))
				if p != nil {
					panic(p)
				}
			}()
			next.ServeHTTP(rw, r)
		})
	}
	all := newOpSets(AllRoutes)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx := r.Context()
		m.inflight.Add(ctx, 1, all.base...)
		start := m.now()
		rw := respwriter.New(w)
		body := reqbody.Watch(r)
		defer func() {
			p := recover()
			d := m.now().Sub(start).Seconds()
			m.inflight.Add(ctx, -1, all.base...)
			// An inner ServeMux has written the matched pattern into r.
			m.record(ctx, m.routeSets(r.Pattern), d, m.statusClass(ctx, body, status(rw, p)))
			if p != nil {
				panic(p)
			}
		}()
		next.ServeHTTP(rw, r)
	})
}

func (m *instruments) routeSets(pattern string) *opSets {
	if pattern == "" {
		pattern = Unmatched
	}
	return m.lookup(hookKey{kind: 'p', a: pattern}, func() *hookEntry {
		return &hookEntry{ops: newOpSets(pattern)}
	}).ops
}

// status is what the client sees: 500 when the handler panicked, since
// net/http then drops the connection or answers with an error.
func status(rw *respwriter.Writer, panicked any) int {
	if panicked != nil {
		return http.StatusInternalServerError
	}
	return rw.StatusOr200()
}

func (m *instruments) statusClass(ctx context.Context, body *reqbody.Body, status int) outcome.Class {
	var err error
	if status >= 400 {
		// The classifier judges the status like the error a client
		// would have seen.
		err = &outcome.StatusError{Status: status}
	}
	if err = body.Abort(status, err); err == nil {
		return outcome.Success
	}
	return m.classify(ctx, err)
}
