package http

import (
	"errors"
	"io"
	"net/http"
	"time"

	"github.com/go-kit/kit/endpoint"
	kithttp "github.com/go-kit/kit/transport/http"

	"github.com/switchyard/switchyard/middleware/deadline"
	"github.com/switchyard/switchyard/outcome"
)

// Server defaults set by [NewServer]. net/http's zero values mean "wait
// forever", which lets a client that sends its headers one byte a minute
// (slowloris) or never sends its body hold a connection and a goroutine
// indefinitely.
const (
	// DefaultReadHeaderTimeout bounds the time to read a request's
	// headers, from the first byte (or from the end of the previous
	// request on a kept-alive connection). This is the slowloris defence:
	// a client that trickles its headers is cut off after 5s.
	DefaultReadHeaderTimeout = 5 * time.Second
	// DefaultReadTimeout bounds the time to read a whole request, headers
	// and body: 30s, ample for a 1 MiB body on any working network.
	DefaultReadTimeout = 30 * time.Second
	// DefaultWriteTimeout bounds the time from the end of the request
	// headers to the end of the response write: 60s. It caps how long a
	// handler can take to answer; it does not cancel the handler, so
	// handlers should honour their context (see middleware/deadline).
	DefaultWriteTimeout = 60 * time.Second
	// DefaultIdleTimeout is how long a kept-alive connection may wait for
	// its next request: 120s, longer than the client pool's
	// [DefaultIdleConnTimeout] (60s), so that the client, not the server,
	// closes idle connections and never sends a request on a connection
	// the server is closing at that moment.
	DefaultIdleTimeout = 120 * time.Second
	// DefaultMaxHeaderBytes caps the request line and headers: 64 KiB,
	// room for large tokens and cookies. Larger requests are answered
	// 431 by net/http itself.
	DefaultMaxHeaderBytes = 64 << 10
)

// defaultDeadline is the deadline layer with the zero Config, which New
// accepts: the servers' default and the go-kit clients' header writer.
var defaultDeadline, _ = deadline.New(deadline.Config{})

// ServerOption configures [NewServer].
type ServerOption func(*serverConfig)

type serverConfig struct {
	maxBody    int64
	noDeadline bool
	deadline   *deadline.Deadline
}

// WithMaxBodyBytes sets the largest request body the server accepts;
// larger ones are answered 413 having read at most n bytes of them (plus
// what one read of the connection buffered). The default is
// [DefaultMaxBodyBytes]; a negative n turns the limit off.
func WithMaxBodyBytes(n int64) ServerOption {
	return func(c *serverConfig) { c.maxBody = n }
}

// WithDeadlineHandler sets the deadline layer whose Handler [NewServer]
// installs (a default budget for requests without a deadline header, a
// cap, hooks: see deadline.Config). The default, and a nil d, is
// deadline.New with the zero Config.
func WithDeadlineHandler(d *deadline.Deadline) ServerOption {
	return func(c *serverConfig) { c.deadline = d }
}

// WithoutDeadlineHandler leaves out the deadline handler.
func WithoutDeadlineHandler() ServerOption {
	return func(c *serverConfig) { c.noDeadline = true }
}

// NewServer returns an *http.Server serving h with the package's
// defaults: [DefaultReadHeaderTimeout], [DefaultReadTimeout],
// [DefaultWriteTimeout], [DefaultIdleTimeout] and [DefaultMaxHeaderBytes].
// Its handler is, outermost first:
//
//   - [LimitBody] with [DefaultMaxBodyBytes] (see [WithMaxBodyBytes]);
//   - middleware/deadline's Handler (see [WithDeadlineHandler]): a request
//     carrying the caller's remaining time in X-Switchyard-Deadline-Ms
//     runs with that deadline on its context, which client endpoints made
//     with [NewFactory] pass on, shrunk, to the next hop; a request with
//     no time left is answered 504 at once, and one whose handler has not
//     begun answering by the deadline gets its 504 then. Requests without
//     the header pass straight through. Such requests see a ResponseWriter
//     that cannot be hijacked; use [WithoutDeadlineHandler] for servers
//     that upgrade connections;
//   - h.
//
// Change any field of the returned server before serving; set Addr or
// pass a listener to Serve. The root package's App serves and drains it.
func NewServer(h http.Handler, opts ...ServerOption) *http.Server {
	c := serverConfig{maxBody: DefaultMaxBodyBytes}
	for _, o := range opts {
		o(&c)
	}
	if !c.noDeadline {
		d := c.deadline
		if d == nil {
			d = defaultDeadline
		}
		h = d.Handler(h)
	}
	if c.maxBody >= 0 {
		h = LimitBody(c.maxBody, h)
	}
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: DefaultReadHeaderTimeout,
		ReadTimeout:       DefaultReadTimeout,
		WriteTimeout:      DefaultWriteTimeout,
		IdleTimeout:       DefaultIdleTimeout,
		MaxHeaderBytes:    DefaultMaxHeaderBytes,
	}
}

