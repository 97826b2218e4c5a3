package http

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/go-kit/kit/endpoint"
	kithttp "github.com/go-kit/kit/transport/http"

	"github.com/switchyard/switchyard/balancer"
	"github.com/switchyard/switchyard/discovery"
	"github.com/switchyard/switchyard/middleware/tracing"
	"github.com/switchyard/switchyard/outcome"
)

// Client transport defaults, set by [NewTransport].
const (
	// DefaultMaxIdleConnsPerHost keeps up to 128 idle connections per
	// instance, so that a client running up to 128 concurrent calls to
	// one instance reuses its connections instead of opening and closing
	// one per call (net/http's default of 2 churns connections under any
	// concurrency, costing a handshake and a TIME_WAIT socket per call).
	DefaultMaxIdleConnsPerHost = 128
	// DefaultMaxIdleConns caps idle connections over all instances.
	DefaultMaxIdleConns = 1024
	// DefaultIdleConnTimeout closes connections idle for 60s; it is
	// shorter than the server's [DefaultIdleTimeout] so the client closes
	// first.
	DefaultIdleConnTimeout = 60 * time.Second
	// DefaultDialTimeout bounds connecting to an instance: 2s. A
	// discovered instance is near; one that takes longer is as good as
	// down, and the retry can try another.
	DefaultDialTimeout = 2 * time.Second
	// DefaultMaxResponseBytes caps a decoded response body: 10 MiB.
	DefaultMaxResponseBytes int64 = 10 << 20
	// maxErrorBodyBytes caps how much of an error response is read to
	// find its code and message.
	maxErrorBodyBytes = 64 << 10
	// maxDrainBytes is how much of an unread response body is discarded
	// so that its connection can be reused.
	maxDrainBytes = 64 << 10
)

// NewTransport returns an *http.Transport tuned for calls between services:
// [DefaultMaxIdleConnsPerHost], [DefaultMaxIdleConns],
// [DefaultIdleConnTimeout], [DefaultDialTimeout] with 30s TCP keep-alives,
// a 5s TLS handshake timeout, and no proxy: instances found through
// discovery are called directly, whatever HTTP_PROXY says. There is no
// response timeout: deadlines come from the caller's context.
func NewTransport() *http.Transport {
	d := &net.Dialer{Timeout: DefaultDialTimeout, KeepAlive: 30 * time.Second}
	return &http.Transport{
		Proxy:                 nil,
		DialContext:           d.DialContext,
		MaxIdleConns:          DefaultMaxIdleConns,
		MaxIdleConnsPerHost:   DefaultMaxIdleConnsPerHost,
		IdleConnTimeout:       DefaultIdleConnTimeout,
		TLSHandshakeTimeout:   5 * time.Second,
		ExpectContinueTimeout: time.Second,
		ForceAttemptHTTP2:     true,
	}
}

// DefaultTransport is the transport every factory shares unless given
// another client with [WithHTTPClient]. Sharing it shares the connection
// pools. It is safe for concurrent use.
var DefaultTransport = NewTransport()

// DefaultClient is the *http.Client on [DefaultTransport], without a
// timeout (the caller's context bounds each call).
var DefaultClient = &http.Client{Transport: DefaultTransport}

// ResponseError is the error a client endpoint returns when an instance
// answers with a status outside 2xx. It carries the status, so
// outcome.Default classifies it (5xx are server failures, 4xx — 429
// included — caller faults), and, when the instance answered with this
// package's error body, its code and message.
//
// A server that returns a ResponseError unhandled answers 502 (or 503/504,
// see [ErrorFor]), not the dependency's status: a dependency's 401 is not
// the caller's.
type ResponseError struct {
	// Status is the HTTP status of the response.
	Status int
	// Code and Message come from the {"error":{"code","message"}} body
	// when there is one; otherwise Code is derived from the status and
	// Message is empty.
	Code    string
	Message string
	// Header is the response's header (Retry-After, for example).
	Header http.Header
	// Method and URL identify the request.
	Method string
	URL    string
}

var (
	_ outcome.StatusCoder = (*ResponseError)(nil)
	_ error               = (*ResponseError)(nil)
)

// Error describes the failure for logs.
func (e *ResponseError) Error() string {
	s := "http: " + e.Method + " " + e.URL + ": " + strconv.Itoa(e.Status) + " " + e.Code
	if e.Message != "" {
		s += ": " + e.Message
	}
	return s
}

// StatusCode returns Status.
func (e *ResponseError) StatusCode() int { return e.Status }

