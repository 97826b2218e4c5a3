package gateway_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/switchyard/switchyard/discovery"
	"github.com/switchyard/switchyard/discovery/memory"
	"github.com/switchyard/switchyard/examples/ecommerce/gateway"
	"github.com/switchyard/switchyard/examples/ecommerce/internal/authn"
	"github.com/switchyard/switchyard/examples/ecommerce/internal/ids"
	"github.com/switchyard/switchyard/examples/ecommerce/internal/instance"
	"github.com/switchyard/switchyard/examples/ecommerce/internal/telemetry"
	"github.com/switchyard/switchyard/identity"
	"github.com/switchyard/switchyard/middleware/auth"
	"github.com/switchyard/switchyard/middleware/deadline"
)

// The admin account, which the shop creates at start (the fake shop in
// newFakeShop, the real users service with users.EnsureAdmin): nobody
// becomes admin by signing up.
const (
	adminEmail    = "admin@example.com"
	adminPassword = "correct horse" // what the browser tests type
)

// fakeShop plays users, catalog and orders behind the gateway, each on
// real HTTP servers on 127.0.0.1 registered in a memory registry. It keeps
// everything in memory and counts the calls each service received, so that
// tests can tell whether the gateway called a service at all.
type fakeShop struct {
	t   testing.TB
	key ed25519.PrivateKey
	reg *memory.Registry

	mu        sync.Mutex // guards the fields below
	calls     map[string]int
	deadlines []string // deadline headers received
	users     map[string]fakeUser
	products  []product
	orders    map[string]order
	keys      map[string]string // user id + idempotency key → order id
	failing   map[string]bool   // instance id → answers 500
	probers   []string          // the verified caller of each /readyz over TLS
	servers   []*httptest.Server
	validator *auth.Validator
}

type fakeUser struct {
	ID, Email, Name, Role, Password string
}

type product struct {
	ID          string `json:"id"`
	Name        string `json:"name"`
	Description string `json:"description"`
	PriceCents  int64  `json:"price_cents"`
	Stock       int64  `json:"stock"`
}

type item struct {
	ProductID  string `json:"product_id"`
	Quantity   int64  `json:"quantity"`
	PriceCents int64  `json:"price_cents"`
}

type order struct {
	ID         string    `json:"id"`
	UserID     string    `json:"user_id"`
	Status     string    `json:"status"`
	Items      []item    `json:"items"`
	TotalCents int64     `json:"total_cents"`
	CreatedAt  time.Time `json:"created_at"`
}

// newFakeShop starts the fake services: two catalog instances, one each of
// users and orders.
func newFakeShop(t testing.TB) *fakeShop {
	s := newFakeShopState(t)
	s.start("users", "users-1", s.usersHandler())
	s.start("catalog", "catalog-1", s.catalogHandler())
	s.start("catalog", "catalog-2", s.catalogHandler())
	s.start("orders", "orders-1", s.ordersHandler())
	return s
}

// newFakeShopState returns the fake shop's data and registry, with no
// service started.
func newFakeShopState(t testing.TB) *fakeShop {
	_, key, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	s := &fakeShop{
		t: t, key: key, reg: memory.New(),
		calls: map[string]int{}, users: map[string]fakeUser{}, orders: map[string]order{},
		keys: map[string]string{}, failing: map[string]bool{},
	}
	s.users[adminEmail] = fakeUser{ID: ids.New("usr"), Email: adminEmail, Name: "Admin", Role: authn.RoleAdmin, Password: adminPassword}
	for i, name := range []string{"Espresso cup", "Walnut board", "Linen apron"} {
		s.products = append(s.products, product{
			ID: fmt.Sprintf("prd_%02d", i+1), Name: name, Description: "A fine " + strings.ToLower(name) + ".",
			PriceCents: int64(1000 * (i + 1)), Stock: 5,
		})
	}
	pub := key.Public().(ed25519.PublicKey)
	s.validator, err = authn.NewValidator(auth.StaticKeys(auth.Key{ID: authn.KeyID(pub), Alg: authn.Algorithm, Public: pub}))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.close)
	return s
}

