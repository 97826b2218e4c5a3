package retry

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-retryablehttp"

	"github.com/switchyard/switchyard/outcome"
)

// Transport returns an http.RoundTripper that sends each request through
// base (nil means http.DefaultTransport) with the retry layer of r: a
// go-retryablehttp client whose CheckRetry and Backoff apply the same
// [Config] — Classifier, [CheckRetry], [Backoff], attempt limit, per-try
// timeout, deadline rule, [Hooks] — and the same [Budget] as
// [Retry.Endpoint]. If the request runs inside a call that a retry layer
// is already retrying (the context says so, see [Active]), it makes one
// attempt, so the two layers never stack. Wrap it in an http.Client to
// follow redirects: one deposit per hop.
//
// Each request is retried by go-retryablehttp (which rewinds the body,
// buffering it in memory if it cannot be re-read, and drains the bodies of
// responses it retries). A response with status 429 or 5xx is shown to
// CheckRetry as an [*outcome.StatusError], so that the Classifier
// classifies it like any other error that carries a status (under
// outcome.Default a 5xx is retried, a 429 is the caller's to wait out);
// it is never returned to the caller: the final response is. A transport
// error is shown as itself. A 429 or
// 503 response's Retry-After (in seconds) raises the backoff, and a
// Retry-After beyond BackoffCap ends the retries. When the context carries
// a key from [ContextWithIdempotencyKey] and the request has no
// [IdempotencyKeyHeader], the key is sent in that header on every attempt.
// PerTryTimeout bounds each attempt until its response body is closed. A
// request body that cannot be read is the caller's broken request: when it
// fails before the first attempt the call fails with an error marked with
// outcome.Abort, having sent nothing and deposited nothing; when it fails
// during an attempt, the error is marked the same way and never retried,
// whatever CheckRetry says. Make base the deadline propagation transport
// (middleware/deadline's [Deadline.Transport]) so that each attempt
// carries the time left when it starts.
//
// The RoundTripper is safe for concurrent use; its CloseIdleConnections
// closes base's.
func (r *Retry) Transport(base http.RoundTripper) http.RoundTripper {
	if base == nil {
		base = http.DefaultTransport
	}
	at := &attemptTransport{base: base, perTry: r.perTry}
	return &transport{
		r:    r,
		base: base,
		one:  at,
		// The inner client follows no redirects (the caller's client does)
		// and its transport has no CloseIdleConnections, so retryablehttp
		// giving up does not close the shared pool's idle connections.
		client: &http.Client{
			Transport:     at,
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		},
	}
}

type transport struct {
	r      *Retry
	base   http.RoundTripper
	one    *attemptTransport
	client *http.Client
}

// CloseIdleConnections closes the idle connections of the base transport,
// when it can.
func (t *transport) CloseIdleConnections() {
	if c, ok := t.base.(interface{ CloseIdleConnections() }); ok {
		c.CloseIdleConnections()
	}
}

func (t *transport) RoundTrip(req *http.Request) (*http.Response, error) {
	ctx := req.Context()
	if key, ok := IdempotencyKeyFromContext(ctx); ok && req.Header.Get(IdempotencyKeyHeader) == "" {
		req = req.Clone(ctx)
		req.Header.Set(IdempotencyKeyHeader, key)
	}
	if Active(ctx) {
		return t.one.RoundTrip(req)
	}
	// Read (or learn to rewind) the body before depositing: a body that
	// cannot be read is the caller's broken request, which is neither
	// sent nor counted by the budget.
	rreq, err := retryablehttp.FromRequest(req)
	if err != nil {
		return nil, fmt.Errorf("retry: read the request body: %w", outcome.Abort(err))
	}
	t.r.budget.enterLayer(ctx)
	c := &httpCall{r: t.r}
	ctx = context.WithValue(ctx, layerKey{}, &layer{budget: t.r.budget, call: c})
	c.req = req.WithContext(ctx)
	rreq = rreq.WithContext(ctx)
	rc := &retryablehttp.Client{
		HTTPClient:   t.client,
		RetryMax:     t.r.maxAttempts - 1,
		CheckRetry:   c.checkRetry,
		Backoff:      c.backoff,
		ErrorHandler: retryablehttp.PassthroughErrorHandler,
	}
	resp, err := rc.Do(rreq)
	var ue *url.Error
	if errors.As(err, &ue) {
		// The inner client wrapped it; the caller's client wraps it again.
		err = ue.Err
	}
	return resp, err
}