// NewHandler is go-kit's transport/http NewServer with [EncodeError] as
// the error encoder, so that every failure answers with the package's JSON
// error body. opts are applied after, and may replace it.
func NewHandler(e endpoint.Endpoint, dec kithttp.DecodeRequestFunc, enc kithttp.EncodeResponseFunc, opts ...kithttp.ServerOption) *kithttp.Server {
	all := make([]kithttp.ServerOption, 0, len(opts)+1)
	all = append(all, kithttp.ServerErrorEncoder(EncodeError))
	all = append(all, opts...)
	return kithttp.NewServer(e, dec, enc, all...)
}

// LimitBody wraps next so that request bodies larger than limit bytes are
// refused with 413 and the connection is closed, having read at most limit
// bytes of the body plus whatever the server had already buffered (net/http
// reads the connection 4 KiB at a time). A request whose Content-Length is
// over the limit is refused before its body is read at all. limit ≤ 0 means
// [DefaultMaxBodyBytes].
//
// Every error reading the body under LimitBody (other than io.EOF) comes
// back marked with outcome.Abort: the caller broke its own request (see
// outcome.Aborted), and [ErrorFor] answers it 400, or 413 over the limit,
// never 500.
//
// Without this, net/http would read up to 256 KiB of an unread body after
// the handler returns, to keep the connection alive. Put LimitBody
// outermost, directly under the http.Server, so that it sees net/http's own
// ResponseWriter; [NewServer] does.
func LimitBody(limit int64, next http.Handler) http.Handler {
	if limit <= 0 {
		limit = DefaultMaxBodyBytes
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.ContentLength > limit {
			stopReading(w)
			EncodeError(r.Context(), tooLarge(limit, nil), w)
			return
		}
		if r.Body != nil && r.Body != http.NoBody {
			r.Body = &limitedBody{ReadCloser: http.MaxBytesReader(w, r.Body, limit), w: w}
		}
		next.ServeHTTP(w, r)
	})
}

// limitedBody tells the server to stop reading the connection once the
// body limit is hit, whether the limit was hit by the MaxBytesReader below
// it or by a smaller limit of a decoder above it.
type limitedBody struct {
	io.ReadCloser
	w       http.ResponseWriter
	stopped bool // a handler reads its body from one goroutine
}

// Read reads the body. Every error but io.EOF is the caller's — a read
// error, broken chunked framing, a hang-up mid-upload, the limit — and is
// returned marked with outcome.Abort, so that no layer mistakes it for a
// server failure; the limit also stops the server reading the connection.
func (b *limitedBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if err != nil && err != io.EOF {
		if !b.stopped {
			var mbe *http.MaxBytesError
			if errors.As(err, &mbe) {
				b.abort()
			}
		}
		err = outcome.Abort(err)
	}
	return n, err
}

func (b *limitedBody) abort() {
	if !b.stopped {
		b.stopped = true
		stopReading(b.w)
	}
}

// abortBody stops the server from reading more of r's body when r went
// through LimitBody; otherwise it does nothing. Layers inside LimitBody
// (tracing, logging, metrics) put bodies of their own over its body, so
// abortBody looks through every body that has an Unwrap() io.ReadCloser
// method.
func abortBody(r *http.Request) {
	body := r.Body
	for body != nil {
		switch b := body.(type) {
		case interface{ abort() }:
			b.abort()
			return
		case interface{ Unwrap() io.ReadCloser }:
			body = b.Unwrap()
		default:
			return
		}
	}
}

// stopReading makes the server close the connection after this response
// without draining the unread body: "Connection: close" stops net/http from
// discarding the rest before it writes the response, and a read deadline in
// the past stops the drain it attempts after the handler returns.
func stopReading(w http.ResponseWriter) {
	w.Header().Set("Connection", "close")
	_ = http.NewResponseController(w).SetReadDeadline(time.Unix(1, 0))
}
