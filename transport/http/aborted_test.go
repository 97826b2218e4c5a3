package http_test

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/switchyard/switchyard/internal/brokenreq"
	"github.com/switchyard/switchyard/middleware/circuitbreaker"
	"github.com/switchyard/switchyard/outcome"
	shttp "github.com/switchyard/switchyard/transport/http"
)

type login struct {
	Email string `json:"email"`
}

// abortHandlers are the handlers a service puts under NewServer: one
// built with the package's decoder, and one that reads its body itself and
// passes the error on unwrapped. Each sits under a breaker that trips at
// the first failure, whose classifier is rec.
func abortHandlers(rec *brokenreq.Recorder) (http.Handler, *circuitbreaker.Breaker) {
	b, err := circuitbreaker.New("login", circuitbreaker.Config{ConsecutiveFailures: 1, Classifier: rec.Classify})
	if err != nil {
		panic(err)
	}
	mux := http.NewServeMux()
	mux.Handle("POST /decoded", shttp.NewHandler(
		func(_ context.Context, req any) (any, error) { return req, nil },
		shttp.DecodeJSONRequest[login], shttp.EncodeJSONResponse))
	mux.HandleFunc("POST /raw", func(w http.ResponseWriter, r *http.Request) {
		if _, err := io.ReadAll(r.Body); err != nil {
			shttp.WriteError(w, r, err)
			return
		}
		w.WriteHeader(http.StatusOK)
	})
	return b.Handler(mux), b
}

// TestServerAnswersBrokenRequestsAsTheCallersFault sends requests with
// broken framing, truncated, oversized and abandoned bodies over raw
// sockets to a server built by NewServer. None is answered with a 5xx (a
// broken body is a 400, an oversized one a 413, a hang-up gets nothing),
// the breaker in front of the handlers counts no failure, and a
// well-formed request is answered normally afterwards.
func TestServerAnswersBrokenRequestsAsTheCallersFault(t *testing.T) {
	for _, path := range []string{"/decoded", "/raw"} {
		for _, c := range brokenreq.Cases(path) {
			t.Run(path+"/"+c.Name, func(t *testing.T) {
				var rec brokenreq.Recorder
				h, b := abortHandlers(&rec)
				srv := shttp.NewServer(h, shttp.WithMaxBodyBytes(brokenreq.Limit))
				wait := brokenreq.Track(srv)
				addr := brokenreq.Start(t, srv)
				for range 3 {
					switch status := brokenreq.Send(t, addr, c); {
					case status >= 500:
						t.Fatalf("answered %d", status)
					case status != 0 && status != http.StatusBadRequest && status != http.StatusRequestEntityTooLarge:
						t.Fatalf("answered %d, want 400 or 413", status)
					}
				}
				if status := brokenreq.Good(t, addr, path); status != http.StatusOK {
					t.Fatalf("a well-formed request answered %d", status)
				}
				wait(4)
				if rec.Count(outcome.ServerFailure) != 0 || b.Counts().Failures != 0 || b.State() != circuitbreaker.Closed {
					t.Fatalf("breaker %v, counts %+v, classes %v: a broken request counted", b.State(), b.Counts(), &rec)
				}
			})
		}
	}
}

// FuzzServerRequest feeds arbitrary request bytes to the handler of
// NewServer (a breaker over the decoded and the raw handler): whatever the
// bytes, the answer is never a 5xx and the breaker never counts a failure.
func FuzzServerRequest(f *testing.F) {
	for _, c := range brokenreq.Cases("/decoded") {
		if len(c.Raw) < 4096 {
			f.Add([]byte(c.Raw))
		}
	}
	f.Add([]byte("POST /raw HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}"))
	f.Add([]byte("POST /decoded HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n"))
	f.Fuzz(func(t *testing.T, raw []byte) {
		req, err := http.ReadRequest(bufio.NewReader(bytes.NewReader(raw)))
		if err != nil {
			return // net/http answers these 400 itself, before any handler
		}
		var rec brokenreq.Recorder
		h, b := abortHandlers(&rec)
		h = shttp.NewServer(h, shttp.WithMaxBodyBytes(1024)).Handler
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		if w.Code >= 500 {
			t.Fatalf("answered %d to %q: %s", w.Code, raw, w.Body)
		}
		if rec.Count(outcome.ServerFailure) != 0 || b.Counts().Failures != 0 {
			t.Fatalf("the breaker counted a failure for %q (%v)", raw, &rec)
		}
	})
}
