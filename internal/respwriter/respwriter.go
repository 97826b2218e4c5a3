// Package respwriter wraps an [http.ResponseWriter] so that observability
// middleware (tracing, metrics, logging) can learn the status code and the
// number of body bytes a handler wrote.
//
// The wrapper keeps the optional abilities of the writer it wraps reachable:
// it implements [http.Flusher] and [http.Hijacker] by delegating, and
// Unwrap, so [http.ResponseController] finds SetReadDeadline and friends.
package respwriter

import (
	"bufio"
	"net"
	"net/http"
)

// Writer records what a handler wrote through it. It is not safe for
// concurrent use, like the http.ResponseWriter it wraps.
type Writer struct {
	http.ResponseWriter
	status int
	bytes  int64
}

// New wraps w.
func New(w http.ResponseWriter) *Writer { return &Writer{ResponseWriter: w} }

// Status returns the status code the handler sent: 200 if it wrote a body
// without calling WriteHeader, 0 if it wrote nothing at all (net/http will
// then answer 200 when the handler returns).
func (w *Writer) Status() int { return w.status }

// StatusOr200 returns Status, or 200 when nothing was written, which is what
// the client receives in that case.
func (w *Writer) StatusOr200() int {
	if w.status == 0 {
		return http.StatusOK
	}
	return w.status
}

// Bytes returns the number of body bytes written.
func (w *Writer) Bytes() int64 { return w.bytes }

// WriteHeader records code and passes it on. Informational codes (1xx other
// than 101) may be sent several times and are not recorded as the status.
func (w *Writer) WriteHeader(code int) {
	if w.status == 0 && (code >= 200 || code == http.StatusSwitchingProtocols) {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

// Write records the implicit 200 and the byte count.
func (w *Writer) Write(p []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	n, err := w.ResponseWriter.Write(p)
	w.bytes += int64(n)
	return n, err
}

// Flush flushes the underlying writer if it can.
func (w *Writer) Flush() {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	_ = http.NewResponseController(w.ResponseWriter).Flush()
}

// Hijack hands over the connection if the underlying writer allows it.
func (w *Writer) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	c, rw, err := http.NewResponseController(w.ResponseWriter).Hijack()
	if err == nil && w.status == 0 {
		w.status = http.StatusSwitchingProtocols
	}
	return c, rw, err
}

// Unwrap returns the wrapped writer, for [http.ResponseController].
func (w *Writer) Unwrap() http.ResponseWriter { return w.ResponseWriter }
