package gateway

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httputil"
	"net/url"
	"sync"
	"time"

	"github.com/go-kit/kit/endpoint"

	"github.com/switchyard/switchyard/balancer"
	"github.com/switchyard/switchyard/discovery"
	"github.com/switchyard/switchyard/internal/httperr"
	"github.com/switchyard/switchyard/middleware/circuitbreaker"
	"github.com/switchyard/switchyard/outcome"
)

type route struct {
	Route
	tmpl    *template
	up      *upstream
	gw      *Gateway
	attempt *attemptTimer // nil when attempt timeouts are off
}

// call is one proxied request, handed to the balancer as the endpoint's
// request and to ReverseProxy's hooks through the request context.
type call struct {
	w      http.ResponseWriter
	r      *http.Request
	path   string      // escaped upstream path
	body   *clientBody // nil for a bodiless request
	replay []byte      // the whole body, read ahead so that it can be sent again
	up     *upstream
	timer  *attemptTimer
	target *url.URL
	// retry lets the response hook hold back a retryable 5xx instead of
	// passing it to the client, for an attempt that may be followed by
	// another; withdrawn records that the hook spent the retry budget.
	retry     bool
	withdrawn bool
	// stopAttempt ends the current attempt's timeout once the upstream's
	// answer has begun: the timeout is for the wait for an answer, and
	// must not cut off a response body that a slow client reads slowly.
	stopAttempt func() bool
	// tried holds the instance IDs of the attempts made so far, recorded
	// by the factory's endpoint as each attempt starts: the balancer asks
	// Tried about each pick, so that a retry goes to an instance the
	// request has not tried (balancer.TriedHosts). It starts on triedBuf,
	// which holds the attempts of the default two retries.
	tried    []string
	triedBuf [3]string
	// Set by the ReverseProxy hooks of the latest attempt.
	err     error
	status  int
	sent    time.Time // when the attempt started, for the latency sample
	started bool      // the upstream answered: the response is being written
	cut     bool      // the response was cut off after it had begun
}

var _ balancer.TriedHosts = (*call)(nil)

// Tried reports whether an earlier attempt of the request went to h.
func (c *call) Tried(h *balancer.Host) bool {
	for _, id := range c.tried {
		if id == h.Instance.ID {
			return true
		}
	}
	return false
}

type callKey struct{}

// clientBody is the client's request body as the upstream reads it. A
// read error other than io.EOF is the client's fault (broken chunked
// framing, a body over the limit, a hang-up mid-upload): it is kept so
// that the attempt is classified [outcome.Aborted] whatever error the
// transport reports, and returned marked with [outcome.Abort] so that
// layers below the balancer (a per-host breaker in the transport) see it
// the same way.
//
// The transport reads the body on a goroutine of its own, which may still
// run when the upstream has answered early; mu orders its write of err
// with the handler's reads.
type clientBody struct {
	rc  io.ReadCloser
	mu  sync.Mutex // guards err
	err error      // the first read error other than io.EOF
}

func (b *clientBody) Read(p []byte) (int, error) {
	n, err := b.rc.Read(p)
	if err != nil && err != io.EOF {
		b.mu.Lock()
		if b.err == nil {
			b.err = err
		}
		b.mu.Unlock()
		return n, outcome.Abort(err)
	}
	return n, err
}

func (b *clientBody) Close() error { return b.rc.Close() }

