// Package brokenreq sends requests that the caller breaks — broken chunked
// framing, truncated and oversized bodies, uploads abandoned halfway —
// over raw TCP connections, and records what layers under test concluded
// about them, so that every HTTP wrapper of the library proves with one
// table that a client's own faults never count against the server. It is
// for tests.
package brokenreq

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/switchyard/switchyard/outcome"
)

// Limit is the body limit of the servers built by [Serve]: 64 KiB.
const Limit = 64 << 10

// Case is one request a client breaks.
type Case struct {
	Name string
	// Raw is written to the connection as is.
	Raw string
	// Hangup closes the connection after Raw without waiting for an
	// answer (an abandoned upload); otherwise the write side is closed and
	// the answer read.
	Hangup bool
}

// Cases are the broken requests, each a POST to path.
func Cases(path string) []Case {
	head := "POST " + path + " HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\n"
	big := strings.Repeat("x", 8<<10)
	var oversized strings.Builder
	for oversized.Len() < 2*Limit {
		oversized.WriteString(strconv.FormatInt(int64(len(big)), 16) + "\r\n" + big + "\r\n")
	}
	return []Case{
		{Name: "broken chunked framing", Raw: head + "Transfer-Encoding: chunked\r\n\r\n5\r\n{\"ema\r\nzz\r\n"},
		{Name: "bad chunk size", Raw: head + "Transfer-Encoding: chunked\r\n\r\nzz\r\n{}\r\n0\r\n\r\n"},
		{Name: "truncated body", Raw: head + "Content-Length: 100\r\n\r\n{\"email\":"},
		{Name: "truncated chunked body", Raw: head + "Transfer-Encoding: chunked\r\n\r\n10\r\n{\"em"},
		{Name: "oversized chunked body", Raw: head + "Transfer-Encoding: chunked\r\n\r\n" + oversized.String() + "0\r\n\r\n"},
		{Name: "abandoned upload", Raw: head + "Content-Length: 4096\r\n\r\n{\"email\":\"a@b.c\",", Hangup: true},
	}
}

// Send writes c to addr on a fresh connection and returns the status of
// the answer, or 0 when there was none (a hang-up, or a server that closed
// the connection).
func Send(t testing.TB, addr string, c Case) int {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(conn, c.Raw); err != nil {
		return 0 // the server stopped reading: an answer may not come
	}
	if c.Hangup {
		return 0
	}
	if tc, ok := conn.(*net.TCPConn); ok {
		_ = tc.CloseWrite()
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		return 0
	}
	resp.Body.Close()
	return resp.StatusCode
}

// Good sends a well-formed JSON POST to path on a connection of its own,
// closed after the answer, and returns its status.
func Good(t testing.TB, addr, path string) int {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, "http://"+addr+path, strings.NewReader(`{"email":"a@b.c"}`))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Close = true // so that the wait of Serve does not wait for an idle connection
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	return resp.StatusCode
}

// Naive is the handler least kind to its server: it reads the whole body
// and blames itself (500) when that fails, and answers 200 otherwise.
// Wrappers must see through it.
var Naive = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
	if _, err := io.ReadAll(r.Body); err != nil {
		http.Error(w, "could not read: "+err.Error(), http.StatusInternalServerError)
		return
	}
	w.WriteHeader(http.StatusOK)
})

// Serve serves h on 127.0.0.1:0 under http.MaxBytesHandler with [Limit]
// (outermost, as transport/http's NewServer puts its LimitBody) and
// returns its address and the wait of [Track].
func Serve(t testing.TB, h http.Handler) (addr string, wait func(n int)) {
	t.Helper()
	srv := &http.Server{Handler: http.MaxBytesHandler(h, Limit), ReadHeaderTimeout: 5 * time.Second}
	wait = Track(srv)
	return Start(t, srv), wait
}

// Start serves srv on 127.0.0.1:0 until the test ends and returns its
// address.
func Start(t testing.TB, srv *http.Server) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = srv.Serve(ln)
	}()
	t.Cleanup(func() {
		_ = srv.Close()
		<-done
	})
	return ln.Addr().String()
}

// Track sets srv.ConnState (before it serves) and returns wait: wait(n)
// returns once srv has accepted n connections and every one is closed —
// every request on it handled, net/http's lingering close of a connection
// with an unread body included — so that what the layers under test
// recorded is complete and no goroutine of the server is left.
func Track(srv *http.Server) (wait func(n int)) {
	var (
		mu        sync.Mutex // guards open, accepted and conns
		open      int        // connections accepted and not yet closed
		accepted  int        // connections accepted
		conns     = map[net.Conn]bool{}
		allClosed = sync.NewCond(&mu)
	)
	srv.ConnState = func(c net.Conn, s http.ConnState) {
		mu.Lock()
		defer mu.Unlock()
		switch s {
		case http.StateNew:
			conns[c] = true
			open++
			accepted++
		case http.StateClosed, http.StateHijacked:
			if conns[c] {
				delete(conns, c)
				open--
				allClosed.Broadcast()
			}
		}
	}
	return func(n int) {
		mu.Lock()
		defer mu.Unlock()
		for accepted < n || open > 0 {
			allClosed.Wait()
		}
	}
}

// Recorder is an outcome.Classifier (see [Recorder.Classify]) that
// classifies with outcome.Default and counts each class, to give the layer
// under test. It is safe for concurrent use.
type Recorder struct {
	mu     sync.Mutex // guards counts
	counts [outcome.NumClasses]int
}

// Classify classifies err with outcome.Default and counts the class.
func (r *Recorder) Classify(ctx context.Context, err error) outcome.Class {
	c := outcome.Default(ctx, err)
	r.mu.Lock()
	r.counts[c]++
	r.mu.Unlock()
	return c
}

// Count returns how many outcomes of class c were classified.
func (r *Recorder) Count(c outcome.Class) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.counts[c]
}

// String lists the counts, for failure messages.
func (r *Recorder) String() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var b strings.Builder
	for c, n := range r.counts {
		if n > 0 {
			fmt.Fprintf(&b, "%s=%d ", outcome.Class(c), n)
		}
	}
	return strings.TrimSpace(b.String())
}

// Hung returns the address of a listener that accepts connections and
// never reads from them nor answers, as a process stopped with SIGSTOP
// does once the kernel has completed the handshake for it. The listener
// and every connection it held are closed at the end of the test.
func Hung(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var (
		mu    sync.Mutex // guards held
		held  []net.Conn
		ended = make(chan struct{})
	)
	go func() {
		defer close(ended)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			held = append(held, c)
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		<-ended
		mu.Lock()
		defer mu.Unlock()
		for _, c := range held {
			c.Close()
		}
	})
	return ln.Addr().String()
}
