package gateway

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httputil"
	"net/url"
	"time"

	"github.com/go-kit/kit/endpoint"

	"github.com/switchyard/switchyard/balancer"
	"github.com/switchyard/switchyard/discovery"
	"github.com/switchyard/switchyard/middleware/circuitbreaker"
	"github.com/switchyard/switchyard/outcome"
)

type route struct {
	Route
	tmpl *template
	up   *upstream
	gw   *Gateway
}

// call is one proxied request, handed to the balancer as the endpoint's
// request and to ReverseProxy's hooks through the request context.
type call struct {
	w      http.ResponseWriter
	r      *http.Request
	path   string      // escaped upstream path
	body   *clientBody // nil for a bodiless request
	up     *upstream
	target *url.URL
	// retry lets the response hook hold back a retryable 5xx instead of
	// passing it to the client, for an attempt that may be followed by
	// another; withdrawn records that the hook spent the retry budget.
	retry     bool
	withdrawn bool
	// Set by the ReverseProxy hooks of the latest attempt.
	err     error
	status  int
	sent    time.Time // when the attempt started, for the latency sample
	started bool      // the upstream answered: the response is being written
}

type callKey struct{}

// statusError is the error an attempt returns when the upstream answered
// with a server error, so the balancer's classifier counts it against the
// instance. The response itself has already gone to the client, or was
// held back for a retry.
type statusError int

func (e statusError) Error() string   { return fmt.Sprintf("gateway: upstream answered %d", int(e)) }
func (e statusError) StatusCode() int { return int(e) }

// clientBody is the client's request body as the upstream reads it. A
// read error other than io.EOF is the client's fault (broken chunked
// framing, a body over the limit, a hang-up mid-upload): it is kept so
// that the attempt is classified [outcome.Aborted] whatever error the
// transport reports, and returned marked with [outcome.Abort] so that
// layers below the balancer (a per-host breaker in the transport) see it
// the same way.
type clientBody struct {
	rc  io.ReadCloser
	err error // the first read error other than io.EOF
}

func (b *clientBody) Read(p []byte) (int, error) {
	n, err := b.rc.Read(p)
	if err != nil && err != io.EOF {
		if b.err == nil {
			b.err = err
		}
		return n, outcome.Abort(err)
	}
	return n, err
}

func (b *clientBody) Close() error { return b.rc.Close() }

func (rt *route) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	g := rt.gw
	if r.ContentLength > g.maxBody {
		writeError(w, http.StatusRequestEntityTooLarge, CodeBodyTooLarge, fmt.Sprintf("request body exceeds %d bytes", g.maxBody))
		return
	}
	path, err := rt.tmpl.upstreamPath(r)
	if err != nil {
		writeError(w, http.StatusBadRequest, CodeBadPath, "the request path cannot be forwarded")
		return
	}
	c := &call{w: w, path: path, up: rt.up}
	bodyless := r.Body == nil || r.Body == http.NoBody || r.ContentLength == 0
	if !bodyless {
		c.body = &clientBody{rc: http.MaxBytesReader(w, r.Body, g.maxBody)}
		r.Body = c.body
	}
	// The route's budget ends with outcome.ErrTimeout as its cause, so
	// that an upstream that outlasts it is counted as failing even when
	// the request also carries a deadline of its own (a server's default
	// deadline, or a client's header asking for more).
	ctx := r.Context()
	if rt.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = outcome.WithTimeout(ctx, rt.Timeout)
		defer cancel()
	}
	idem := rt.idempotent(r)
	attempts := 1
	if rt.Retries > 0 && bodyless && idem {
		attempts += rt.Retries
	}
	budget := rt.up.budget
	if budget != nil {
		budget.Deposit()
	}
attempts:
	for attempt := 1; ; attempt++ {
		// Every attempt but the last of a request that may be retried
		// gets a timeout derived from the latency this upstream has shown,
		// so that an instance that accepts connections and never answers
		// costs a reader one such timeout, not the route's whole budget.
		// The attempt is classified against its own context: its timeout,
		// like the route's, counts against the instance; a client that
		// left, or whose own deadline passed, is neutral.
		actx, acancel := ctx, context.CancelFunc(nil)
		last := attempt >= attempts
		if !last && rt.up.attempt != nil {
			actx, acancel = outcome.WithTimeout(ctx, rt.up.attempt.timeout())
		}
		c.retry, c.withdrawn = !last, false
		c.r = r.WithContext(context.WithValue(actx, callKey{}, c))
		_, err = rt.up.bal.Call(actx, c)
		class := outcome.Success
		if err != nil {
			class = rt.up.classify(actx, err)
		}
		if acancel != nil {
			acancel()
		}
		if err == nil || c.started || last || r.Context().Err() != nil || ctx.Err() != nil {
			break
		}
		switch class {
		case outcome.ServerFailure, outcome.Skipped:
		default:
			// Aborted, Canceled, or a verdict on the request itself: no
			// other instance would do better.
			break attempts
		}
		if errors.Is(err, balancer.ErrNoHosts) {
			break
		}
		if !c.withdrawn && budget != nil && !budget.TryWithdraw() {
			break
		}
	}
	if err == nil || c.started {
		return
	}
	rt.fail(w, r, ctx, c, err)
}

