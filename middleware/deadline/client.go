package deadline

import (
	"context"
	"net/http"
	"time"

	kithttp "github.com/go-kit/kit/transport/http"
)

// headerFor returns the Header value for a call made now with ctx, and
// whether ctx has a deadline at all. A value of "0" means no time is left.
func (c *Deadline) headerFor(ctx context.Context) (left time.Duration, ok bool) {
	dl, ok := ctx.Deadline()
	if !ok {
		return 0, false
	}
	return dl.Sub(c.clk.Now()) - c.allowance, true
}

// Transport returns an http.RoundTripper that sends, with every request
// whose context has a deadline, the time left (minus HopAllowance) in the
// [Header], replacing any value already there. A request with less than a
// millisecond left (or no more than MinBudget) is not sent: RoundTrip
// returns an [*Error] matching [ErrExceeded] at once. Requests without a
// deadline are sent unchanged. base nil means http.DefaultTransport.
//
// Used as the base of a retrying transport (middleware/retry's
// Retry.Transport), each attempt carries the time left when it starts.
// The RoundTripper is safe for concurrent use; its CloseIdleConnections
// closes base's.
func (d *Deadline) Transport(base http.RoundTripper) http.RoundTripper {
	if base == nil {
		base = http.DefaultTransport
	}
	return &transport{Deadline: d, base: base}
}

type transport struct {
	*Deadline
	base http.RoundTripper
}

func (t *transport) RoundTrip(req *http.Request) (*http.Response, error) {
	ctx := req.Context()
	left, ok := t.headerFor(ctx)
	if !ok {
		return t.base.RoundTrip(req)
	}
	if left < time.Millisecond || left <= t.minBudget {
		if req.Body != nil {
			_ = req.Body.Close() // a RoundTripper closes the body, even on error
		}
		event(ctx, EventExceeded, ReasonBeforeSend, left)
		if t.hooks.OnExceeded != nil {
			t.hooks.OnExceeded(ReasonBeforeSend)
		}
		return nil, exceeded("no time left to send the request", ctx.Err())
	}
	r := new(http.Request)
	*r = *req // a RoundTripper must not modify the caller's request
	r.Header = req.Header.Clone()
	if r.Header == nil {
		r.Header = make(http.Header, 1)
	}
	r.Header.Set(Header, FormatHeader(left))
	return t.base.RoundTrip(r)
}

// CloseIdleConnections closes the base transport's idle connections, when
// it can.
func (t *transport) CloseIdleConnections() {
	if c, ok := t.base.(interface{ CloseIdleConnections() }); ok {
		c.CloseIdleConnections()
	}
}

// ClientBefore is a go-kit ClientBefore function (the method value
// d.ClientBefore is a kithttp.RequestFunc) that writes the time left in
// ctx (minus HopAllowance) to the request's [Header], or removes the
// header when ctx has no deadline. It cannot refuse to send; put
// [Deadline.Endpoint] on the client endpoint to fail fast instead of
// sending a request with no time left (which a server answers with a
// quick 504).
func (d *Deadline) ClientBefore(ctx context.Context, r *http.Request) context.Context {
	if left, ok := d.headerFor(ctx); ok {
		r.Header.Set(Header, FormatHeader(left))
	} else {
		r.Header.Del(Header)
	}
	return ctx
}

var _ kithttp.RequestFunc = (*Deadline)(nil).ClientBefore
