package gateway_test

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"flag"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"go.uber.org/goleak"

	"github.com/switchyard/switchyard/examples/ecommerce/gateway"
	"github.com/switchyard/switchyard/examples/ecommerce/internal/authn"
	"github.com/switchyard/switchyard/examples/ecommerce/internal/instance"
	"github.com/switchyard/switchyard/examples/ecommerce/internal/settings"
	"github.com/switchyard/switchyard/middleware/deadline"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m,
		goleak.IgnoreTopFunction("internal/poll.runtime_pollWait"),
		goleak.IgnoreTopFunction("net/http.(*persistConn).writeLoop"),
	)
}

var noLimit = gateway.Limit{Rate: 1000, Burst: 1000}

func TestRoutesAndEdgePolicies(t *testing.T) {
	shop := newFakeShop(t)
	base, _ := startGateway(t, shop, noLimit, noLimit)
	user := signupLogin(t, base, "ann@example.com")
	admin := adminLogin(t, base)

	for _, tc := range []struct {
		name, method, path, token string
		body                      any
		header                    []string
		want                      int
		code                      string // error code of the answer, if any
		reached                   string // the upstream call that must (or, with want ≥ 400 at the edge, must not) happen
		atEdge                    bool   // answered by the gateway: reached must not have been called
	}{
		{name: "list products", method: "GET", path: "/api/v1/products", want: 200, reached: "catalog GET /v1/products"},
		{name: "one product", method: "GET", path: "/api/v1/products/prd_01", want: 200, reached: "catalog GET /v1/products/prd_01"},
		{name: "missing product", method: "GET", path: "/api/v1/products/nope", want: 404, code: "not_found", reached: "catalog GET /v1/products/nope"},
		{name: "me without token", method: "GET", path: "/api/v1/me", want: 401, code: "unauthorized", reached: "users GET /v1/me", atEdge: true},
		{name: "me", method: "GET", path: "/api/v1/me", token: user, want: 200, reached: "users GET /v1/me"},
		{name: "create product as user", method: "POST", path: "/api/v1/products", token: user,
			body: map[string]any{"name": "X", "price_cents": 1}, want: 403, code: "forbidden", reached: "catalog POST /v1/products", atEdge: true},
		{name: "patch product as user", method: "PATCH", path: "/api/v1/products/prd_01", token: user,
			body: map[string]any{"stock": 1}, want: 403, code: "forbidden", reached: "catalog PATCH /v1/products/prd_01", atEdge: true},
		{name: "create product without token", method: "POST", path: "/api/v1/products",
			body: map[string]any{"name": "X", "price_cents": 1}, want: 401, reached: "catalog POST /v1/products", atEdge: true},
		{name: "create product as admin", method: "POST", path: "/api/v1/products", token: admin,
			body: map[string]any{"name": "Teapot", "price_cents": 2500, "stock": 3}, want: 201, reached: "catalog POST /v1/products"},
		{name: "order without token", method: "POST", path: "/api/v1/orders",
			body: map[string]any{"items": []any{}}, want: 401, reached: "orders POST /v1/orders", atEdge: true},
		{name: "order", method: "POST", path: "/api/v1/orders", token: user, header: []string{"Idempotency-Key", "k1"},
			body: map[string]any{"items": []map[string]any{{"product_id": "prd_01", "quantity": 1}}}, want: 201, reached: "orders POST /v1/orders"},
		{name: "list orders", method: "GET", path: "/api/v1/orders", token: user, want: 200, reached: "orders GET /v1/orders"},
		{name: "reservations are not routed", method: "POST", path: "/api/v1/reservations", want: 404, code: "not_found", reached: "catalog POST /v1/reservations", atEdge: true},
		{name: "unknown API path", method: "GET", path: "/api/v1/nothing", want: 404, code: "not_found"},
		{name: "wrong method", method: "DELETE", path: "/api/v1/products", want: 405, code: "method_not_allowed"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := shop.callCount(tc.reached)
			st, _, body := call(t, tc.method, base+tc.path, tc.token, tc.body, tc.header...)
			if st != tc.want {
				t.Fatalf("%s %s = %d %s, want %d", tc.method, tc.path, st, body, tc.want)
			}
			if tc.code != "" {
				var e struct{ Error struct{ Code string } }
				if json.Unmarshal(body, &e) != nil || e.Error.Code != tc.code {
					t.Errorf("body %s, want error code %q", body, tc.code)
				}
			}
			if tc.reached == "" {
				return
			}
			calls := shop.callCount(tc.reached) - before
			if tc.atEdge && calls != 0 {
				t.Errorf("%q was called %d times; the gateway should have answered alone", tc.reached, calls)
			}
			if !tc.atEdge && calls != 1 {
				t.Errorf("%q was called %d times, want 1", tc.reached, calls)
			}
		})
	}

	// Every upstream call carried a deadline no longer than the gateway's.
	shop.mu.Lock()
	defer shop.mu.Unlock()
	for _, d := range shop.deadlines {
		left, err := deadline.ParseHeader(d)
		if err != nil || left <= 0 || left > instance.DefaultDeadline {
			t.Errorf("upstream deadline header %q: %v, %v", d, left, err)
		}
	}
}

