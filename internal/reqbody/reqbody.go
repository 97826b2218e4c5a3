// Package reqbody watches the body of a request a server received, so that
// the layers that judge a request by its response (breakers, adaptive
// concurrency, metrics, tracing, logging) can tell that the caller broke
// its own request — its body failed to read, broke its chunked framing,
// went over a limit or was cut off by a hang-up — and count it as
// [outcome.Aborted] rather than as the server's failure.
package reqbody

import (
	"errors"
	"io"
	"net/http"
	"sync"

	"github.com/switchyard/switchyard/outcome"
)

// Body is a request body that remembers the first error reading it (other
// than io.EOF) and returns every such error marked with [outcome.Abort], so
// that it stays the caller's fault wherever it travels. It is safe for
// concurrent use as far as its Err goes: a reverse proxy reads the body on
// the transport's goroutine while the handler's goroutine waits.
type Body struct {
	io.ReadCloser

	mu  sync.Mutex // guards err
	err error
}

// Watch returns the [Body] over r's body, installing one in r.Body unless
// a layer further out already did, so every layer of one request shares
// one Body. It returns nil (whose Err is nil) when r has no body: a
// bodyless request costs nothing.
func Watch(r *http.Request) *Body {
	if r.Body == nil || r.Body == http.NoBody {
		return nil
	}
	if b, ok := r.Body.(*Body); ok {
		return b
	}
	b := &Body{ReadCloser: r.Body}
	r.Body = b
	return b
}

// Read reads from the body; an error other than io.EOF is recorded and
// returned marked with [outcome.Abort].
func (b *Body) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if err != nil && err != io.EOF {
		err = outcome.Abort(err)
		b.mu.Lock()
		if b.err == nil {
			b.err = err
		}
		b.mu.Unlock()
	}
	return n, err
}

// Unwrap returns the body b watches, so that a layer that put a body of
// its own under b (transport/http's LimitBody, which can stop the server
// reading the connection) can still find it in r.Body.
func (b *Body) Unwrap() io.ReadCloser { return b.ReadCloser }

// Err returns the first error reading the body (marked with
// [outcome.Abort]), or nil. A nil *Body returns nil.
func (b *Body) Err() error {
	if b == nil {
		return nil
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.err
}

// Aborted reports whether a request whose handler answered status was
// broken by the caller: its body failed to read (see [Body.Err]), or the
// answer says so itself — 413 (the body was over a limit, possibly one
// enforced under this layer, where the Body cannot see it) or 408 (the
// caller was too slow to send its request). Such a request is
// [outcome.Aborted], whatever else the status says.
func (b *Body) Aborted(status int) bool {
	return status == http.StatusRequestEntityTooLarge || status == http.StatusRequestTimeout || b.Err() != nil
}

// Abort returns err marked with [outcome.Abort] when the request was
// aborted (see [Body.Aborted]), and err unchanged otherwise; a nil err of
// an aborted request becomes the body's error (or [outcome.ErrAborted]).
func (b *Body) Abort(status int, err error) error {
	if !b.Aborted(status) {
		return err
	}
	if err == nil {
		if err = b.Err(); err == nil {
			err = outcome.ErrAborted
		}
	}
	return outcome.Abort(err)
}

// IsAborted reports whether err is marked with [outcome.Abort]; it is
// errors.Is(err, outcome.ErrAborted), named for the call sites.
func IsAborted(err error) bool { return errors.Is(err, outcome.ErrAborted) }
