package http_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	shttp "github.com/switchyard/switchyard/transport/http"
)

type reporter struct{ err error }

func (r *reporter) RegistrationErr() error { return r.err }

type readyBody struct {
	Status string `json:"status"`
	Checks []struct {
		Name  string `json:"name"`
		OK    bool   `json:"ok"`
		Error string `json:"error"`
	} `json:"checks"`
}

func probe(t *testing.T, mux *http.ServeMux, method, path string) (int, readyBody, http.Header) {
	t.Helper()
	w := httptest.NewRecorder()
	mux.ServeHTTP(w, httptest.NewRequest(method, path, nil))
	var b readyBody
	if method != http.MethodHead {
		if err := json.Unmarshal(w.Body.Bytes(), &b); err != nil {
			t.Fatalf("%s %s: body %q: %v", method, path, w.Body.String(), err)
		}
	}
	return w.Code, b, w.Header()
}

func TestHealth(t *testing.T) {
	var h shttp.Health // the zero value is ready
	rep := &reporter{}
	dbErr := errors.New("dial 10.0.0.9:5432: refused")
	var dbDown bool
	h.AddStateReporter("registration", rep)
	h.AddCheck("db", func(context.Context) error {
		if dbDown {
			return dbErr
		}
		return nil
	})
	mux := http.NewServeMux()
	h.Mount(mux)

	cases := []struct {
		name    string
		setup   func()
		code    int
		status  string
		failing string
	}{
		{"ready", func() {}, 200, "ready", ""},
		{"starting", func() { h.SetState(shttp.Starting) }, 503, "starting", ""},
		{"serving again", func() { h.SetState(shttp.Serving) }, 200, "ready", ""},
		{"registration lost", func() { rep.err = errors.New("lease expired") }, 503, "failing", "registration"},
		{"registration back", func() { rep.err = nil }, 200, "ready", ""},
		{"user check fails", func() { dbDown = true }, 503, "failing", "db"},
		{"draining trumps", func() { dbDown = false; h.SetState(shttp.Draining) }, 503, "draining", ""},
	}
	for _, c := range cases {
		c.setup()
		code, body, hdr := probe(t, mux, http.MethodGet, "/readyz")
		if code != c.code || body.Status != c.status {
			t.Errorf("%s: /readyz %d %q, want %d %q", c.name, code, body.Status, c.code, c.status)
		}
		if hdr.Get("Cache-Control") != "no-store" {
			t.Errorf("%s: probes must not be cached", c.name)
		}
		if len(body.Checks) != 2 || body.Checks[0].Name != "registration" || body.Checks[1].Name != "db" {
			t.Errorf("%s: checks %+v", c.name, body.Checks)
		}
		for _, ch := range body.Checks {
			if ch.OK == (ch.Name == c.failing) {
				t.Errorf("%s: check %s ok=%v", c.name, ch.Name, ch.OK)
			}
			if ch.Error != "" {
				t.Errorf("%s: error text shown without ShowErrors: %q", c.name, ch.Error)
			}
		}
		// Liveness is 200 throughout, draining included.
		if code, body, _ := probe(t, mux, http.MethodGet, "/healthz"); code != 200 || body.Status != "ok" {
			t.Errorf("%s: /healthz %d %q", c.name, code, body.Status)
		}
	}
	// HEAD works for probes that use it.
	if code, _, _ := probe(t, mux, http.MethodHead, "/healthz"); code != 200 {
		t.Errorf("HEAD /healthz %d", code)
	}
}

func TestHealthShowErrorsAndTimeout(t *testing.T) {
	h := shttp.NewHealth()
	h.ShowErrors = true
	h.CheckTimeout = 20 * time.Millisecond
	h.AddCheck("slow", func(ctx context.Context) error {
		<-ctx.Done() // a check that hangs is cut by the timeout
		return ctx.Err()
	})
	h.AddCheck("fine", func(context.Context) error { return nil })
	mux := http.NewServeMux()
	h.Mount(mux)
	code, body, _ := probe(t, mux, http.MethodGet, "/readyz")
	if code != 503 || body.Status != "failing" {
		t.Fatalf("%d %+v", code, body)
	}
	if body.Checks[0].OK || body.Checks[0].Error != context.DeadlineExceeded.Error() || !body.Checks[1].OK {
		t.Fatalf("checks %+v", body.Checks)
	}
}

func TestHealthNoChecks(t *testing.T) {
	mux := http.NewServeMux()
	shttp.NewHealth().Mount(mux)
	w := httptest.NewRecorder()
	mux.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/readyz", nil))
	if w.Code != 200 || w.Body.String() != `{"status":"ready","checks":[]}`+"\n" {
		t.Fatalf("%d %s", w.Code, w.Body.String())
	}
}