// forge builds tokens the gateway must refuse, each for one reason.
func forgeries(t *testing.T, shop *fakeShop, sub string) map[string]string {
	t.Helper()
	now := time.Now()
	good := jwt.MapClaims{"iss": authn.Issuer, "aud": authn.Audience, "sub": sub, "role": "admin",
		"iat": now.Unix(), "exp": now.Add(time.Hour).Unix()}
	kid := authn.KeyID(shop.key.Public().(ed25519.PublicKey))
	sign := func(claims jwt.MapClaims, key ed25519.PrivateKey, kid string) string {
		tok := jwt.NewWithClaims(jwt.SigningMethodEdDSA, claims)
		tok.Header["kid"] = kid
		s, err := tok.SignedString(key)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	with := func(k string, v any) jwt.MapClaims {
		c := jwt.MapClaims{}
		for kk, vv := range good {
			c[kk] = vv
		}
		c[k] = v
		return c
	}
	_, other, _ := ed25519.GenerateKey(rand.Reader)
	none, err := jwt.NewWithClaims(jwt.SigningMethodNone, good).SignedString(jwt.UnsafeAllowNoneSignatureType)
	if err != nil {
		t.Fatal(err)
	}
	hs := jwt.NewWithClaims(jwt.SigningMethodHS256, good)
	hs.Header["kid"] = kid
	hsTok, err := hs.SignedString([]byte(shop.key.Public().(ed25519.PublicKey)))
	if err != nil {
		t.Fatal(err)
	}
	valid := sign(good, shop.key, kid)
	parts := strings.Split(valid, ".")
	payload, _ := json.Marshal(with("sub", "somebody-else"))
	tampered := parts[0] + "." + base64.RawURLEncoding.EncodeToString(payload) + "." + parts[2]
	return map[string]string{
		"alg none":            none,
		"hs256 with pub key":  hsTok,
		"expired":             sign(with("exp", now.Add(-time.Minute).Unix()), shop.key, kid),
		"wrong audience":      sign(with("aud", "someone-else"), shop.key, kid),
		"wrong issuer":        sign(with("iss", "evil"), shop.key, kid),
		"unknown kid":         sign(good, other, "not-a-known-kid"),
		"other key, same kid": sign(good, other, kid),
		"tampered payload":    tampered,
		"no exp":              sign(func() jwt.MapClaims { c := with("sub", sub); delete(c, "exp"); return c }(), shop.key, kid),
	}
}

func TestTokenAttacksStopAtTheEdge(t *testing.T) {
	shop := newFakeShop(t)
	base, _ := startGateway(t, shop, noLimit, noLimit)
	for name, tok := range forgeries(t, shop, "usr_attacker") {
		t.Run(name, func(t *testing.T) {
			before := shop.callCount("orders") + shop.callCount("catalog POST /v1/products")
			st, h, _ := call(t, "GET", base+"/api/v1/orders", tok, nil)
			if st != http.StatusUnauthorized || !strings.HasPrefix(h.Get("WWW-Authenticate"), "Bearer") {
				t.Errorf("GET orders = %d (WWW-Authenticate %q), want 401", st, h.Get("WWW-Authenticate"))
			}
			st, _, _ = call(t, "POST", base+"/api/v1/products", tok, map[string]any{"name": "x"})
			if st != http.StatusUnauthorized {
				t.Errorf("POST products = %d, want 401", st)
			}
			if n := shop.callCount("orders") + shop.callCount("catalog POST /v1/products") - before; n != 0 {
				t.Errorf("%d calls reached a service", n)
			}
		})
	}
}

func TestLoginAndSignupRateLimits(t *testing.T) {
	shop := newFakeShop(t)
	base, _ := startGateway(t, shop, gateway.Limit{Rate: 0.01, Burst: 2}, gateway.Limit{Rate: 0.01, Burst: 1})
	body := map[string]string{"email": "bob@example.com", "password": "correct horse", "name": "Bob"}
	if st, _, b := call(t, "POST", base+"/api/v1/users", "", body); st != http.StatusCreated {
		t.Fatalf("first sign-up: %d %s", st, b)
	}
	st, h, b := call(t, "POST", base+"/api/v1/users", "", body)
	if st != http.StatusTooManyRequests {
		t.Fatalf("second sign-up: %d %s, want 429", st, b)
	}
	if ra, err := strconv.Atoi(h.Get("Retry-After")); err != nil || ra < 1 {
		t.Errorf("Retry-After %q", h.Get("Retry-After"))
	}
	if n := shop.callCount("users POST /v1/users"); n != 1 {
		t.Errorf("users saw %d sign-ups, want 1", n)
	}
	login := map[string]string{"email": "bob@example.com", "password": "correct horse"}
	for i, want := range []int{200, 200, 429} {
		if st, _, b := call(t, "POST", base+"/api/v1/login", "", login); st != want {
			t.Errorf("login %d: %d %s, want %d", i+1, st, b, want)
		}
	}
	if n := shop.callCount("users POST /v1/login"); n != 2 {
		t.Errorf("users saw %d logins, want 2", n)
	}
	// Products are not limited.
	for range 5 {
		if st, _, _ := call(t, "GET", base+"/api/v1/products", "", nil); st != http.StatusOK {
			t.Fatalf("products: %d", st)
		}
	}
}

func TestAdminState(t *testing.T) {
	shop := newFakeShop(t)
	base, _ := startGateway(t, shop, noLimit, noLimit)
	user := signupLogin(t, base, "carol@example.com")
	admin := adminLogin(t, base)
	for range 4 {
		call(t, "GET", base+"/api/v1/products", "", nil)
	}

	if st, _, _ := call(t, "GET", base+"/admin/api/state", "", nil); st != http.StatusUnauthorized {
		t.Errorf("state without token: %d, want 401", st)
	}
	if st, _, _ := call(t, "GET", base+"/admin/api/state", user, nil); st != http.StatusForbidden {
		t.Errorf("state as user: %d, want 403", st)
	}
	st, _, body := call(t, "GET", base+"/admin/api/state", admin, nil)
	if st != http.StatusOK {
		t.Fatalf("state as admin: %d %s", st, body)
	}
	var state gateway.State
	if err := json.Unmarshal(body, &state); err != nil {
		t.Fatal(err)
	}
	want := map[string]int{"catalog": 2, "orders": 1, "users": 1}
	if len(state.Services) != len(want) {
		t.Fatalf("services %+v", state.Services)
	}
	var catalogRequests int64
	for _, s := range state.Services {
		if len(s.Instances) != want[s.Service] {
			t.Errorf("%s: %d instances, want %d", s.Service, len(s.Instances), want[s.Service])
		}
		if s.Policy == "" || s.PanicMode {
			t.Errorf("%s: policy %q, panic %v", s.Service, s.Policy, s.PanicMode)
		}
		for _, i := range s.Instances {
			if i.Health != "ready" || i.Breaker != "closed" || i.Ejected || i.Addr == "" {
				t.Errorf("%s/%s: %+v", s.Service, i.ID, i)
			}
			if s.Service == "catalog" {
				catalogRequests += i.Requests
			}
		}
	}
	if catalogRequests != 4 {
		t.Errorf("catalog instances counted %d requests, want 4", catalogRequests)
	}
	routes := map[string]gateway.RouteState{}
	for _, r := range state.Routes {
		routes[r.Route] = r
	}
	if r := routes["GET /api/v1/products"]; r.Requests != 4 || r.ServerErrors != 0 {
		t.Errorf("products route %+v, want 4 requests", r)
	}
	if r := routes["POST /api/v1/login"]; r.Requests != 2 {
		t.Errorf("login route %+v, want 2 requests", r)
	}
}

// A failing instance is avoided (its latency score, outlier detection and
// its breaker all count against it) and reads then succeed on the healthy
// one. The gateway streams answers, so the few 500s the sick instance gives
// before that reach the client; the dashboard counts them.
func TestFailingInstanceIsRoutedAround(t *testing.T) {
	shop := newFakeShop(t)
	base, g := startGateway(t, shop, noLimit, noLimit)
	shop.setFailing("catalog-2", true)
	for i := range 40 {
		// A 500 from one instance to an idempotent read is held back and
		// the read retried on the other: no reader sees it.
		if st, _, b := call(t, "GET", base+"/api/v1/products", "", nil); st != http.StatusOK {
			t.Fatalf("request %d: %d %s", i, st, b)
		}
	}
	sick := instanceState(t, g, "catalog-2")
	// Its answers were counted against it, not hidden, and peak-EWMA P2C
	// stopped choosing it after the first few.
	if sick.Failures == 0 || sick.Failures > 5 {
		t.Errorf("catalog-2's failures not counted, or it was not avoided soon enough: %+v", sick)
	}
}

func TestPages(t *testing.T) {
	shop := newFakeShop(t)
	base, _ := startGateway(t, shop, noLimit, noLimit)
	for _, tc := range []struct {
		path, ctype string
		want        int
		contains    string
	}{
		{"/", "text/html", 200, `id="products"`},
		{"/admin/", "text/html", 200, `id="services"`},
		{"/static/app.js", "text/javascript", 200, "placeOrder"},
		{"/static/admin.js", "text/javascript", 200, "/admin/api/state"},
		{"/static/common.js", "text/javascript", 200, "Bearer "},
		{"/static/style.css", "text/css", 200, ":root"},
		{"/static/", "", 404, ""},
		{"/static/nope.js", "", 404, ""},
		{"/elsewhere", "", 404, ""},
	} {
		t.Run(tc.path, func(t *testing.T) {
			st, h, body := call(t, "GET", base+tc.path, "", nil)
			if st != tc.want {
				t.Fatalf("%s = %d", tc.path, st)
			}
			if tc.want != 200 {
				return
			}
			if !strings.HasPrefix(h.Get("Content-Type"), tc.ctype) {
				t.Errorf("Content-Type %q, want %s", h.Get("Content-Type"), tc.ctype)
			}
			if !strings.Contains(h.Get("Content-Security-Policy"), "default-src 'self'") || h.Get("X-Content-Type-Options") != "nosniff" {
				t.Errorf("security headers missing: %v", h)
			}
			if !strings.Contains(string(body), tc.contains) {
				t.Errorf("body lacks %q", tc.contains)
			}
		})
	}
	req, _ := http.NewRequest("GET", base+"/admin", nil)
	resp, err := http.DefaultTransport.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMovedPermanently || resp.Header.Get("Location") != "/admin/" {
		t.Errorf("/admin = %d → %q", resp.StatusCode, resp.Header.Get("Location"))
	}
}

// The pages load nothing from another origin: no absolute URL, no
// protocol-relative URL, no inline script or handler (the CSP would block
// them anyway).
func TestPagesAreSelfContained(t *testing.T) {
	abs := regexp.MustCompile(`(?i)(https?:)?//[a-z0-9.-]+\.[a-z]{2,}`)
	inline := regexp.MustCompile(`(?i)<script>|<script [^>]*>[^<]|\son[a-z]+\s*=`)
	err := filepath.WalkDir("web", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		if m := abs.Find(b); m != nil {
			t.Errorf("%s refers to another origin: %s", path, m)
		}
		if strings.HasSuffix(path, ".html") {
			if m := inline.Find(b); m != nil {
				t.Errorf("%s has inline script: %s", path, m)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestConfigFlags(t *testing.T) {
	var c gateway.Config
	fs := flag.NewFlagSet("serve gateway", flag.ContinueOnError)
	c.RegisterFlags(fs)
	t.Setenv("ECOMMERCE_LOGIN_RATE", "3")
	if err := settings.ParseFlags(fs, []string{"--signup-burst", "7"}); err != nil {
		t.Fatal(err)
	}
	if c.Listen != gateway.DefaultListen || c.Login.Rate != 3 || c.Signup.Burst != 7 || c.Login.Burst != gateway.DefaultLoginBurst {
		t.Errorf("config %+v", c)
	}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	c.Signup.Rate = 0
	if err := c.Validate(); !errors.Is(err, settings.ErrConfig) || !strings.Contains(err.Error(), "--signup-rate") {
		t.Errorf("Validate = %v", err)
	}
}