// CheckResponse returns nil when resp's status is 2xx, and otherwise a
// [*ResponseError] built from the status and, when the body is this
// package's JSON error body, its code and message. It reads at most 64 KiB
// of an error body and leaves the body for the caller to close.
func CheckResponse(resp *http.Response) error {
	if resp.StatusCode >= 200 && resp.StatusCode <= 299 {
		return nil
	}
	e := &ResponseError{Status: resp.StatusCode, Header: resp.Header}
	if resp.Request != nil {
		e.Method = resp.Request.Method
		if resp.Request.URL != nil {
			u := *resp.Request.URL
			u.RawQuery, u.User, u.Fragment = "", nil, ""
			e.URL = u.String()
		}
	}
	if resp.Body != nil {
		data, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBodyBytes))
		var body errorBody
		if json.Unmarshal(data, &body) == nil {
			e.Code, e.Message = body.Error.Code, body.Error.Message
		}
	}
	if e.Code == "" {
		e.Code = CodeForStatus(resp.StatusCode)
	}
	return e
}

// EncodeJSONRequest is a go-kit EncodeRequestFunc that sends request as a
// JSON body with Content-Length and GetBody set, so that the request can
// be replayed on a fresh connection. A request implementing go-kit's
// Headerer adds its headers. A nil request sends no body.
func EncodeJSONRequest(_ context.Context, r *http.Request, request any) error {
	if hd, ok := request.(kithttp.Headerer); ok {
		for k, vs := range hd.Headers() {
			for _, v := range vs {
				r.Header.Add(k, v)
			}
		}
	}
	if request == nil {
		return nil
	}
	data, err := json.Marshal(request)
	if err != nil {
		return fmt.Errorf("http: encode request: %w", err)
	}
	r.Header.Set("Content-Type", "application/json")
	r.ContentLength = int64(len(data))
	r.Body = io.NopCloser(bytes.NewReader(data))
	r.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(data)), nil }
	return nil
}

// DecodeJSONResponse is a go-kit DecodeResponseFunc that returns a
// [*ResponseError] for a non-2xx status and otherwise decodes the body
// (at most [DefaultMaxResponseBytes]) into a T, returned as a T. A 204 or
// an empty body yields the zero T.
func DecodeJSONResponse[T any](_ context.Context, resp *http.Response) (any, error) {
	if err := CheckResponse(resp); err != nil {
		return nil, err
	}
	var v T
	if resp.StatusCode == http.StatusNoContent || resp.Body == nil {
		return v, nil
	}
	buf := getBuffer()
	defer putBuffer(buf)
	if _, err := buf.ReadFrom(io.LimitReader(resp.Body, DefaultMaxResponseBytes+1)); err != nil {
		return nil, fmt.Errorf("http: read response: %w", err)
	}
	if int64(buf.Len()) > DefaultMaxResponseBytes {
		return nil, fmt.Errorf("http: response body larger than %d bytes", DefaultMaxResponseBytes)
	}
	if len(bytes.TrimSpace(buf.Bytes())) == 0 {
		return v, nil
	}
	if err := json.Unmarshal(buf.Bytes(), &v); err != nil {
		return nil, fmt.Errorf("http: decode response: %w", err)
	}
	return v, nil
}

// FactoryOption configures [NewFactory].
type FactoryOption func(*factoryConfig)

type factoryConfig struct {
	scheme     string
	client     kithttp.HTTPClient
	options    []kithttp.ClientOption
	before     []kithttp.RequestFunc
	noTrace    bool
	noDeadline bool
}

// WithHTTPClient sets the client that sends the requests. The default is
// [DefaultClient] on the shared [DefaultTransport].
func WithHTTPClient(c kithttp.HTTPClient) FactoryOption {
	return func(f *factoryConfig) { f.client = c }
}

// WithScheme sets the URL scheme, "http" (the default) or "https".
func WithScheme(s string) FactoryOption {
	return func(f *factoryConfig) { f.scheme = s }
}

// WithClientBefore adds go-kit request functions run on every outgoing
// request, after the trace-context injection, for example
// deadline propagation or authentication headers.
func WithClientBefore(fns ...kithttp.RequestFunc) FactoryOption {
	return func(f *factoryConfig) { f.before = append(f.before, fns...) }
}

// WithClientOptions passes options to every go-kit Client the factory
// makes, after the factory's own.
func WithClientOptions(opts ...kithttp.ClientOption) FactoryOption {
	return func(f *factoryConfig) { f.options = append(f.options, opts...) }
}

