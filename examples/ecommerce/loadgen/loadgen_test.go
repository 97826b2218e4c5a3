package loadgen_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/switchyard/switchyard/discovery"
	"github.com/switchyard/switchyard/discovery/memory"
	"github.com/switchyard/switchyard/examples/ecommerce/launcher"
	"github.com/switchyard/switchyard/examples/ecommerce/loadgen"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m,
		goleak.IgnoreTopFunction("internal/poll.runtime_pollWait"),
		goleak.IgnoreTopFunction("net/http.(*persistConn).writeLoop"),
	)
}

// fakeShop answers the gateway's API the way the loadgen needs, with a few
// traps: the first sign-up is answered 429, every fifth new order fails
// with 503 after it was stored (so only a retry with the same key finds
// it), and product "p1" runs out of stock.
type fakeShop struct {
	mu          sync.Mutex        // guards the fields below
	signups     int               // sign-up requests
	orders      map[string]string // idempotency key → order id
	attempts    map[string]int    // idempotency key → requests
	newKeys     int
	stock       map[string]int
	cancels     int
	unauthOrder int
}

func newFakeShop() *fakeShop {
	return &fakeShop{orders: map[string]string{}, attempts: map[string]int{}, stock: map[string]int{"p1": 3, "p2": 1 << 30, "p3": 1 << 30}}
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func errBody(code string) map[string]any {
	return map[string]any{"error": map[string]string{"code": code, "message": code}}
}

func (s *fakeShop) handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /api/v1/users", func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		s.signups++
		first := s.signups == 1
		s.mu.Unlock()
		if first {
			w.Header().Set("Retry-After", "1")
			writeJSON(w, http.StatusTooManyRequests, errBody("rate_limited"))
			return
		}
		var b struct{ Email string }
		_ = json.NewDecoder(r.Body).Decode(&b)
		writeJSON(w, http.StatusCreated, map[string]string{"id": "u_" + b.Email, "email": b.Email, "role": "user"})
	})
	mux.HandleFunc("POST /api/v1/login", func(w http.ResponseWriter, r *http.Request) {
		var b struct{ Email string }
		_ = json.NewDecoder(r.Body).Decode(&b)
		writeJSON(w, http.StatusOK, map[string]string{"token": "tok-" + b.Email, "expires_at": "2099-01-01T00:00:00Z"})
	})
	mux.HandleFunc("GET /api/v1/products", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]any{"products": []map[string]any{
			{"id": "p1", "stock": 3}, {"id": "p2", "stock": 1000}, {"id": "p3", "stock": 1000}, {"id": "p4", "stock": 0},
		}})
	})
	mux.HandleFunc("GET /api/v1/products/{id}", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]any{"id": r.PathValue("id")})
	})
	mux.HandleFunc("POST /api/v1/orders", func(w http.ResponseWriter, r *http.Request) {
		key := r.Header.Get("Idempotency-Key")
		s.mu.Lock()
		defer s.mu.Unlock()
		if !strings.HasPrefix(r.Header.Get("Authorization"), "Bearer tok-") {
			s.unauthOrder++
			writeJSON(w, http.StatusUnauthorized, errBody("unauthorized"))
			return
		}
		s.attempts[key]++
		if id, ok := s.orders[key]; ok {
			writeJSON(w, http.StatusCreated, map[string]any{"id": id, "status": "confirmed"})
			return
		}
		var b struct {
			Items []struct {
				ProductID string `json:"product_id"`
				Quantity  int
			}
		}
		_ = json.NewDecoder(r.Body).Decode(&b)
		p := b.Items[0].ProductID
		if s.stock[p] < b.Items[0].Quantity {
			writeJSON(w, http.StatusConflict, errBody("out_of_stock"))
			return
		}
		s.stock[p] -= b.Items[0].Quantity
		s.newKeys++
		id := fmt.Sprintf("ord_%d", s.newKeys)
		s.orders[key] = id
		if s.newKeys%5 == 0 {
			writeJSON(w, http.StatusServiceUnavailable, errBody("unavailable"))
			return
		}
		writeJSON(w, http.StatusCreated, map[string]any{"id": id, "status": "confirmed"})
	})
	mux.HandleFunc("POST /api/v1/orders/{id}/cancel", func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		s.cancels++
		s.mu.Unlock()
		writeJSON(w, http.StatusOK, map[string]any{"id": r.PathValue("id"), "status": "cancelled"})
	})
	return mux
}