func (s *fakeShop) start(service, id string, h http.Handler) {
	srv := httptest.NewServer(s.instance(service, id, h))
	s.servers = append(s.servers, srv)
	inst := discovery.Instance{ID: id, Service: service, Addr: srv.Listener.Addr().String()}
	if err := s.reg.Register(context.Background(), inst); err != nil {
		s.t.Fatal(err)
	}
}

// instance is the handler of the instance id of service: /readyz, and h
// behind the call counters and the failing switch.
func (s *fakeShop) instance(service, id string, h http.Handler) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		if r.TLS != nil {
			caller, _ := identity.FromRequest(r)
			s.mu.Lock()
			s.probers = append(s.probers, caller.String())
			s.mu.Unlock()
		}
		writeJSON(w, http.StatusOK, map[string]string{"status": "ready"})
	})
	mux.Handle("/", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		s.calls[service]++
		s.calls["instance "+id]++
		s.calls[service+" "+r.Method+" "+r.URL.Path]++
		s.deadlines = append(s.deadlines, r.Header.Get(deadline.Header))
		failing := s.failing[id]
		s.mu.Unlock()
		if failing {
			writeJSON(w, http.StatusInternalServerError, errBody("internal", "broken on purpose"))
			return
		}
		h.ServeHTTP(w, r)
	}))
	return mux
}

func (s *fakeShop) close() {
	for _, srv := range s.servers {
		srv.Close()
	}
	s.reg.Close()
}

func (s *fakeShop) callCount(name string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.calls[name]
}

func (s *fakeShop) setFailing(id string, on bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failing[id] = on
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func errBody(code, msg string) map[string]any {
	return map[string]any{"error": map[string]string{"code": code, "message": msg}}
}

func (s *fakeShop) token(u fakeUser) string {
	tok, err := authn.SignToken(s.key, authn.TokenClaims{UserID: u.ID, Email: u.Email, Role: u.Role}, time.Now(), time.Hour)
	if err != nil {
		s.t.Fatal(err)
	}
	return tok
}

func (s *fakeShop) usersHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/users", func(w http.ResponseWriter, r *http.Request) {
		var b struct{ Email, Password, Name string }
		if json.NewDecoder(r.Body).Decode(&b) != nil || !strings.Contains(b.Email, "@") || len(b.Password) < 8 || b.Name == "" {
			writeJSON(w, http.StatusBadRequest, errBody("invalid_argument", "bad sign-up"))
			return
		}
		s.mu.Lock()
		defer s.mu.Unlock()
		email := strings.ToLower(b.Email)
		if _, ok := s.users[email]; ok {
			writeJSON(w, http.StatusConflict, errBody("email_taken", "email taken"))
			return
		}
		u := fakeUser{ID: ids.New("usr"), Email: email, Name: b.Name, Role: authn.RoleUser, Password: b.Password}
		s.users[email] = u
		writeJSON(w, http.StatusCreated, map[string]string{"id": u.ID, "email": u.Email, "name": u.Name, "role": u.Role})
	})
	mux.HandleFunc("POST /v1/login", func(w http.ResponseWriter, r *http.Request) {
		var b struct{ Email, Password string }
		_ = json.NewDecoder(r.Body).Decode(&b)
		s.mu.Lock()
		u, ok := s.users[strings.ToLower(b.Email)]
		s.mu.Unlock()
		if !ok || u.Password != b.Password {
			writeJSON(w, http.StatusUnauthorized, errBody("invalid_credentials", "wrong email or password"))
			return
		}
		writeJSON(w, http.StatusOK, map[string]string{"token": s.token(u), "expires_at": time.Now().Add(time.Hour).UTC().Format(time.RFC3339)})
	})
	mux.Handle("GET /v1/me", s.validator.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"id": authn.UserID(r.Context()), "email": authn.Email(r.Context())})
	})))
	mux.HandleFunc("GET /v1/jwks", func(w http.ResponseWriter, r *http.Request) {
		pub := s.key.Public().(ed25519.PublicKey)
		b, err := auth.MarshalJWKS(auth.Key{ID: authn.KeyID(pub), Alg: authn.Algorithm, Public: pub})
		if err != nil {
			s.t.Error(err)
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(b)
	})
	return mux
}

