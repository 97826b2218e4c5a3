package gateway

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httputil"
	"net/url"

	"github.com/go-kit/kit/endpoint"

	"github.com/switchyard/switchyard/balancer"
	"github.com/switchyard/switchyard/discovery"
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
	path   string // escaped upstream path
	target *url.URL
	// Set by the ReverseProxy hooks of the latest attempt.
	err     error
	status  int
	started bool // the upstream answered: the response is being written
}

type callKey struct{}

// statusError is the error an attempt returns when the upstream answered
// with a server error, so the balancer's classifier counts it against the
// instance. The response itself has already gone to the client.
type statusError int

func (e statusError) Error() string   { return fmt.Sprintf("gateway: upstream answered %d", int(e)) }
func (e statusError) StatusCode() int { return int(e) }

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
	bodyless := r.Body == nil || r.Body == http.NoBody || r.ContentLength == 0
	if !bodyless {
		r.Body = http.MaxBytesReader(w, r.Body, g.maxBody)
	}
	ctx := r.Context()
	if rt.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, rt.Timeout)
		defer cancel()
	}
	c := &call{w: w, path: path}
	c.r = r.WithContext(context.WithValue(ctx, callKey{}, c))

	attempts := 1
	if rt.Retries > 0 && bodyless && idempotent(r) {
		attempts += rt.Retries
	}
	budget := rt.up.budget
	if budget != nil {
		budget.Deposit()
	}
	for attempt := 1; ; attempt++ {
		// The balancer classifies each attempt against the client's own
		// context, not the route timeout's: a timeout is the upstream's
		// failure and must count against it, a client that left is not.
		// The attempt itself runs under the timeout through c.r.
		_, err = rt.up.bal.Call(r.Context(), c)
		if err == nil || c.started || ctx.Err() != nil || attempt >= attempts || errors.Is(err, balancer.ErrNoHosts) {
			break
		}
		if budget != nil && !budget.TryWithdraw() {
			break
		}
	}
	if err == nil || c.started {
		return
	}
	var tooBig *http.MaxBytesError
	switch {
	case errors.As(err, &tooBig):
		writeError(w, http.StatusRequestEntityTooLarge, CodeBodyTooLarge, fmt.Sprintf("request body exceeds %d bytes", g.maxBody))
	case errors.Is(err, balancer.ErrNoHosts):
		writeError(w, http.StatusServiceUnavailable, CodeNoUpstream, "no healthy instance of "+rt.Service)
	case errors.Is(ctx.Err(), context.DeadlineExceeded):
		writeError(w, http.StatusGatewayTimeout, CodeDeadline, "the upstream did not answer in time")
	case r.Context().Err() != nil:
		// The client went away; nobody is left to answer.
	default:
		g.log.Warn("gateway: upstream failed", "service", rt.Service, "path", rt.Pattern, "error", err)
		writeError(w, http.StatusBadGateway, CodeUpstreamFailed, "the upstream failed")
	}
}

// idempotent reports whether r may be sent twice: a safe or idempotent
// method, or any request carrying an Idempotency-Key.
func idempotent(r *http.Request) bool {
	switch r.Method {
	case http.MethodGet, http.MethodHead, http.MethodOptions, http.MethodPut, http.MethodDelete, http.MethodTrace:
		return true
	}
	return r.Header.Get("Idempotency-Key") != ""
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
		g.proxy.ServeHTTP(c.w, c.r)
		if c.err != nil {
			return nil, c.err
		}
		// 5xx, and 429 (this instance is overloaded), count against the
		// instance through outcome.Default; other 4xx are the client's.
		if c.status >= 500 || c.status == http.StatusTooManyRequests {
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

func recordResponse(resp *http.Response) error {
	c := resp.Request.Context().Value(callKey{}).(*call)
	c.status = resp.StatusCode
	c.started = true
	return nil
}