func baseConfig(target string) loadgen.Config {
	return loadgen.Config{
		Target:        target,
		Rate:          50,
		Duration:      time.Second,
		Users:         3,
		OrderShare:    0.5,
		MaxInFlight:   64,
		Timeout:       5 * time.Second,
		ChaosInterval: time.Second,
		Registry:      "etcd://127.0.0.1:2379",
		Data:          "ecommerce-data",
	}
}

func TestRunAgainstFakeShop(t *testing.T) {
	shop := newFakeShop()
	srv := httptest.NewServer(shop.handler())
	defer srv.Close()

	var progress strings.Builder
	cfg := baseConfig(srv.URL)
	cfg.Progress = &progress
	rep, err := loadgen.Run(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Planned != 50 || rep.Dropped != 0 {
		t.Errorf("planned %d, dropped %d; want 50 and 0", rep.Planned, rep.Dropped)
	}
	timed := rep.Ops[loadgen.OpListProducts].Count + rep.Ops[loadgen.OpGetProduct].Count + rep.Ops[loadgen.OpPlaceOrder].Count
	if timed != 50 {
		t.Errorf("%d timed operations recorded, want 50", timed)
	}
	if s := rep.Ops[loadgen.OpSignup]; s.Count != 3 || s.OK != 3 {
		t.Errorf("sign-ups %+v: want 3, all ok after waiting out the 429", s)
	}
	shop.mu.Lock()
	defer shop.mu.Unlock()
	if shop.signups != 4 {
		t.Errorf("%d sign-up requests, want 4 (one 429 retried)", shop.signups)
	}
	if shop.unauthOrder != 0 {
		t.Errorf("%d orders without the user's token", shop.unauthOrder)
	}
	po := rep.Ops[loadgen.OpPlaceOrder]
	if po.Count == 0 {
		t.Fatal("no order placed")
	}
	// Every order was either confirmed (after a retry with the same key
	// where the first answer was a 503) or out of stock; none failed.
	if po.OK+po.Failures[loadgen.OutcomeNoStock] != po.Count {
		t.Errorf("orders %+v: want every one ok or out of stock", po)
	}
	if po.OK != len(shop.orders) {
		t.Errorf("%d orders ok, %d stored by the shop", po.OK, len(shop.orders))
	}
	retried := 0
	for key, n := range shop.attempts {
		if n > 1 {
			retried++
		}
		if n > 3 {
			t.Errorf("key %s sent %d times, want at most 3", key, n)
		}
	}
	if shop.newKeys >= 5 && retried == 0 {
		t.Error("no order was retried with its key after a 503")
	}
	if rep.Failed() != 0 {
		t.Errorf("Failed() = %d, want 0", rep.Failed())
	}
	if !strings.Contains(progress.String(), "planned 50") {
		t.Errorf("progress does not show the final count:\n%s", progress.String())
	}

	var out strings.Builder
	rep.Print(&out)
	for _, want := range []string{"place_order", "p50", "p99", "target 50.0/s"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("summary lacks %q:\n%s", want, out.String())
		}
	}
}

func TestRunStopsWithContext(t *testing.T) {
	shop := newFakeShop()
	shop.signups = 1 // no 429
	srv := httptest.NewServer(shop.handler())
	defer srv.Close()
	cfg := baseConfig(srv.URL)
	cfg.Duration = time.Minute
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	start := time.Now()
	rep, err := loadgen.Run(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("Run took %v after its context ended", d)
	}
	if rep.Planned == 0 || rep.Planned > 40 {
		t.Errorf("planned %d operations in about half a second at 50/s", rep.Planned)
	}
}