func (s *fakeShop) catalogHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/products", func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		defer s.mu.Unlock()
		writeJSON(w, http.StatusOK, map[string]any{"products": s.products, "next_cursor": ""})
	})
	mux.HandleFunc("GET /v1/products/{id}", func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		defer s.mu.Unlock()
		for _, p := range s.products {
			if p.ID == r.PathValue("id") {
				writeJSON(w, http.StatusOK, p)
				return
			}
		}
		writeJSON(w, http.StatusNotFound, errBody("not_found", "no such product"))
	})
	admin := s.validator.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !authn.IsAdmin(r.Context()) {
			writeJSON(w, http.StatusForbidden, errBody("forbidden", "admins only"))
			return
		}
		var p product
		_ = json.NewDecoder(r.Body).Decode(&p)
		p.ID = ids.New("prd")
		s.mu.Lock()
		s.products = append(s.products, p)
		s.mu.Unlock()
		writeJSON(w, http.StatusCreated, p)
	}))
	mux.Handle("POST /v1/products", admin)
	mux.Handle("PATCH /v1/products/{id}", admin)
	return mux
}

func (s *fakeShop) ordersHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/orders", func(w http.ResponseWriter, r *http.Request) {
		uid := authn.UserID(r.Context())
		key := r.Header.Get("Idempotency-Key")
		if key == "" {
			writeJSON(w, http.StatusBadRequest, errBody("missing_idempotency_key", "Idempotency-Key is required"))
			return
		}
		var b struct{ Items []item }
		if json.NewDecoder(r.Body).Decode(&b) != nil || len(b.Items) == 0 {
			writeJSON(w, http.StatusBadRequest, errBody("invalid_argument", "bad order"))
			return
		}
		s.mu.Lock()
		defer s.mu.Unlock()
		if id, ok := s.keys[uid+"/"+key]; ok {
			writeJSON(w, http.StatusCreated, s.orders[id])
			return
		}
		o := order{ID: ids.New("ord"), UserID: uid, Status: "confirmed", CreatedAt: time.Now().UTC()}
		for _, it := range b.Items {
			i := sort.Search(len(s.products), func(i int) bool { return s.products[i].ID >= it.ProductID })
			if i == len(s.products) || s.products[i].ID != it.ProductID || s.products[i].Stock < it.Quantity {
				writeJSON(w, http.StatusConflict, errBody("out_of_stock", "not enough stock"))
				return
			}
			it.PriceCents = s.products[i].PriceCents
			o.Items = append(o.Items, it)
			o.TotalCents += it.PriceCents * it.Quantity
		}
		for _, it := range o.Items {
			i := sort.Search(len(s.products), func(i int) bool { return s.products[i].ID >= it.ProductID })
			s.products[i].Stock -= it.Quantity
		}
		s.orders[o.ID] = o
		s.keys[uid+"/"+key] = o.ID
		writeJSON(w, http.StatusCreated, o)
	})
	mux.HandleFunc("GET /v1/orders", func(w http.ResponseWriter, r *http.Request) {
		uid := authn.UserID(r.Context())
		s.mu.Lock()
		defer s.mu.Unlock()
		list := []order{}
		for _, o := range s.orders {
			if o.UserID == uid {
				list = append(list, o)
			}
		}
		sort.Slice(list, func(i, j int) bool { return list[i].CreatedAt.After(list[j].CreatedAt) })
		writeJSON(w, http.StatusOK, map[string]any{"orders": list, "next_cursor": ""})
	})
	mux.HandleFunc("GET /v1/orders/{id}", func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		defer s.mu.Unlock()
		o, ok := s.orders[r.PathValue("id")]
		if !ok || o.UserID != authn.UserID(r.Context()) {
			writeJSON(w, http.StatusNotFound, errBody("not_found", "no such order"))
			return
		}
		writeJSON(w, http.StatusOK, o)
	})
	mux.HandleFunc("POST /v1/orders/{id}/cancel", func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		defer s.mu.Unlock()
		o, ok := s.orders[r.PathValue("id")]
		if !ok || o.UserID != authn.UserID(r.Context()) {
			writeJSON(w, http.StatusNotFound, errBody("not_found", "no such order"))
			return
		}
		o.Status = "cancelled"
		s.orders[o.ID] = o
		writeJSON(w, http.StatusOK, o)
	})
	// Orders verifies the forwarded token itself, as the real one does.
	return s.validator.Handler(mux)
}

