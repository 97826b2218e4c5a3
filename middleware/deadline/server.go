package deadline

import (
	"context"
	"errors"
	"net/http"
	"sync"
	"time"

	kithttp "github.com/go-kit/kit/transport/http"

	"github.com/switchyard/switchyard/internal/clock"
	"github.com/switchyard/switchyard/internal/httperr"
	"github.com/switchyard/switchyard/outcome"
)

// budgetOf reads the budget a request carries: ok is false without a
// header; a malformed header (or several) is an [*Error] with status 400.
// The budget is capped at c.max; capped reports that the cap applied.
func (c *Deadline) budgetOf(r *http.Request) (d time.Duration, ok, capped bool, err error) {
	vs := r.Header.Values(Header)
	switch len(vs) {
	case 0:
		return 0, false, false, nil
	case 1:
	default:
		return 0, false, false, badHeader(Header + " appears more than once")
	}
	d, err = ParseHeader(vs[0])
	if err != nil {
		return 0, false, false, err
	}
	return min(d, c.max), true, d >= c.max, nil
}

// deadlineFor returns the deadline a request received at now must meet:
// the earlier of its header's budget and ctx's own deadline, or the
// default budget when it has neither. own reports that the deadline is
// this server's budget rather than the caller's: the default, or a header
// capped at c.max. Only then does its expiry count against whoever this
// server is waiting for (see [outcome.ErrTimeout]); a deadline the caller
// chose running out is the caller giving up.
func (c *Deadline) deadlineFor(ctx context.Context, r *http.Request, now time.Time) (dl time.Time, has, own bool, err error) {
	budget, has, capped, err := c.budgetOf(r)
	if err != nil {
		return time.Time{}, false, false, err
	}
	if has {
		dl, own = now.Add(budget), capped
	}
	if local, ok := ctx.Deadline(); ok && (!has || local.Before(dl)) {
		// An earlier deadline already set keeps its own cause.
		dl, has, own = local, true, false
	}
	if !has && c.def > 0 {
		dl, has, own = now.Add(c.def), true, true
	}
	return dl, has, own, nil
}

// causeOf is the cause a request context's deadline is given.
func causeOf(own bool) error {
	if own {
		return outcome.ErrTimeout
	}
	return nil
}

// Handler returns next wrapped in a handler that gives each request the
// deadline its [Header] asks for and answers 504 when it cannot be met;
// the method value d.Handler is a func(http.Handler) http.Handler.
//
// A request whose header is malformed (not one to ten digits, several
// values, a leading zero; see [ParseHeader]) is answered 400 with the JSON
// body {"error":{"code":"bad_deadline","message":…}}. Otherwise the
// request's deadline is the earliest of the header's budget (capped at
// Max), any deadline its context already has, and — for requests with
// neither — the Default budget. A request with no more than MinBudget
// left is answered 504 at once with
// {"error":{"code":"deadline_exceeded",…}} and next is not called. Else
// next runs with the deadline set on the request's context; if the
// deadline passes before next has begun its response, the client gets the
// 504 at the deadline, even if next ignores its context, and whatever next
// writes after that is discarded. A response begun before the deadline is
// left alone. Requests without any deadline pass straight through.
//
// The deadline's kind travels with it: when it is this server's own — the
// default, or a header's budget cut to Max — context.Cause of the
// request's context is [outcome.ErrTimeout] once it passes, so a call
// made under it that runs out counts against the callee; a deadline the
// caller chose is the caller's, and its running out is neutral. Set Max
// to Default at an edge so that a client's header can shorten the
// server's budget but never lengthen it.
//
// next sees a ResponseWriter of its own (it supports http.Flusher, not
// http.Hijacker), so that the 504 can be written from the timer without
// racing next's header map. Outgoing calls made with the request's
// context carry the deadline on if their transport is
// [Deadline.Transport] or their go-kit client uses
// [Deadline.ClientBefore].
func (d *Deadline) Handler(next http.Handler) http.Handler {
	return &handler{Deadline: d, next: next}
}

type handler struct {
	*Deadline
	next http.Handler
}

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	now := h.clk.Now()
	dl, has, own, err := h.deadlineFor(ctx, r, now)
	if err != nil {
		var e *Error
		errors.As(err, &e)
		event(ctx, EventBadHeader, "malformed", 0)
		if h.hooks.OnBadHeader != nil {
			h.hooks.OnBadHeader()
		}
		writeError(w, e)
		return
	}
	if !has {
		h.next.ServeHTTP(w, r)
		return
	}
	left := dl.Sub(now)
	if left <= h.minBudget {
		h.exceeded(ctx, ReasonOnArrival, left)
		writeError(w, exceeded("deadline exceeded on arrival", nil))
		return
	}
	ctx, cancel := clock.WithDeadlineCause(ctx, h.clk, dl, causeOf(own))
	defer cancel()
	gw := &guardWriter{h: h, ctx: ctx, w: w, deadline: dl, header: make(http.Header)}
	stop := h.clk.AfterFunc(left, func() {
		if gw.timeout() {
			h.exceeded(ctx, ReasonTimeout, 0)
		}
	})
	h.next.ServeHTTP(gw, r.WithContext(ctx))
	stop()
	if gw.finish() {
		h.exceeded(ctx, ReasonTimeout, 0)
	}
}

