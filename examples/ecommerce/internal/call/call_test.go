package call_test

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"testing"
	"time"

	"github.com/switchyard/switchyard/client"
	"github.com/switchyard/switchyard/discovery"
	"github.com/switchyard/switchyard/discovery/memory"
	"github.com/switchyard/switchyard/examples/ecommerce/internal/call"
	"github.com/switchyard/switchyard/internal/brokenreq"
	"github.com/switchyard/switchyard/middleware/deadline"
	shttp "github.com/switchyard/switchyard/transport/http"
)

// startService serves h on 127.0.0.1:0 and registers it as service in reg.
func startService(t *testing.T, reg *memory.Registry, service string, h http.Handler) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := shttp.NewServer(h)
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	inst := discovery.Instance{ID: service + "-" + ln.Addr().String(), Service: service, Addr: ln.Addr().String()}
	if err := reg.Register(context.Background(), inst); err != nil {
		t.Fatal(err)
	}
	return ln.Addr().String()
}

type echo struct {
	ID       string `json:"id"`
	Header   string `json:"header"`
	Deadline bool   `json:"deadline"`
	Query    string `json:"query"`
	Name     string `json:"name"`
}

func TestClient(t *testing.T) {
	reg := memory.New()
	defer reg.Close()
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/things/{id}", func(w http.ResponseWriter, r *http.Request) {
		if r.PathValue("id") == "missing" {
			shttp.WriteError(w, r, &shttp.Error{Status: 404, Code: "thing_not_found", Message: "no such thing"})
			return
		}
		_ = shttp.EncodeJSONResponse(r.Context(), w, echo{
			ID: r.PathValue("id"), Header: r.Header.Get("X-Test"),
			Deadline: r.Header.Get(deadline.Header) != "", Query: r.URL.RawQuery,
		})
	})
	mux.HandleFunc("POST /v1/things", func(w http.ResponseWriter, r *http.Request) {
		var in struct{ Name string }
		if err := shttp.DecodeJSON(r, &in); err != nil {
			shttp.WriteError(w, r, err)
			return
		}
		_ = shttp.EncodeJSONResponse(r.Context(), w, echo{Name: in.Name})
	})
	startService(t, reg, "things", mux)
	startService(t, reg, "things", mux)

	ctx, cancel := context.WithTimeout(context.Background(), 5e9)
	defer cancel()
	get, err := call.New(ctx, reg, "things", http.MethodGet, "/v1/things/x", client.Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer get.Close()

	got, err := call.JSON[echo](ctx, get, call.Request{
		Path:   "/v1/things/" + url.PathEscape("a/b c") + "?x=1",
		Header: http.Header{"X-Test": {"yes"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	if want := (echo{ID: "a/b c", Header: "yes", Deadline: true, Query: "x=1"}); got != want {
		t.Errorf("got %+v, want %+v", got, want)
	}
	// Without a Path the client's own path is used.
	if got, err := call.JSON[echo](ctx, get, call.Request{}); err != nil || got.ID != "x" {
		t.Errorf("default path: %+v, %v", got, err)
	}

	_, err = get.Call(ctx, call.Request{Path: "/v1/things/missing"})
	var re *shttp.ResponseError
	if !errors.As(err, &re) || re.Status != 404 || re.Code != "thing_not_found" {
		t.Errorf("err = %v, want a ResponseError 404 thing_not_found", err)
	}
	if _, err := get.Call(ctx, call.Request{Path: "http://evil.example/"}); err == nil {
		t.Error("an absolute URL as Path was sent")
	}

	post, err := call.New(ctx, reg, "things", http.MethodPost, "/v1/things", client.Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer post.Close()
	if got, err := call.JSON[echo](ctx, post, call.Request{Body: map[string]string{"name": "n1"}}); err != nil || got.Name != "n1" {
		t.Errorf("POST: %+v, %v", got, err)
	}
	if n, _ := get.Endpoint().Balancer().Len(); n != 2 {
		t.Errorf("balancer has %d hosts, want 2", n)
	}
}

// startHung registers as service an instance that accepts connections and
// never answers, like a replica stopped with SIGSTOP.
func startHung(t *testing.T, reg *memory.Registry, service string) {
	t.Helper()
	inst := discovery.Instance{ID: service + "-hung", Service: service, Addr: brokenreq.Hung(t)}
	if err := reg.Register(context.Background(), inst); err != nil {
		t.Fatal(err)
	}
}

// TestClientIdempotentCallsAvoidSickAndHungInstances puts beside a healthy
// instance one that answers 500 to everything, or one that accepts
// connections and never answers. Reads and POSTs carrying an
// Idempotency-Key all succeed, each well within the caller's budget; a POST
// without a key is not retried, so beside the sick instance some of those
// meet its 500.
func TestClientIdempotentCallsAvoidSickAndHungInstances(t *testing.T) {
	for _, tc := range []struct {
		name  string
		start func(t *testing.T, reg *memory.Registry)
		sick  bool
	}{
		{"500 to everything", func(t *testing.T, reg *memory.Registry) {
			startService(t, reg, "things", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				shttp.WriteError(w, r, shttp.Internal(errors.New("sick")))
			}))
		}, true},
		{"hung", func(t *testing.T, reg *memory.Registry) { startHung(t, reg, "things") }, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			reg := memory.New()
			defer reg.Close()
			healthy := http.NewServeMux()
			healthy.HandleFunc("GET /v1/things/{id}", func(w http.ResponseWriter, r *http.Request) {
				_ = shttp.EncodeJSONResponse(r.Context(), w, echo{ID: r.PathValue("id")})
			})
			healthy.HandleFunc("POST /v1/things", func(w http.ResponseWriter, r *http.Request) {
				_ = shttp.EncodeJSONResponse(r.Context(), w, echo{Name: "made"})
			})
			startService(t, reg, "things", healthy)
			tc.start(t, reg)

			ctx := context.Background()
			attempt := client.Config{AttemptTimeout: client.AttemptTimeout{Initial: 200 * time.Millisecond}}
			get, err := call.New(ctx, reg, "things", http.MethodGet, "/v1/things/x", attempt)
			if err != nil {
				t.Fatal(err)
			}
			defer get.Close()
			post, err := call.New(ctx, reg, "things", http.MethodPost, "/v1/things", attempt)
			if err != nil {
				t.Fatal(err)
			}
			defer post.Close()

			const budget = 10 * time.Second
			for i := range 30 {
				for _, c := range []struct {
					name string
					cl   *call.Client
					req  call.Request
				}{
					{"GET", get, call.Request{}},
					{"POST with a key", post, call.Request{Body: map[string]string{"n": "1"},
						Header: http.Header{"Idempotency-Key": {"k" + strconv.Itoa(i)}}}},
				} {
					cctx, cancel := context.WithTimeout(ctx, budget)
					start := time.Now()
					_, err := c.cl.Call(cctx, c.req)
					took := time.Since(start)
					cancel()
					if err != nil {
						t.Fatalf("%s call %d: %v", c.name, i, err)
					}
					if took > budget/3 {
						t.Fatalf("%s call %d took %v of its %v budget", c.name, i, took, budget)
					}
				}
			}
			if !tc.sick {
				return
			}
			// P2C steers away from the sick instance after a failure; a
			// fresh client without a key meets it before it learns.
			var failed int
			for range 10 {
				fresh, err := call.New(ctx, reg, "things", http.MethodPost, "/v1/things", client.Config{})
				if err != nil {
					t.Fatal(err)
				}
				for range 3 {
					if _, err := fresh.Call(ctx, call.Request{Body: map[string]string{"n": "1"}}); err != nil {
						failed++
					}
				}
				fresh.Close()
			}
			if failed == 0 {
				t.Error("no POST without a key failed: the sick instance was never called")
			}
		})
	}
}
