package call

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"

	"github.com/switchyard/switchyard/client"
	"github.com/switchyard/switchyard/discovery"
	"github.com/switchyard/switchyard/middleware/retry"
	shttp "github.com/switchyard/switchyard/transport/http"
)

// Request is one call made through a [Client].
type Request struct {
	// Path replaces the client's path when not empty, for paths with
	// parameters: "/v1/users/" + url.PathEscape(id). It may carry a query
	// after '?'.
	Path string
	// Header is added to the outgoing request (Authorization,
	// Idempotency-Key). Optional.
	Header http.Header
	// Body is sent as JSON when not nil.
	Body any
}

// Idempotent reports whether the call may be sent more than once: when its
// Header carries an Idempotency-Key, the service applies it at most once.
// The client chain asks it (retry.IdempotentRequest), so such a POST gets
// the per-attempt timeout and the retries of an idempotent call.
func (r Request) Idempotent() bool { return r.Header.Get(retry.IdempotencyKeyHeader) != "" }

var _ retry.IdempotentRequest = Request{}

// Client calls one operation (method and path) of another service of the
// shop through the library's client chain (package client), first
// outermost:
//
//	tracing          one client span per call
//	deadline         fails at once when the caller's context has no time left
//	(middleware)     whatever cfg.Middleware adds, e.g. metrics
//	retry            up to 3 attempts under a shared budget, for idempotent calls only
//	attempt timeout  idempotent calls: each attempt but the last bounded by max(250ms, 3 × p99 of answers)
//	balancer         peak-EWMA P2C over the instances discovery reports, with outlier detection
//	breaker          one circuit breaker per instance
//	HTTP             go-kit client; writes the deadline header and trace context
//
// Calls with method GET, HEAD, PUT or DELETE are idempotent; a POST is
// idempotent when cfg.Idempotent is set (a POST that is
// idempotent by design, such as a reservation keyed by order id), when its
// [Request] carries an Idempotency-Key header, or when its context says so
// (retry.MarkIdempotent, retry.ContextWithIdempotencyKey). An idempotent call
// that meets a server failure on one instance — a 5xx answer, a refused or
// reset connection, or no answer within its per-attempt timeout (a hung
// replica) — is retried on another instance within the retry budget, and
// the caller gets the retry's answer; the failure counts against the
// instance it happened on. See client.AttemptTimeout for the timeout's rule;
// set cfg.AttemptTimeout to change its numbers.
//
// A Client is safe for concurrent use; Close it when done.
type Client struct {
	ce *client.Endpoint
}

// New returns a Client for method and path of service, whose instances
// it follows through r. It waits, bounded by ctx, for the first list of
// instances (which may be empty if the service is not up yet). cfg
// configures the chain (the zero Config: every layer with its defaults);
// a GET, HEAD, PUT or DELETE is made idempotent whatever cfg.Idempotent
// says.
func New(ctx context.Context, r discovery.Resolver, service, method, path string, cfg client.Config, opts ...Option) (*Client, error) {
	var o options
	for _, opt := range opts {
		opt(&o)
	}
	// The chain's own deadline layers are the only ones: client.New's
	// deadline middleware and NewFactory's header (sent once per attempt,
	// computed from the attempt's context).
	var fopts []shttp.FactoryOption
	if o.peers != nil {
		hc, err := o.peers.client(service)
		if err != nil {
			return nil, err
		}
		fopts = append(fopts, shttp.WithHTTPClient(hc), shttp.WithScheme("https"))
	}
	f := shttp.NewFactory(method, path, encodeRequest, shttp.DecodeJSONResponse[json.RawMessage], fopts...)
	switch method {
	case http.MethodGet, http.MethodHead, http.MethodPut, http.MethodDelete:
		cfg.Idempotent = true
	}
	ce, err := client.New(ctx, r, service, f, cfg)
	if err != nil {
		return nil, err
	}
	return &Client{ce: ce}, nil
}

