package deadline_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"
	"time"

	"github.com/switchyard/switchyard/middleware/deadline"
)

const hopAllowance = 5 * time.Millisecond

// hop is one service of a chain: a real server on 127.0.0.1 behind
// deadline.Handler that calls the next hop with the client transport.
type hop struct {
	srv    *httptest.Server
	header chan int           // the Header value it received, in ms
	left   chan time.Duration // what its context had left on arrival
}

// newChain starts n hops; the last one runs last instead of calling on.
func newChain(t *testing.T, n int, last http.HandlerFunc) []*hop {
	t.Helper()
	tr := &http.Transport{}
	t.Cleanup(tr.CloseIdleConnections)
	client := &http.Client{Transport: mustDeadline(deadline.Config{HopAllowance: hopAllowance}).Transport(tr)}
	hops := make([]*hop, n)
	for i := n - 1; i >= 0; i-- {
		h := &hop{header: make(chan int, 1), left: make(chan time.Duration, 1)}
		var next string
		if i < n-1 {
			next = hops[i+1].srv.URL
		}
		h.srv = httptest.NewServer(mustDeadline(deadline.Config{}).Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			ms, _ := strconv.Atoi(r.Header.Get(deadline.Header))
			h.header <- ms
			dl, _ := r.Context().Deadline()
			h.left <- time.Until(dl)
			if next == "" {
				last(w, r)
				return
			}
			req, _ := http.NewRequestWithContext(r.Context(), http.MethodGet, next, nil)
			resp, err := client.Do(req)
			if err != nil {
				http.Error(w, err.Error(), http.StatusBadGateway)
				return
			}
			defer resp.Body.Close()
			for k, v := range resp.Header {
				w.Header()[k] = v
			}
			w.WriteHeader(resp.StatusCode)
			_, _ = io.Copy(w, resp.Body)
		})))
		t.Cleanup(h.srv.Close)
		hops[i] = h
	}
	return hops
}

// edgeCall calls the first hop with a budget through the client
// transport, from a context with that much time left.
func edgeCall(t *testing.T, url string, budget time.Duration) (*http.Response, []byte, time.Duration) {
	t.Helper()
	tr := &http.Transport{}
	defer tr.CloseIdleConnections()
	ctx, cancel := context.WithTimeout(context.Background(), budget)
	defer cancel()
	return get(t, &http.Client{Transport: mustDeadline(deadline.Config{}).Transport(tr)}, ctx, url, nil)
}

// edgeCallHeader calls the first hop with the Header set to budget, from
// a context that waits a good while longer, so that the test sees what
// the edge answers and when.
func edgeCallHeader(t *testing.T, url string, budget time.Duration) (*http.Response, []byte, time.Duration) {
	t.Helper()
	tr := &http.Transport{}
	defer tr.CloseIdleConnections()
	ctx, cancel := context.WithTimeout(context.Background(), budget+5*time.Second)
	defer cancel()
	return get(t, &http.Client{Transport: tr}, ctx, url, http.Header{deadline.Header: {deadline.FormatHeader(budget)}})
}

func get(t *testing.T, c *http.Client, ctx context.Context, url string, h http.Header) (*http.Response, []byte, time.Duration) {
	t.Helper()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	for k, v := range h {
		req.Header[k] = v
	}
	start := time.Now()
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp, body, time.Since(start)
}

// TestDeadlineShrinksPerHop: each of three services sees a smaller budget
// than the one before, by at least the hop allowance.
func TestDeadlineShrinksPerHop(t *testing.T) {
	hops := newChain(t, 3, func(w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, "ok") })
	resp, body, _ := edgeCall(t, hops[0].srv.URL, 2*time.Second)
	if resp.StatusCode != 200 || string(body) != "ok" {
		t.Fatalf("edge got %d %q", resp.StatusCode, body)
	}
	var headers []int
	var lefts []time.Duration
	for _, h := range hops {
		headers = append(headers, <-h.header)
		lefts = append(lefts, <-h.left)
	}
	t.Logf("budgets received (ms): %v; left on arrival: %v", headers, lefts)
	if headers[0] > 2000 || headers[0] < 1000 {
		t.Fatalf("first hop received %d ms of a 2 s budget", headers[0])
	}
	for i := 1; i < len(hops); i++ {
		if headers[i] > headers[i-1]-int(hopAllowance/time.Millisecond) {
			t.Fatalf("hop %d received %d ms after hop %d's %d ms: not smaller by the %v allowance",
				i+1, headers[i], i, headers[i-1], hopAllowance)
		}
		if lefts[i] >= lefts[i-1] {
			t.Fatalf("hop %d had %v left, hop %d %v: not shrinking", i+1, lefts[i], i, lefts[i-1])
		}
	}
}

// TestDeadlineRunsOut: the last service hangs until its context ends. The
// edge, given 300 ms in the header, answers 504 within that budget plus a
// small slack, and the last service's context is cancelled at its
// deadline. The test's client waits longer than the budget, to see when
// the 504 comes.
func TestDeadlineRunsOut(t *testing.T) {
	const budget, slack = 300 * time.Millisecond, 250 * time.Millisecond
	cancelled := make(chan error, 1)
	hops := newChain(t, 3, func(w http.ResponseWriter, r *http.Request) {
		<-r.Context().Done()
		cancelled <- r.Context().Err()
		w.WriteHeader(http.StatusServiceUnavailable)
	})
	resp, body, elapsed := edgeCallHeader(t, hops[0].srv.URL, budget)
	var eb errorBody
	if err := json.Unmarshal(body, &eb); err != nil || resp.StatusCode != 504 || eb.Error.Code != "deadline_exceeded" {
		t.Fatalf("edge got %d %q, want 504 deadline_exceeded", resp.StatusCode, body)
	}
	t.Logf("edge answered 504 after %v of a %v budget", elapsed, budget)
	if elapsed > budget+slack {
		t.Fatalf("504 after %v, want within %v + %v", elapsed, budget, slack)
	}
	if elapsed < budget-3*hopAllowance-20*time.Millisecond {
		t.Fatalf("504 after %v, long before the %v budget", elapsed, budget)
	}
	select {
	case err := <-cancelled:
		if !errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, context.Canceled) {
			t.Fatalf("last hop's context ended with %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the last hop's context was never cancelled")
	}
}