func TestSetupFailure(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusBadGateway, errBody("upstream_failed"))
	}))
	defer srv.Close()
	_, err := loadgen.Run(context.Background(), baseConfig(srv.URL))
	if !errors.Is(err, loadgen.ErrSetup) || !strings.Contains(err.Error(), "502") {
		t.Fatalf("Run = %v, want ErrSetup naming the status", err)
	}
}

// TestChaosAsksTheLauncher runs the chaos loop against a fake control API
// that, like the launcher's, answers 403 unless the request carries the
// secret in DATA/chaos-secret.
func TestChaosAsksTheLauncher(t *testing.T) {
	const secret = "RUNSECRET2345ABCDEFGHIJKLM"
	for _, tc := range []struct {
		name string
		file string // content of DATA/chaos-secret; "" for no file
		// kills says whether the control API kills; when it does not,
		// fails is in every chaos line of the report.
		kills bool
		fails string
	}{
		{"the launcher's secret", secret + "\n", true, ""},
		{"a stale secret", "ANOTHERRUNSSECRET234567ABC\n", false, "403"},
		{"no secret file", "", false, "is --data the shop's data directory?"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			shop := newFakeShop()
			shop.signups = 1
			srv := httptest.NewServer(shop.handler())
			defer srv.Close()

			var mu sync.Mutex
			var killed []string
			refused := 0
			ctl := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.Method != http.MethodPost || r.URL.Path != launcher.KillPath {
					http.NotFound(w, r)
					return
				}
				mu.Lock()
				defer mu.Unlock()
				if r.Header.Get("Authorization") != "Bearer "+secret {
					refused++
					writeJSON(w, http.StatusForbidden, map[string]any{"error": map[string]string{"code": "forbidden", "message": "no"}})
					return
				}
				s := r.URL.Query().Get("service")
				killed = append(killed, s)
				writeJSON(w, http.StatusOK, launcher.KillResult{Service: s, Replica: 2, PID: 4242})
			}))
			defer ctl.Close()
			reg := memory.New()
			defer reg.Close()
			if err := reg.Register(context.Background(), discovery.Instance{ID: "ctl", Service: launcher.ControlService, Addr: ctl.Listener.Addr().String()}); err != nil {
				t.Fatal(err)
			}

			cfg := baseConfig(srv.URL)
			cfg.Duration = 2500 * time.Millisecond
			cfg.Rate = 10
			cfg.Chaos = true
			cfg.Resolver = reg
			cfg.Data = t.TempDir()
			if tc.file != "" {
				if err := os.WriteFile(filepath.Join(cfg.Data, launcher.ChaosSecretFile), []byte(tc.file), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			rep, err := loadgen.Run(context.Background(), cfg)
			if err != nil {
				t.Fatal(err)
			}
			mu.Lock()
			defer mu.Unlock()
			if len(rep.Chaos) < 1 || len(rep.Chaos) > 2 {
				t.Fatalf("%d chaos events in 2.5 s at one per second (first after 1 s): %q", len(rep.Chaos), rep.Chaos)
			}
			if !tc.kills {
				if len(killed) != 0 {
					t.Errorf("killed %v without the secret", killed)
				}
				for _, line := range rep.Chaos {
					if !strings.Contains(line, "failed") || !strings.Contains(line, tc.fails) {
						t.Errorf("chaos line %q does not report the failure (%q)", line, tc.fails)
					}
				}
				return
			}
			if refused != 0 || len(killed) != len(rep.Chaos) {
				t.Fatalf("%d kills, %d refused, report %q", len(killed), refused, rep.Chaos)
			}
			for _, s := range killed {
				if s != "users" && s != "catalog" && s != "orders" {
					t.Errorf("asked to kill %q", s)
				}
			}
			if !strings.Contains(rep.Chaos[0], "(pid 4242)") {
				t.Errorf("report's chaos lines %q", rep.Chaos)
			}
		})
	}
}

