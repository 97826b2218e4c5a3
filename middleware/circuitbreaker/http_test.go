package circuitbreaker_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"

	"github.com/switchyard/switchyard/middleware/circuitbreaker"
)

func TestHandler(t *testing.T) {
	b := newBreaker(t, "route", circuitbreaker.Config{ConsecutiveFailures: 3})
	calls := 0
	h := b.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls++
		code, _ := strconv.Atoi(r.URL.Query().Get("status"))
		w.WriteHeader(code)
	}))
	srv := httptest.NewServer(h)
	defer srv.Close()
	defer srv.Client().CloseIdleConnections()

	get := func(status int) *http.Response {
		t.Helper()
		resp, err := srv.Client().Get(srv.URL + "/?status=" + strconv.Itoa(status))
		if err != nil {
			t.Fatal(err)
		}
		return resp
	}
	for range 10 {
		resp := get(404)
		resp.Body.Close()
		if resp.StatusCode != 404 {
			t.Fatalf("status %d, want the handler's 404", resp.StatusCode)
		}
	}
	for range 3 {
		get(502).Body.Close()
	}
	if b.State() != circuitbreaker.Open {
		t.Fatalf("state %v after three 502s, want open", b.State())
	}
	before := calls
	resp := get(200)
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("open breaker answered %d, want 503", resp.StatusCode)
	}
	if calls != before {
		t.Fatal("open breaker called the handler")
	}
	if ra := resp.Header.Get("Retry-After"); ra != "10" {
		t.Fatalf("Retry-After %q, want 10 (the default open period)", ra)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "application/json; charset=utf-8" {
		t.Fatalf("Content-Type %q", ct)
	}
	raw, _ := io.ReadAll(resp.Body)
	var body struct {
		Error struct{ Code, Message string }
	}
	if err := json.Unmarshal(raw, &body); err != nil || body.Error.Code != "circuit_open" || body.Error.Message == "" {
		t.Fatalf("body %s (%v)", raw, err)
	}
}

func TestHandlerKeepsFlusher(t *testing.T) {
	b := newBreaker(t, "route", circuitbreaker.Config{})
	flushed := false
	h := b.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := http.NewResponseController(w).Flush(); err == nil {
			flushed = true
		}
	}))
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/", nil))
	if !flushed || !rec.Flushed {
		t.Fatal("the wrapped writer lost its Flush")
	}
}
