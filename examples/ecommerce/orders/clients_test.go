package orders_test

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/switchyard/switchyard/client"
	"github.com/switchyard/switchyard/discovery"
	"github.com/switchyard/switchyard/discovery/memory"
	"github.com/switchyard/switchyard/examples/ecommerce/orders"
	"github.com/switchyard/switchyard/middleware/auth"
	"github.com/switchyard/switchyard/middleware/deadline"
	shttp "github.com/switchyard/switchyard/transport/http"
)

// serve serves h on 127.0.0.1:0 with the library's server defaults and
// registers it as service in reg until the test ends.
func serve(t *testing.T, reg *memory.Registry, service string, h http.Handler) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := shttp.NewServer(h)
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = srv.Serve(ln)
	}()
	inst := discovery.Instance{ID: service + "-" + ln.Addr().String(), Service: service, Addr: ln.Addr().String()}
	if err := reg.Register(context.Background(), inst); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		srv.Close()
		<-done
		shttp.DefaultTransport.CloseIdleConnections()
	})
}

// seen records what a stub service received.
type seen struct {
	mu       sync.Mutex
	paths    []string
	auth     []string
	deadline []bool
}

func (s *seen) add(r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.paths = append(s.paths, r.Method+" "+r.URL.Path)
	s.auth = append(s.auth, r.Header.Get("Authorization"))
	s.deadline = append(s.deadline, r.Header.Get(deadline.Header) != "")
}

func (s *seen) get() (paths, auth []string, deadlines []bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.paths), slices.Clone(s.auth), slices.Clone(s.deadline)
}

func TestUsersClient(t *testing.T) {
	reg := memory.New()
	defer reg.Close()
	var got seen
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/users/{id}", func(w http.ResponseWriter, r *http.Request) {
		got.add(r)
		if r.PathValue("id") != "usr_a" {
			shttp.WriteError(w, r, &shttp.Error{Status: 404, Code: "user_not_found", Message: "no such user"})
			return
		}
		_ = shttp.EncodeJSONResponse(r.Context(), w, orders.User{ID: "usr_a", Email: "a@example.com", Name: "A", Role: "user"})
	})
	serve(t, reg, orders.UsersService, mux)

	c, err := orders.NewUsersClient(context.Background(), reg, client.Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(auth.NewTokenContext(context.Background(), "tok123"), time.Minute)
	defer cancel()
	u, err := c.Get(ctx, "usr_a")
	if err != nil || u.Email != "a@example.com" {
		t.Fatalf("Get = %+v, %v", u, err)
	}
	if _, err := c.Get(context.Background(), "usr/../b"); !errors.Is(err, orders.ErrUserNotFound) {
		t.Fatalf("Get of an unknown user = %v, want ErrUserNotFound", err)
	}
	paths, authz, deadlines := got.get()
	if !slices.Equal(paths, []string{"GET /v1/users/usr_a", "GET /v1/users/usr/../b"}) {
		t.Fatalf("paths = %q", paths)
	}
	if !slices.Equal(authz, []string{"Bearer tok123", ""}) {
		t.Fatalf("Authorization headers = %q, want the caller's token forwarded", authz)
	}
	// A user lookup is idempotent, so even a caller without a deadline
	// gives each attempt its per-attempt timeout, which travels too.
	if !slices.Equal(deadlines, []bool{true, true}) {
		t.Fatalf("deadline header sent = %v, want it on every attempt (caller's deadline or attempt timeout)", deadlines)
	}
}

