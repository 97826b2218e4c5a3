package http_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/switchyard/switchyard/middleware/logging"
	"github.com/switchyard/switchyard/middleware/tracing"
	shttp "github.com/switchyard/switchyard/transport/http"
)

// countingListener counts the bytes the server reads from each connection.
type countingListener struct {
	net.Listener
	mu    sync.Mutex // guards conns
	conns []*countingConn
}

func (l *countingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	cc := &countingConn{Conn: c, closed: make(chan struct{})}
	l.mu.Lock()
	l.conns = append(l.conns, cc)
	l.mu.Unlock()
	return cc, nil
}

func (l *countingListener) last(t *testing.T) *countingConn {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		l.mu.Lock()
		n := len(l.conns)
		var c *countingConn
		if n > 0 {
			c = l.conns[n-1]
		}
		l.mu.Unlock()
		if c != nil {
			return c
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatal("no connection accepted")
	return nil
}

type countingConn struct {
	net.Conn
	read      atomic.Int64
	closeOnce sync.Once
	closed    chan struct{}
}

func (c *countingConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	c.read.Add(int64(n))
	return n, err
}

func (c *countingConn) Close() error {
	c.closeOnce.Do(func() { close(c.closed) })
	return c.Conn.Close()
}

// serve runs srv on a counting listener on 127.0.0.1:0 until the test ends.
func serve(t *testing.T, srv *http.Server) (*countingListener, string) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	cl := &countingListener{Listener: ln}
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = srv.Serve(cl)
	}()
	t.Cleanup(func() {
		_ = srv.Close()
		<-done
	})
	return cl, ln.Addr().String()
}

type echoRequest struct {
	Name string `json:"name"`
}

// echoHandler decodes with d and answers the name back.
func echoHandler(d shttp.JSONDecoder) http.Handler {
	return shttp.NewHandler(
		func(_ context.Context, req any) (any, error) { return req, nil },
		shttp.NewJSONRequestDecoder[echoRequest](d),
		shttp.EncodeJSONResponse,
	)
}

func TestServerDefaults(t *testing.T) {
	srv := shttp.NewServer(http.NotFoundHandler())
	checks := []struct {
		name      string
		got, want time.Duration
	}{
		{"ReadHeaderTimeout", srv.ReadHeaderTimeout, shttp.DefaultReadHeaderTimeout},
		{"ReadTimeout", srv.ReadTimeout, shttp.DefaultReadTimeout},
		{"WriteTimeout", srv.WriteTimeout, shttp.DefaultWriteTimeout},
		{"IdleTimeout", srv.IdleTimeout, shttp.DefaultIdleTimeout},
	}
	for _, c := range checks {
		if c.got != c.want || c.got <= 0 {
			t.Errorf("%s = %v, want %v (> 0)", c.name, c.got, c.want)
		}
	}
	if srv.MaxHeaderBytes != shttp.DefaultMaxHeaderBytes {
		t.Errorf("MaxHeaderBytes = %d", srv.MaxHeaderBytes)
	}
	if shttp.DefaultIdleTimeout <= shttp.DefaultIdleConnTimeout {
		t.Error("the server must keep idle connections longer than the client pool")
	}
}