// httpCall is the state of one call through the retrying transport.
// retryablehttp calls its methods from the calling goroutine only;
// attempts is atomic because FinalAttempt may read it from anywhere the
// attempt's context went.
type httpCall struct {
	r        *Retry
	req      *http.Request
	attempts atomic.Int32 // attempts that have ended
	wait     time.Duration
}

// lastAttempt reports whether the attempt under way is the last allowed.
func (c *httpCall) lastAttempt() bool {
	return int(c.attempts.Load())+1 >= c.r.maxAttempts
}

func (c *httpCall) checkRetry(ctx context.Context, resp *http.Response, err error) (bool, error) {
	attempts := int(c.attempts.Add(1))
	var floor time.Duration
	if err == nil {
		if resp.StatusCode != http.StatusTooManyRequests && resp.StatusCode < 500 {
			return false, nil
		}
		err = &outcome.StatusError{Status: resp.StatusCode}
		if ra, ok := retryAfter(resp); ok {
			if ra > c.r.cap {
				return false, nil
			}
			floor = ra
		}
	}
	wait, ok := c.r.decide(ctx, c.req, attempts, err, floor)
	c.wait = wait
	return ok, nil
}

func (c *httpCall) backoff(_, _ time.Duration, _ int, _ *http.Response) time.Duration {
	return c.wait
}

// retryAfter reads a Retry-After in seconds on a 429 or 503 response.
func retryAfter(resp *http.Response) (time.Duration, bool) {
	if resp.StatusCode != http.StatusTooManyRequests && resp.StatusCode != http.StatusServiceUnavailable {
		return 0, false
	}
	s := resp.Header.Get("Retry-After")
	if s == "" {
		return 0, false
	}
	n, err := strconv.ParseUint(s, 10, 32)
	if err != nil {
		return 0, false
	}
	return time.Duration(n) * time.Second, true
}

// attemptTransport makes one attempt, under the per-try timeout if any. It
// deliberately lacks CloseIdleConnections (see Retry.Transport).
type attemptTransport struct {
	base   http.RoundTripper
	perTry time.Duration
}

func (a *attemptTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.Body != nil && req.Body != http.NoBody {
		// net/http returns a body's read error as the round trip's error;
		// marked, it is the caller's fault, never retried. (A body that
		// can seek is read during the attempt, not buffered up front.)
		r := *req
		r.Body = abortingBody{req.Body}
		req = &r
	}
	if a.perTry <= 0 {
		return a.base.RoundTrip(req)
	}
	ctx, cancel := context.WithTimeout(req.Context(), a.perTry)
	resp, err := a.base.RoundTrip(req.WithContext(ctx))
	if err != nil {
		cancel()
		return nil, err
	}
	resp.Body = &cancelBody{ReadCloser: resp.Body, cancel: cancel}
	return resp, nil
}

// abortingBody marks the errors of reading a request body with
// outcome.Abort.
type abortingBody struct{ io.ReadCloser }

func (b abortingBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if err != nil && err != io.EOF {
		err = outcome.Abort(err)
	}
	return n, err
}

// cancelBody ends an attempt's context when its body is closed.
type cancelBody struct {
	io.ReadCloser
	cancel context.CancelFunc
}

func (b *cancelBody) Close() error {
	err := b.ReadCloser.Close()
	b.cancel()
	return err
}