func TestCatalogClient(t *testing.T) {
	reg := memory.New()
	defer reg.Close()
	var (
		got  seen
		mu   sync.Mutex
		fail = map[string]int{} // order id → 503 answers still to give
	)
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/reservations", func(w http.ResponseWriter, r *http.Request) {
		got.add(r)
		var in struct {
			OrderID string        `json:"order_id"`
			Items   []orders.Item `json:"items"`
		}
		if err := shttp.DecodeJSON(r, &in); err != nil {
			shttp.WriteError(w, r, err)
			return
		}
		mu.Lock()
		retry := fail[in.OrderID] > 0
		fail[in.OrderID]--
		mu.Unlock()
		switch {
		case retry:
			shttp.WriteError(w, r, shttp.Unavailable("busy"))
		case in.OrderID == "ord_oos":
			shttp.WriteError(w, r, &shttp.Error{Status: 409, Code: "out_of_stock", Message: "no"})
		case in.OrderID == "ord_released":
			shttp.WriteError(w, r, &shttp.Error{Status: 409, Code: "reservation_released", Message: "no"})
		case in.OrderID == "ord_404":
			shttp.WriteError(w, r, &shttp.Error{Status: 404, Code: "product_not_found", Message: "no"})
		case in.OrderID == "ord_conflict":
			shttp.WriteError(w, r, &shttp.Error{Status: 409, Code: "conflict", Message: "something else"})
		default:
			id := in.OrderID
			if id == "ord_wrong" {
				id = "ord_other"
			}
			lines := []orders.Line{}
			for _, it := range in.Items {
				lines = append(lines, orders.Line{ProductID: it.ProductID, Quantity: it.Quantity, PriceCents: 250})
			}
			_ = json.NewEncoder(w).Encode(map[string]any{"order_id": id, "items": lines})
		}
	})
	mux.HandleFunc("DELETE /v1/reservations/{id}", func(w http.ResponseWriter, r *http.Request) {
		got.add(r)
		switch r.PathValue("id") {
		case "ord_unknown":
			shttp.WriteError(w, r, &shttp.Error{Status: 404, Code: "reservation_not_found", Message: "no"})
		case "ord_broken":
			shttp.WriteError(w, r, shttp.BadRequest("no"))
		default:
			_ = json.NewEncoder(w).Encode(map[string]bool{"released": true})
		}
	})
	serve(t, reg, orders.CatalogService, mux)

	c, err := orders.NewCatalogClient(context.Background(), reg, client.Config{}, client.Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx := context.Background()
	items := []orders.Item{{ProductID: "prd_a", Quantity: 2}}

	mu.Lock()
	fail["ord_1"] = 1 // one 503, retried because reservations are idempotent
	mu.Unlock()
	lines, err := c.Reserve(ctx, "ord_1", items)
	if err != nil || len(lines) != 1 || lines[0].PriceCents != 250 || lines[0].Quantity != 2 {
		t.Fatalf("Reserve = %+v, %v", lines, err)
	}
	for _, tt := range []struct {
		order string
		want  error
	}{
		{"ord_oos", orders.ErrOutOfStock},
		{"ord_404", orders.ErrProductNotFound},
		{"ord_released", orders.ErrReservationReleased},
		{"ord_wrong", orders.ErrBadReservation},
	} {
		if _, err := c.Reserve(ctx, tt.order, items); !errors.Is(err, tt.want) {
			t.Errorf("Reserve(%s) = %v, want %v", tt.order, err, tt.want)
		}
	}
	_, err = c.Reserve(ctx, "ord_conflict", items)
	if err == nil || errors.Is(err, orders.ErrOutOfStock) || shttp.ErrorFor(err).Status != http.StatusBadGateway {
		t.Errorf("Reserve answered by another 409 = %v, want a plain dependency error (502)", err)
	}

	if err := c.Release(ctx, "ord_1"); err != nil {
		t.Fatal(err)
	}
	if err := c.Release(ctx, "ord_unknown"); err != nil {
		t.Fatalf("Release of nothing = %v, want nil", err)
	}
	if err := c.Release(ctx, "ord_broken"); err == nil {
		t.Fatal("Release answered 400 succeeded")
	}
	paths, _, _ := got.get()
	want := []string{
		"POST /v1/reservations", "POST /v1/reservations", // the 503 and its retry
		"POST /v1/reservations", "POST /v1/reservations", "POST /v1/reservations", "POST /v1/reservations", "POST /v1/reservations",
		"DELETE /v1/reservations/ord_1", "DELETE /v1/reservations/ord_unknown", "DELETE /v1/reservations/ord_broken",
	}
	if !slices.Equal(paths, want) {
		t.Fatalf("calls = %q\nwant    %q", paths, want)
	}
}