// failed returns the first read error other than io.EOF, or nil.
func (b *clientBody) failed() error {
	if b == nil {
		return nil
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.err
}

// maxReplayBody is the largest request body the gateway reads ahead and
// keeps, so that an idempotent request with a body (a PUT, a POST with an
// Idempotency-Key) can be retried on another instance. A larger body is
// streamed to one instance and not retried.
const maxReplayBody = 64 << 10

// errCutOff is an attempt's error when the response, already begun, was
// cut off because the request's context ended — the client left or read
// too slowly for the route's budget. The instance answered in time, so
// this is not held against it.
var errCutOff = outcome.Abort(errors.New("gateway: response cut off after it had begun"))

// errUpstreamBroke is an attempt's error when the response, already
// begun, broke on the upstream's side: a failure of the instance.
var errUpstreamBroke = errors.New("gateway: upstream response broke off")

func (rt *route) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	g := rt.gw
	if r.ContentLength > g.maxBody {
		httperr.Write(w, http.StatusRequestEntityTooLarge, CodeBodyTooLarge, fmt.Sprintf("request body exceeds %d bytes", g.maxBody))
		return
	}
	path, err := rt.tmpl.upstreamPath(r)
	if err != nil {
		httperr.Write(w, http.StatusBadRequest, CodeBadPath, "the request path cannot be forwarded")
		return
	}
	c := &call{w: w, path: path, up: rt.up, timer: rt.attempt}
	c.tried = c.triedBuf[:0]
	bodyless := r.Body == nil || r.Body == http.NoBody || r.ContentLength == 0
	idem := rt.idempotent(r)
	replayable := bodyless
	if !bodyless {
		c.body = &clientBody{rc: http.MaxBytesReader(w, r.Body, g.maxBody)}
		r.Body = c.body
		if idem && rt.Retries > 0 && r.ContentLength <= maxReplayBody {
			// Read a small body ahead, so that the request can be sent
			// again; one that breaks is the client's fault, answered
			// before any instance is troubled with it.
			if replayable = rt.readAhead(c, r); c.body.failed() != nil {
				rt.fail(w, r, r.Context(), c, c.body.failed())
				return
			}
		}
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
	attempts := 1
	if rt.Retries > 0 && replayable && idem {
		attempts += rt.Retries
	}
	budget := rt.up.budget
	if budget != nil {
		budget.Deposit()
	}
attempts:
	for attempt := 1; ; attempt++ {
		last := attempt >= attempts
		actx, acancel := rt.attemptContext(ctx, c, last)
		c.retry, c.withdrawn, c.cut = !last, false, false
		if c.replay != nil {
			r.Body = io.NopCloser(bytes.NewReader(c.replay))
		}
		c.r = r.WithContext(context.WithValue(actx, callKey{}, c))
		_, err = rt.up.bal.Call(actx, c)
		class := outcome.Success
		if err != nil {
			class = rt.up.classify(actx, err)
		}
		acancel()
		if c.cut {
			// The response had begun; net/http must abort the client's
			// connection rather than end the response as if it were whole.
			panic(http.ErrAbortHandler)
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

// readAhead reads the body of r into c.replay when it fits in
// maxReplayBody and reports whether it did. A larger body is left to
// stream: what was read ahead goes first.
func (rt *route) readAhead(c *call, r *http.Request) bool {
	buf, err := io.ReadAll(io.LimitReader(c.body, maxReplayBody+1))
	if err != nil {
		return false // c.body has kept the error
	}
	if len(buf) > maxReplayBody {
		r.Body = struct {
			io.Reader
			io.Closer
		}{io.MultiReader(bytes.NewReader(buf), c.body), c.body}
		return false
	}
	c.replay = buf
	r.ContentLength = int64(len(buf))
	r.Header.Del("Transfer-Encoding")
	r.TransferEncoding = nil
	return true
}

// attemptContext returns the context of one attempt. Every attempt but the
// last of a request that may be retried gets a timeout derived from the
// latency the route has shown, so that an instance that accepts
// connections and never answers costs a reader one such timeout, not the
// route's whole budget; the last runs under what is left of the route's
// budget, so that a request that is merely slow is still answered. The
// timeout covers only the wait for the answer: recordResponse stops it
// when the answer begins. It ends the attempt with outcome.ErrTimeout as
// its cause, so it counts against the instance, while a client that left,
// or whose own deadline passed, is neutral.
func (rt *route) attemptContext(ctx context.Context, c *call, last bool) (context.Context, context.CancelFunc) {
	c.stopAttempt = nil
	if last || rt.attempt == nil {
		return ctx, func() {}
	}
	actx, cancel := context.WithCancelCause(ctx)
	t := time.AfterFunc(rt.attempt.timeout(), func() { cancel(outcome.ErrTimeout) })
	c.stopAttempt = t.Stop
	return actx, func() {
		t.Stop()
		cancel(context.Canceled)
	}
}

// fail answers a request whose last attempt failed before any response
// reached the client.
func (rt *route) fail(w http.ResponseWriter, r *http.Request, ctx context.Context, c *call, err error) {
	g := rt.gw
	var tooBig *http.MaxBytesError
	if bodyErr := c.body.failed(); bodyErr != nil {
		// The client's own body failed: its fault, whatever the transport
		// made of it, and nothing the upstream is blamed for.
		switch {
		case errors.As(bodyErr, &tooBig):
			httperr.Write(w, http.StatusRequestEntityTooLarge, CodeBodyTooLarge, fmt.Sprintf("request body exceeds %d bytes", g.maxBody))
		case r.Context().Err() != nil:
			g.log.Info("gateway: client left during its upload", "service", rt.Service, "path", rt.Pattern, "error", bodyErr)
			writeClientClosed(w)
		default:
			g.log.Info("gateway: unreadable request body", "service", rt.Service, "path", rt.Pattern, "error", bodyErr)
			httperr.Write(w, http.StatusBadRequest, CodeBadBody, "the request body could not be read")
		}
		return
	}
	var rejected *circuitbreaker.RejectedError
	switch {
	case r.Context().Err() != nil && !errors.Is(context.Cause(r.Context()), context.DeadlineExceeded):
		// The client hung up. (A deadline set in front of the gateway
		// that ran out is a timeout, answered 504 below.)
		writeClientClosed(w)
	case errors.Is(err, balancer.ErrNoHosts):
		writeOverloaded(w, time.Second, CodeNoUpstream, "no healthy instance of "+rt.Service)
	case errors.Is(ctx.Err(), context.DeadlineExceeded):
		httperr.Write(w, http.StatusGatewayTimeout, CodeDeadline, "the upstream did not answer in time")
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
		httperr.Write(w, http.StatusBadGateway, CodeUpstreamFailed, "the upstream failed")
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
	if g.upstreamTLS != nil || inst.Meta["scheme"] == "https" {
		// With UpstreamTLS the registry may not choose plaintext.
		target.Scheme = "https"
	}
	id := inst.ID
	return func(ctx context.Context, req any) (_ any, err error) {
		c := req.(*call)
		c.target, c.err, c.status = target, nil, 0
		c.tried = append(c.tried, id)
		if c.timer != nil {
			c.sent = time.Now()
		}
		defer func() {
			// ReverseProxy aborts a response that breaks off after it has
			// begun with this panic. Whose fault it is depends on why:
			// when the request's context ended (the client left, or read
			// so slowly that the route's budget ran out), the instance
			// answered in time; otherwise its response broke. The route
			// re-raises the panic once the balancer has recorded the
			// attempt, so that net/http still aborts the connection.
			if p := recover(); p != nil {
				if p != http.ErrAbortHandler || !c.started {
					panic(p)
				}
				c.cut = true
				if ctx.Err() != nil {
					err = errCutOff
				} else {
					err = errUpstreamBroke
				}
			}
		}()
		g.proxy.ServeHTTP(c.w, c.r)
		if bodyErr := c.body.failed(); bodyErr != nil {
			return nil, outcome.Abort(bodyErr)
		}
		if c.err != nil {
			return nil, c.err
		}
		// 5xx count against the instance through outcome.Default; 4xx,
		// 429 included, are answers about the client.
		// The response itself has already gone to the client, or was
		// held back for a retry: the error is for the classifier.
		if c.status >= 500 {
			return nil, &outcome.StatusError{Status: c.status}
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
	if c.stopAttempt != nil {
		c.stopAttempt()
	}
	if c.timer != nil && resp.StatusCode < 500 {
		c.timer.observe(time.Since(c.sent))
	}
	if c.retry && retryableStatus(resp.StatusCode) && (c.up.budget == nil || c.up.budget.TryWithdraw()) {
		c.withdrawn = true
		return fmt.Errorf("%w: %w", errHeldBack, &outcome.StatusError{Status: resp.StatusCode})
	}
	c.started = true
	return nil
}