// exceeded reports a 504 decision.
func (c *Deadline) exceeded(ctx context.Context, reason string, left time.Duration) {
	event(ctx, EventExceeded, reason, left)
	if c.hooks.OnExceeded != nil {
		c.hooks.OnExceeded(reason)
	}
}

// writeError writes e as the library's JSON error answer.
func writeError(w http.ResponseWriter, e *Error) {
	httperr.Write(w, e.Status, e.Code, e.Message)
}

// guardWriter stands between next and the real ResponseWriter so that the
// 504 and next's response never mix: whichever comes first after the
// deadline wins, and next's header map is its own until it writes.
type guardWriter struct {
	h        *handler
	ctx      context.Context // the request's, for span events
	w        http.ResponseWriter
	deadline time.Time
	header   http.Header // next's headers, copied to w when it writes

	mu          sync.Mutex // guards wroteHeader, timedOut and every use of w
	wroteHeader bool
	timedOut    bool
}

func (g *guardWriter) Header() http.Header { return g.header }

// writeHeaderLocked starts next's response, or the 504 instead if the
// deadline has passed. It reports whether next's response goes out; it
// also returns true if it answered 504 now, through timedNow.
func (g *guardWriter) writeHeaderLocked(code int) (ok, timedNow bool) {
	if g.timedOut {
		return false, false
	}
	if g.wroteHeader {
		return true, false
	}
	if !g.h.clk.Now().Before(g.deadline) {
		g.timedOut = true
		writeError(g.w, exceeded("deadline exceeded", nil))
		return false, true
	}
	dst := g.w.Header()
	for k, v := range g.header {
		dst[k] = v
	}
	g.wroteHeader = true
	g.w.WriteHeader(code)
	return true, false
}

func (g *guardWriter) WriteHeader(code int) {
	if code >= 100 && code < 200 && code != http.StatusSwitchingProtocols {
		// Informational responses do not start the response proper.
		g.mu.Lock()
		if !g.timedOut && !g.wroteHeader {
			dst := g.w.Header()
			for k, v := range g.header {
				dst[k] = v
			}
			g.w.WriteHeader(code)
		}
		g.mu.Unlock()
		return
	}
	g.mu.Lock()
	_, timedNow := g.writeHeaderLocked(code)
	g.mu.Unlock()
	if timedNow {
		g.h.exceeded(g.ctx, ReasonTimeout, 0)
	}
}

func (g *guardWriter) Write(p []byte) (int, error) {
	g.mu.Lock()
	ok, timedNow := g.writeHeaderLocked(http.StatusOK)
	if !ok {
		g.mu.Unlock()
		if timedNow {
			g.h.exceeded(g.ctx, ReasonTimeout, 0)
		}
		return 0, http.ErrHandlerTimeout
	}
	n, err := g.w.Write(p)
	g.mu.Unlock()
	return n, err
}

// Flush sends what next has written so far, starting its response if it
// has not.
func (g *guardWriter) Flush() {
	g.mu.Lock()
	ok, timedNow := g.writeHeaderLocked(http.StatusOK)
	if ok {
		_ = http.NewResponseController(g.w).Flush()
	}
	g.mu.Unlock()
	if timedNow {
		g.h.exceeded(g.ctx, ReasonTimeout, 0)
	}
}

// timeout answers 504 if next has not begun its response, and reports
// whether it did.
func (g *guardWriter) timeout() bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.wroteHeader || g.timedOut {
		return false
	}
	g.timedOut = true
	writeError(g.w, exceeded("deadline exceeded", nil))
	_ = http.NewResponseController(g.w).Flush()
	return true
}

// finish completes a response next left empty — a 200, or a 504 if the
// deadline has passed — and reports whether it answered 504.
func (g *guardWriter) finish() bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.wroteHeader || g.timedOut {
		return false
	}
	_, timedNow := g.writeHeaderLocked(http.StatusOK)
	return timedNow
}

type errorKey struct{}

// ServerBefore is a go-kit ServerBefore function (the method value
// d.ServerBefore is a kithttp.RequestFunc) that does for a go-kit server
// what [Deadline.Handler] does for a plain one, minus the writing: it sets
// the context's deadline from the [Header] (with the same rules), or, if
// the header is malformed, records the error in the context. Pair it with
// [Deadline.Endpoint] on the server's endpoint, which returns the recorded
// error (status 400) or a 504 [Error] when the deadline has passed, before
// calling the service; go-kit's DefaultErrorEncoder writes them as JSON
// with their status.
//
// The deadline's timer is released when the request's context ends, which
// net/http does when the handler returns.
func (d *Deadline) ServerBefore(ctx context.Context, r *http.Request) context.Context {
	dl, has, own, err := d.deadlineFor(ctx, r, d.clk.Now())
	if err != nil {
		return context.WithValue(ctx, errorKey{}, err)
	}
	if !has {
		return ctx
	}
	ctx, cancel := clock.WithDeadlineCause(ctx, d.clk, dl, causeOf(own))
	// The request context's end cancels ctx too; this only makes sure
	// the timer goes with it even on clocks that are not the real one.
	context.AfterFunc(ctx, cancel)
	return ctx
}

var _ kithttp.RequestFunc = (*Deadline)(nil).ServerBefore