// startGateway runs the gateway under test with instance.Run on a free
// loopback port, as "serve gateway" does but with the memory registry,
// and returns its base URL.
func startGateway(t testing.TB, shop *fakeShop, login, signup gateway.Limit) (string, *gateway.Gateway) {
	t.Helper()
	return startGatewayWith(t, shop, gateway.Options{Login: login, Signup: signup}, 0)
}

// startGatewayWith is startGateway with o (its Resolver, Telemetry and
// Logger are filled in) and serveDeadline as instance.Run's
// DefaultDeadline (zero: instance.Run's default).
func startGatewayWith(t testing.TB, shop *fakeShop, o gateway.Options, serveDeadline time.Duration) (string, *gateway.Gateway) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	tel, err := telemetry.New("gateway")
	if err != nil {
		t.Fatal(err)
	}
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	o.Resolver, o.Telemetry, o.Logger = shop.reg, tel, logger
	g, err := gateway.New(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	wctx, wcancel := context.WithTimeout(ctx, 5*time.Second)
	defer wcancel()
	ready := make(chan net.Addr, 1)
	served := make(chan error, 1)
	go func() {
		served <- instance.Run(ctx, instance.Config{
			Service: gateway.ServiceName, Handler: g, Registrar: shop.reg, Logger: logger,
			Telemetry: tel, DrainDelay: -1, DefaultDeadline: serveDeadline,
			OnReady: func(a net.Addr) { ready <- a },
		})
	}()
	var base string
	select {
	case a := <-ready:
		base = "http://" + a.String()
	case err := <-served:
		t.Fatalf("instance.Run: %v", err)
	case <-wctx.Done():
		t.Fatal("gateway not ready")
	}
	for g.Ready(wctx) != nil {
		if wctx.Err() != nil {
			t.Fatal("upstreams not found")
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Cleanup(func() {
		cancel()
		if err := <-served; err != nil {
			t.Errorf("instance.Run: %v", err)
		}
		g.Close()
		tel.Prometheus.Shutdown(context.Background())
	})
	return base, g
}

// call sends one request and returns the status, the headers and the body.
func call(t testing.TB, method, url, token string, body any, header ...string) (int, http.Header, []byte) {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, url, rd)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, b
}

// signupLogin creates a user through the gateway and returns its token.
func signupLogin(t testing.TB, base, email string) string {
	t.Helper()
	if st, _, b := call(t, "POST", base+"/api/v1/users", "", map[string]string{"email": email, "password": "correct horse", "name": "Tester"}); st != http.StatusCreated {
		t.Fatalf("sign-up %s: %d %s", email, st, b)
	}
	return login(t, base, email, "correct horse")
}

// adminLogin logs the shop's admin account in through the gateway and
// returns its token.
func adminLogin(t testing.TB, base string) string {
	t.Helper()
	return login(t, base, adminEmail, adminPassword)
}

// login logs email in through the gateway and returns its token.
func login(t testing.TB, base, email, password string) string {
	t.Helper()
	st, _, b := call(t, "POST", base+"/api/v1/login", "", map[string]string{"email": email, "password": password})
	if st != http.StatusOK {
		t.Fatalf("login %s: %d %s", email, st, b)
	}
	var res struct{ Token string }
	if err := json.Unmarshal(b, &res); err != nil || res.Token == "" {
		t.Fatalf("login answer %s", b)
	}
	return res.Token
}