// fail answers a request whose last attempt failed before any response
// reached the client.
func (rt *route) fail(w http.ResponseWriter, r *http.Request, ctx context.Context, c *call, err error) {
	g := rt.gw
	var tooBig *http.MaxBytesError
	if c.body != nil && c.body.err != nil {
		// The client's own body failed: its fault, whatever the transport
		// made of it, and nothing the upstream is blamed for.
		switch {
		case errors.As(c.body.err, &tooBig):
			writeError(w, http.StatusRequestEntityTooLarge, CodeBodyTooLarge, fmt.Sprintf("request body exceeds %d bytes", g.maxBody))
		case r.Context().Err() != nil:
			g.log.Info("gateway: client left during its upload", "service", rt.Service, "path", rt.Pattern, "error", c.body.err)
			writeClientClosed(w)
		default:
			g.log.Info("gateway: unreadable request body", "service", rt.Service, "path", rt.Pattern, "error", c.body.err)
			writeError(w, http.StatusBadRequest, CodeBadBody, "the request body could not be read")
		}
		return
	}
	var rejected *circuitbreaker.RejectedError
	switch {
	case r.Context().Err() != nil:
		writeClientClosed(w)
	case errors.Is(err, balancer.ErrNoHosts):
		writeOverloaded(w, time.Second, CodeNoUpstream, "no healthy instance of "+rt.Service)
	case errors.Is(ctx.Err(), context.DeadlineExceeded):
		writeError(w, http.StatusGatewayTimeout, CodeDeadline, "the upstream did not answer in time")
	case errors.As(err, &rejected) || rt.up.classify(ctx, err) == outcome.Skipped:
		// Every instance tried was refused by a local guard (an open
		// breaker): the service is overloaded, not broken.
		after := time.Second
		if rejected != nil && rejected.RetryAfter > after {
			after = rejected.RetryAfter
		}
		writeOverloaded(w, after, CodeNoUpstream, "every instance of "+rt.Service+" is refusing requests")
	default:
		g.log.Warn("gateway: upstream failed", "service", rt.Service, "path", rt.Pattern, "error", err)
		writeError(w, http.StatusBadGateway, CodeUpstreamFailed, "the upstream failed")
	}
}

// idempotent reports whether r may be sent twice: the route says so, or
// (by default) its method is safe or idempotent, or it carries an
// Idempotency-Key.
func (rt *route) idempotent(r *http.Request) bool {
	switch rt.Idempotent {
	case IdempotentAlways:
		return true
	case IdempotentNever:
		return false
	}
	switch r.Method {
	case http.MethodGet, http.MethodHead, http.MethodOptions, http.MethodPut, http.MethodDelete, http.MethodTrace:
		return true
	}
	return r.Header.Get("Idempotency-Key") != ""
}

// retryableStatus reports whether an answer with status may be held back
// and the request sent to another instance instead: the server errors
// that say "this instance cannot serve it now". 501 and 505 are answers
// about the request that every instance would repeat.
func retryableStatus(status int) bool {
	switch status {
	case http.StatusInternalServerError, http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout:
		return true
	}
	return false
}

// factory makes the per-instance endpoint the balancer calls: it points
// the shared ReverseProxy at the instance and reports how the attempt went.
func (g *Gateway) factory(inst discovery.Instance) (endpoint.Endpoint, io.Closer, error) {
	target := &url.URL{Scheme: "http", Host: inst.Addr}
	if inst.Meta["scheme"] == "https" {
		target.Scheme = "https"
	}
	return func(ctx context.Context, req any) (any, error) {
		c := req.(*call)
		c.target, c.err, c.status = target, nil, 0
		if c.up.attempt != nil {
			c.sent = time.Now()
		}
		g.proxy.ServeHTTP(c.w, c.r)
		if c.body != nil && c.body.err != nil {
			return nil, outcome.Abort(c.body.err)
		}
		if c.err != nil {
			return nil, c.err
		}
		// 5xx count against the instance through outcome.Default; 4xx,
		// 429 included, are answers about the client.
		if c.status >= 500 {
			return nil, statusError(c.status)
		}
		return nil, nil
	}, nil, nil
}

// rewrite is the ReverseProxy's Rewrite hook. ReverseProxy has already
// removed hop-by-hop headers (including any a client listed in
// Connection) and the client's X-Forwarded-* headers from pr.Out.
func rewrite(pr *httputil.ProxyRequest) {
	c := pr.In.Context().Value(callKey{}).(*call)
	pr.SetURL(c.target)
	pr.Out.URL.RawPath = c.path
	if p, err := url.PathUnescape(c.path); err == nil {
		pr.Out.URL.Path = p
	}
	pr.Out.Host = ""
	pr.SetXForwarded()
}

func recordError(_ http.ResponseWriter, r *http.Request, err error) {
	c := r.Context().Value(callKey{}).(*call)
	if err == nil {
		err = errors.New("gateway: proxy error")
	}
	c.err = err
}

// errHeldBack is what recordResponse returns for an answer it keeps from
// the client so that the request can be sent to another instance;
// ReverseProxy then discards the response and calls recordError with it.
var errHeldBack = errors.New("gateway: retryable answer held back")

func recordResponse(resp *http.Response) error {
	c := resp.Request.Context().Value(callKey{}).(*call)
	c.status = resp.StatusCode
	if c.up.attempt != nil && resp.StatusCode < 500 {
		c.up.attempt.observe(time.Since(c.sent))
	}
	if c.retry && retryableStatus(resp.StatusCode) && (c.up.budget == nil || c.up.budget.TryWithdraw()) {
		c.withdrawn = true
		return fmt.Errorf("%w: %w", errHeldBack, statusError(resp.StatusCode))
	}
	c.started = true
	return nil
}