// rawRequest sends head and then, concurrently, body chunks on a raw
// connection, and returns the response. The body writer stops at the first
// write error.
func rawRequest(t *testing.T, addr, head string, body func(w io.Writer) error) (*http.Response, []byte) {
	t.Helper()
	conn, err := net.DialTimeout("tcp", addr, 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(conn, head); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	wg.Go(func() { _ = body(conn) })
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	data, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	// Unblock the writer and wait for it.
	conn.Close()
	wg.Wait()
	return resp, data
}

func writeBody(total, chunk int, chunked bool) func(io.Writer) error {
	return func(w io.Writer) error {
		p := []byte(strings.Repeat("a", chunk))
		for sent := 0; sent < total; sent += chunk {
			if chunked {
				if _, err := fmt.Fprintf(w, "%x\r\n", chunk); err != nil {
					return err
				}
			}
			if _, err := w.Write(p); err != nil {
				return err
			}
			if chunked {
				if _, err := io.WriteString(w, "\r\n"); err != nil {
					return err
				}
			}
		}
		if chunked {
			_, err := io.WriteString(w, "0\r\n\r\n")
			return err
		}
		return nil
	}
}

// TestBodyOverLimit checks that a body over the limit is answered 413 with
// the JSON error body, having read at most limit + 4 KiB from the
// connection (plus request headers and chunk framing).
func TestBodyOverLimit(t *testing.T) {
	const mib = 1 << 20
	cases := []struct {
		name     string
		decoder  shttp.JSONDecoder
		limit    int64 // the limit that applies
		length   int   // body bytes the client sends
		chunked  bool
		maxExtra int64 // framing allowance beyond limit + 4 KiB
		wrapped  bool  // under the tracing and logging handlers
	}{
		{"content-length over server limit", shttp.JSONDecoder{}, 0, 4 * mib, false, 0, false},
		{"chunked over server limit", shttp.JSONDecoder{}, mib, 4 * mib, true, 1024, false},
		{"content-length over decoder limit", shttp.JSONDecoder{MaxBytes: 1024}, 0, 100 << 10, false, 0, false},
		{"chunked over decoder limit", shttp.JSONDecoder{MaxBytes: 1024}, 1024, 200 << 10, true, 64, false},
		// The tracing and logging handlers watch the body through a
		// reqbody.Body of their own, over LimitBody's: the decoder's limit
		// must still reach LimitBody and close the connection, rather than
		// leave net/http to drain up to 256 KiB of the rest.
		{"content-length over decoder limit, wrapped", shttp.JSONDecoder{MaxBytes: 1024}, 0, 100 << 10, false, 0, true},
		{"chunked over decoder limit, wrapped", shttp.JSONDecoder{MaxBytes: 1024}, 1024, 200 << 10, true, 64, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			h := echoHandler(c.decoder)
			if c.wrapped {
				tr, err := tracing.New(tracing.Config{})
				if err != nil {
					t.Fatal(err)
				}
				lg, err := logging.New(logging.Config{Logger: slog.New(slog.DiscardHandler)})
				if err != nil {
					t.Fatal(err)
				}
				h = tr.Handler(lg.Handler(h))
			}
			cl, addr := serve(t, shttp.NewServer(h))
			head := "POST /echo HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\n"
			if c.chunked {
				head += "Transfer-Encoding: chunked\r\n\r\n"
			} else {
				head += fmt.Sprintf("Content-Length: %d\r\n\r\n", c.length)
			}
			resp, body := rawRequest(t, addr, head, writeBody(c.length, 32<<10, c.chunked))
			if resp.StatusCode != http.StatusRequestEntityTooLarge {
				t.Fatalf("status %d, want 413; body %s", resp.StatusCode, body)
			}
			var eb struct {
				Error struct{ Code, Message string }
			}
			if err := json.Unmarshal(body, &eb); err != nil || eb.Error.Code != "request_entity_too_large" {
				t.Fatalf("body %s (%v)", body, err)
			}
			if !resp.Close {
				t.Error("the server must close the connection after a 413")
			}
			conn := cl.last(t)
			select {
			case <-conn.closed:
			case <-time.After(5 * time.Second):
				t.Fatal("server did not close the connection")
			}
			read := conn.read.Load()
			allowed := int64(len(head)) + c.limit + 4096 + c.maxExtra
			t.Logf("server read %d bytes of a %d-byte body (allowed %d)", read, c.length, allowed)
			if read > allowed {
				t.Errorf("server read %d bytes, more than %d", read, allowed)
			}
		})
	}
}