// WithoutDeadlinePropagation stops the factory from writing the time left
// in the call's context into the X-Switchyard-Deadline-Ms header, which it
// does by default (middleware/deadline's ClientBefore), so that the server
// stops working on the call when the caller stops waiting.
func WithoutDeadlinePropagation() FactoryOption {
	return func(f *factoryConfig) { f.noDeadline = true }
}

// WithoutTracePropagation stops the factory from writing the W3C trace
// context of the call's context into the request headers, which it does
// by default (middleware/tracing's Tracer.ContextToHTTP).
func WithoutTracePropagation() FactoryOption {
	return func(f *factoryConfig) { f.noTrace = true }
}

// NewFactory returns a balancer.Factory whose endpoints send method to
// path (which may carry a query) on the instance's address, through
// go-kit's HTTP client: enc writes the request (see [EncodeJSONRequest];
// it may also rewrite r.URL.Path for path parameters), and dec reads the
// response. Each request carries the W3C trace context and the time left
// before the context's deadline (see [WithoutTracePropagation] and
// [WithoutDeadlinePropagation]). A response outside 2xx never reaches dec: the endpoint returns
// the [*ResponseError] from [CheckResponse]. An error reading the request
// body (one streamed from the caller's own request, say) comes back marked
// with outcome.Abort: the caller's request broke, not the instance, so
// neither outlier detection nor a breaker nor the retry layer counts it. After dec, up to 64 KiB of an
// unread body is discarded so the connection goes back to the pool.
//
// The endpoints hold no resources of their own (the connection pool
// belongs to the client), so the closer is nil. The factory is safe for
// concurrent use.
func NewFactory(method, path string, enc kithttp.EncodeRequestFunc, dec kithttp.DecodeResponseFunc, opts ...FactoryOption) balancer.Factory {
	cfg := factoryConfig{scheme: "http", client: DefaultClient}
	for _, o := range opts {
		o(&cfg)
	}
	var before []kithttp.RequestFunc
	if !cfg.noTrace {
		// The zero Config is valid, so New cannot fail; only its
		// propagator is used here.
		tr, _ := tracing.New(tracing.Config{})
		before = append(before, tr.ContextToHTTP)
	}
	if !cfg.noDeadline {
		before = append(before, defaultDeadline.ClientBefore)
	}
	before = append(before, cfg.before...)
	// Last, so that it sees the body whatever enc and the before
	// functions made of it.
	before = append(before, markBodyErrors)
	kitOpts := []kithttp.ClientOption{kithttp.SetClient(cfg.client)}
	if len(before) > 0 {
		kitOpts = append(kitOpts, kithttp.ClientBefore(before...))
	}
	kitOpts = append(kitOpts, cfg.options...)
	checked := checkedDecoder(dec)
	return func(inst discovery.Instance) (endpoint.Endpoint, io.Closer, error) {
		u, err := url.Parse(path)
		if err != nil {
			return nil, nil, fmt.Errorf("http: factory path %q: %w", path, err)
		}
		u.Scheme, u.Host = cfg.scheme, inst.Addr
		return kithttp.NewClient(method, u, enc, checked, kitOpts...).Endpoint(), nil, nil
	}
}

// markBodyErrors makes the errors of reading r's body come back marked
// with outcome.Abort: net/http returns a request body's read error as the
// round trip's error, which outcome.Default would otherwise count against
// the instance.
func markBodyErrors(ctx context.Context, r *http.Request) context.Context {
	if r.Body != nil && r.Body != http.NoBody {
		r.Body = abortingBody{r.Body}
		if get := r.GetBody; get != nil {
			r.GetBody = func() (io.ReadCloser, error) {
				b, err := get()
				if err != nil {
					return nil, outcome.Abort(err)
				}
				return abortingBody{b}, nil
			}
		}
	}
	return ctx
}

// abortingBody marks its read errors with outcome.Abort.
type abortingBody struct{ io.ReadCloser }

func (b abortingBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if err != nil && err != io.EOF {
		err = outcome.Abort(err)
	}
	return n, err
}

func checkedDecoder(dec kithttp.DecodeResponseFunc) kithttp.DecodeResponseFunc {
	return func(ctx context.Context, resp *http.Response) (any, error) {
		defer drain(resp.Body)
		if err := CheckResponse(resp); err != nil {
			return nil, err
		}
		return dec(ctx, resp)
	}
}

// drain discards what is left of a response body, up to maxDrainBytes,
// so that net/http can reuse the connection (it closes a connection whose
// body was closed unread).
func drain(body io.ReadCloser) {
	if body != nil {
		_, _ = io.Copy(io.Discard, io.LimitReader(body, maxDrainBytes))
	}
}