func TestConfigValidate(t *testing.T) {
	for _, tc := range []struct {
		name string
		edit func(*loadgen.Config)
		want error
		flag string
	}{
		{"ok", func(*loadgen.Config) {}, nil, ""},
		{"ipv6 loopback", func(c *loadgen.Config) { c.Target = "http://[::1]:8080" }, nil, ""},
		{"localhost", func(c *loadgen.Config) { c.Target = "http://localhost:8080/" }, nil, ""},
		{"remote ip", func(c *loadgen.Config) { c.Target = "http://10.0.0.1:8080" }, loadgen.ErrNotLoopback, "--target"},
		{"remote name", func(c *loadgen.Config) { c.Target = "https://example.com" }, loadgen.ErrNotLoopback, "--target"},
		{"all interfaces", func(c *loadgen.Config) { c.Target = "http://0.0.0.0:8080" }, loadgen.ErrNotLoopback, "--target"},
		{"scheme", func(c *loadgen.Config) { c.Target = "ftp://127.0.0.1" }, loadgen.ErrConfig, "--target"},
		{"path", func(c *loadgen.Config) { c.Target = "http://127.0.0.1:8080/api" }, loadgen.ErrConfig, "--target"},
		{"credentials", func(c *loadgen.Config) { c.Target = "http://a:b@127.0.0.1:8080" }, loadgen.ErrConfig, "--target"},
		{"zero rate", func(c *loadgen.Config) { c.Rate = 0 }, loadgen.ErrConfig, "--rate"},
		{"huge rate", func(c *loadgen.Config) { c.Rate = loadgen.MaxRate * 2 }, loadgen.ErrConfig, "--rate"},
		{"short", func(c *loadgen.Config) { c.Duration = time.Millisecond }, loadgen.ErrConfig, "--duration"},
		{"long", func(c *loadgen.Config) { c.Duration = 2 * time.Hour }, loadgen.ErrConfig, "--duration"},
		{"users", func(c *loadgen.Config) { c.Users = 0 }, loadgen.ErrConfig, "--users"},
		{"share", func(c *loadgen.Config) { c.OrderShare = 1.5 }, loadgen.ErrConfig, "--order-share"},
		{"login share", func(c *loadgen.Config) { c.LoginShare = -0.1 }, loadgen.ErrConfig, "--login-share"},
		{"shares above one", func(c *loadgen.Config) { c.OrderShare, c.LoginShare = 0.6, 0.5 }, loadgen.ErrConfig, "--login-share"},
		{"in flight", func(c *loadgen.Config) { c.MaxInFlight = 0 }, loadgen.ErrConfig, "--max-in-flight"},
		{"timeout", func(c *loadgen.Config) { c.Timeout = 0 }, loadgen.ErrConfig, "--timeout"},
		{"chaos interval", func(c *loadgen.Config) { c.Chaos = true; c.ChaosInterval = time.Millisecond }, loadgen.ErrConfig, "--chaos-interval"},
		{"chaos registry", func(c *loadgen.Config) { c.Chaos = true; c.Registry = "http://x" }, loadgen.ErrConfig, "--registry"},
		{"chaos data", func(c *loadgen.Config) { c.Chaos = true; c.Data = "" }, loadgen.ErrConfig, "--data"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := baseConfig("http://127.0.0.1:8080")
			tc.edit(&c)
			err := c.Validate()
			if tc.want == nil {
				if err != nil {
					t.Fatalf("Validate = %v", err)
				}
				return
			}
			if !errors.Is(err, tc.want) || !strings.Contains(err.Error(), tc.flag) {
				t.Fatalf("Validate = %v, want %v naming %s", err, tc.want, tc.flag)
			}
		})
	}
}

func TestRunRefusesRemoteTarget(t *testing.T) {
	_, err := loadgen.Run(context.Background(), baseConfig("http://192.0.2.1:8080"))
	if !errors.Is(err, loadgen.ErrNotLoopback) {
		t.Fatalf("Run = %v, want ErrNotLoopback", err)
	}
}