func TestBodyUnderLimitIsServed(t *testing.T) {
	_, addr := serve(t, shttp.NewServer(echoHandler(shttp.JSONDecoder{})))
	name := strings.Repeat("x", 900<<10) // 900 KiB: under 1 MiB
	body, _ := json.Marshal(echoRequest{Name: name})
	tr := &http.Transport{}
	defer tr.CloseIdleConnections()
	resp, err := (&http.Client{Transport: tr}).Post("http://"+addr+"/", "application/json", strings.NewReader(string(body)))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var got echoRequest
	if err := json.NewDecoder(resp.Body).Decode(&got); err != nil || got.Name != name {
		t.Fatalf("status %d, err %v, name of %d bytes", resp.StatusCode, err, len(got.Name))
	}
}

func TestOversizedHeadersAre431(t *testing.T) {
	_, addr := serve(t, shttp.NewServer(echoHandler(shttp.JSONDecoder{})))
	tr := &http.Transport{}
	defer tr.CloseIdleConnections()
	c := &http.Client{Transport: tr}
	req, _ := http.NewRequest(http.MethodGet, "http://"+addr+"/", nil)
	req.Header.Set("X-Big", strings.Repeat("b", shttp.DefaultMaxHeaderBytes+8192))
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusRequestHeaderFieldsTooLarge {
		t.Fatalf("status %d, want 431", resp.StatusCode)
	}
	// A header well under the limit is fine.
	req.Header.Set("X-Big", strings.Repeat("b", 16<<10))
	resp, err = c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode == http.StatusRequestHeaderFieldsTooLarge {
		t.Fatal("a 16 KiB header was refused")
	}
}

// TestSlowlorisIsCut sends a request's headers one line every 50ms on one
// connection while normal requests run on others: the slow connection is
// closed by ReadHeaderTimeout, the normal requests all succeed.
func TestSlowlorisIsCut(t *testing.T) {
	const headerTimeout = 300 * time.Millisecond
	srv := shttp.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, "ok")
	}))
	srv.ReadHeaderTimeout = headerTimeout
	_, addr := serve(t, srv)

	start := time.Now() // before the server can start its header timer
	slow, err := net.DialTimeout("tcp", addr, 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer slow.Close()
	closed := make(chan time.Duration, 1)
	go func() {
		// The server sends nothing; a read returns when it closes.
		_ = slow.SetReadDeadline(time.Now().Add(10 * time.Second))
		_, _ = io.Copy(io.Discard, slow)
		closed <- time.Since(start)
	}()
	var wg sync.WaitGroup
	wg.Go(func() {
		if _, err := io.WriteString(slow, "GET / HTTP/1.1\r\n"); err != nil {
			return
		}
		for i := 0; ; i++ {
			time.Sleep(50 * time.Millisecond)
			if _, err := fmt.Fprintf(slow, "X-Slow-%d: 1\r\n", i); err != nil {
				return // cut off: what we wanted
			}
			if time.Since(start) > 10*time.Second {
				return
			}
		}
	})

	tr := &http.Transport{}
	defer tr.CloseIdleConnections()
	c := &http.Client{Transport: tr, Timeout: 5 * time.Second}
	var ok, failed int
	var elapsed time.Duration
	for done := false; !done; {
		resp, err := c.Get("http://" + addr + "/")
		if err != nil || resp.StatusCode != http.StatusOK {
			failed++
		} else {
			ok++
		}
		if resp != nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
		select {
		case elapsed = <-closed:
			done = true
		default:
			time.Sleep(10 * time.Millisecond)
		}
	}
	slow.Close()
	wg.Wait()
	t.Logf("slow connection closed after %v; %d normal requests ok, %d failed", elapsed, ok, failed)
	if elapsed < headerTimeout || elapsed > headerTimeout+3*time.Second {
		t.Errorf("slow connection closed after %v, want about %v", elapsed, headerTimeout)
	}
	if failed > 0 || ok == 0 {
		t.Errorf("normal traffic: %d ok, %d failed", ok, failed)
	}
}