// Option configures [New].
type Option func(*options)

type options struct {
	peers *Peers
}

// WithTLS makes the client call the service over mutual TLS with p's
// configuration for it: HTTPS, this process's certificate presented, and
// the instance refused during the handshake — before a byte of the
// request is sent, counted against it — unless its certificate holds the
// service's identity.
func WithTLS(p *Peers) Option { return func(o *options) { o.peers = p } }

// Peers hands out one HTTP client per called service, each on its own
// transport whose TLS configuration expects that service's identity, so
// that every Client of one service shares one connection pool. Create it
// with [NewPeers]; it is safe for concurrent use.
type Peers struct {
	config func(service string) (*tls.Config, error)

	mu      sync.Mutex // guards clients
	clients map[string]*http.Client
}

// NewPeers returns Peers whose transports take their TLS configuration
// from config, called once per service: for the shop, one that presents
// the process's certificate and expects the service's SPIFFE ID
// (mtls.Source.ClientConfig).
func NewPeers(config func(service string) (*tls.Config, error)) *Peers {
	return &Peers{config: config, clients: map[string]*http.Client{}}
}

func (p *Peers) client(service string) (*http.Client, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if c, ok := p.clients[service]; ok {
		return c, nil
	}
	cfg, err := p.config(service)
	if err != nil {
		return nil, fmt.Errorf("call: TLS for %s: %w", service, err)
	}
	tr := shttp.NewTransport()
	tr.TLSClientConfig = cfg
	c := &http.Client{Transport: tr}
	p.clients[service] = c
	return c, nil
}

// CloseIdleConnections closes the idle connections of every transport.
func (p *Peers) CloseIdleConnections() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range p.clients {
		c.CloseIdleConnections()
	}
}

// Call makes one call and returns the body of a 2xx answer (nil when empty).
// An answer outside 2xx is an error: a *shttp.ResponseError carrying the
// status and, when the service answered with the shop's error body, its code
// ("out_of_stock") and message. When no instance is available the error
// wraps balancer.ErrNoHosts.
func (c *Client) Call(ctx context.Context, req Request) ([]byte, error) {
	resp, err := c.ce.Call(ctx, req)
	if err != nil {
		return nil, err
	}
	return resp.(json.RawMessage), nil
}

// JSON makes one call with c and decodes the answer's body into a T.
func JSON[T any](ctx context.Context, c *Client, req Request) (T, error) {
	var v T
	body, err := c.Call(ctx, req)
	if err != nil {
		return v, err
	}
	if len(body) == 0 {
		return v, nil
	}
	if err := json.Unmarshal(body, &v); err != nil {
		return v, fmt.Errorf("call: decode answer: %w", err)
	}
	return v, nil
}

// Endpoint returns the underlying call path, for dashboards (its balancer's
// hosts, its breakers) and tests.
func (c *Client) Endpoint() *client.Endpoint { return c.ce }

// Close stops following the service; later calls fail.
func (c *Client) Close() error { return c.ce.Close() }

func encodeRequest(ctx context.Context, r *http.Request, request any) error {
	req, ok := request.(Request)
	if !ok {
		return fmt.Errorf("call: client request is %T, want call.Request", request)
	}
	if req.Path != "" {
		u, err := url.Parse(req.Path)
		if err != nil || u.Scheme != "" || u.Host != "" || !strings.HasPrefix(u.Path, "/") {
			return fmt.Errorf("call: bad request path %q", req.Path)
		}
		r.URL.Path, r.URL.RawPath, r.URL.RawQuery = u.Path, u.RawPath, u.RawQuery
	}
	if req.Body != nil {
		if err := shttp.EncodeJSONRequest(ctx, r, req.Body); err != nil {
			return err
		}
	}
	for k, vs := range req.Header {
		for _, v := range vs {
			r.Header.Add(k, v)
		}
	}
	return nil
}
