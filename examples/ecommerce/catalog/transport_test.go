package catalog_test

import (
	"bytes"
	"crypto/ed25519"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/switchyard/switchyard/examples/ecommerce/catalog"
	"github.com/switchyard/switchyard/examples/ecommerce/internal/authn"
	"github.com/switchyard/switchyard/middleware/auth"
	shttp "github.com/switchyard/switchyard/transport/http"
)

type tokens struct{ admin, user, forged string }

// newHandler returns the catalog's handler on f, trusting a fresh key, and
// tokens signed with it (and one with another key).
func newHandler(t testing.TB, f *fixture) (http.Handler, tokens) {
	t.Helper()
	pub, priv, _ := ed25519.GenerateKey(nil)
	_, other, _ := ed25519.GenerateKey(nil)
	v, err := authn.NewValidator(auth.StaticKeys(auth.Key{ID: authn.KeyID(pub), Alg: authn.Algorithm, Public: pub}))
	if err != nil {
		t.Fatal(err)
	}
	sign := func(k ed25519.PrivateKey, role string) string {
		s, err := authn.SignToken(k, authn.TokenClaims{UserID: "usr_" + role, Role: role}, time.Now(), time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	return catalog.NewHTTPHandler(catalog.MakeEndpoints(f.svc), v),
		tokens{admin: sign(priv, authn.RoleAdmin), user: sign(priv, authn.RoleUser), forged: sign(other, authn.RoleAdmin)}
}

func server(t *testing.T) (*fixture, string, tokens) {
	t.Helper()
	f := newFixture(t)
	h, toks := newHandler(t, f)
	srv := httptest.NewUnstartedServer(h)
	srv.Config = shttp.NewServer(h)
	srv.Start()
	t.Cleanup(srv.Close)
	return f, srv.URL, toks
}

type answer struct {
	status int
	body   map[string]any
}

func (a answer) code() string {
	e, _ := a.body["error"].(map[string]any)
	c, _ := e["code"].(string)
	return c
}

func do(t *testing.T, method, url, token, body string) answer {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	a := answer{status: resp.StatusCode}
	if len(bytes.TrimSpace(raw)) > 0 {
		if err := json.Unmarshal(raw, &a.body); err != nil {
			t.Fatalf("%s %s: body is not a JSON object: %q", method, url, raw)
		}
	}
	return a
}

func TestHTTPProducts(t *testing.T) {
	_, base, tok := server(t)

	a := do(t, "GET", base+"/v1/products?limit=5", "", "")
	list, _ := a.body["products"].([]any)
	if a.status != 200 || len(list) != 5 || a.body["next_cursor"] == "" {
		t.Fatalf("list: %d %v", a.status, a.body)
	}
	next := do(t, "GET", base+"/v1/products?limit=5&cursor="+a.body["next_cursor"].(string), "", "")
	if l, _ := next.body["products"].([]any); next.status != 200 || len(l) != 5 ||
		l[0].(map[string]any)["id"] == list[4].(map[string]any)["id"] {
		t.Fatalf("second page: %d %v", next.status, next.body)
	}
	if a := do(t, "GET", base+"/v1/products", "", ""); a.status != 200 || len(a.body["products"].([]any)) != len(catalog.SeedProducts) || a.body["next_cursor"] != "" {
		t.Fatalf("default page: %d %v", a.status, a.body)
	}
	for _, q := range []string{"limit=0", "limit=201", "limit=abc", "limit=", "limit=-3", "limit=1.5", "cursor=%25%25", "cursor=abc="} {
		if a := do(t, "GET", base+"/v1/products?"+q, "", ""); a.status != 400 || a.code() != "invalid_argument" {
			t.Errorf("?%s: %d %v", q, a.status, a.body)
		}
	}

	id := list[0].(map[string]any)["id"].(string)
	if a := do(t, "GET", base+"/v1/products/"+id, "", ""); a.status != 200 || a.body["id"] != id || len(a.body) != 5 {
		t.Errorf("get: %d %v", a.status, a.body)
	}
	if a := do(t, "GET", base+"/v1/products/prd_nope", "", ""); a.status != 404 || a.code() != "product_not_found" {
		t.Errorf("get unknown: %d %v", a.status, a.body)
	}

	body := `{"name":"Teapot","description":"Cast iron.","price_cents":3500,"stock":7,"id":"prd_mine"}`
	for name, c := range map[string]struct {
		token  string
		status int
		code   string
	}{
		"no token":   {"", 401, "unauthorized"},
		"forged":     {tok.forged, 401, "unauthorized"},
		"not admin":  {tok.user, 403, "forbidden"},
		"admin":      {tok.admin, 201, ""},
		"admin bad":  {tok.admin, 400, "invalid_argument"},
		"admin json": {tok.admin, 400, "malformed_json"},
	} {
		b := body
		switch name {
		case "admin bad":
			b = `{"name":"Teapot","price_cents":-1}`
		case "admin json":
			b = `{"name":`
		}
		a := do(t, "POST", base+"/v1/products", c.token, b)
		if a.status != c.status || a.code() != c.code {
			t.Errorf("create, %s: %d %v; want %d %q", name, a.status, a.body, c.status, c.code)
		}
		if a.status == 201 && (a.body["id"] == "prd_mine" || a.body["name"] != "Teapot" || a.body["price_cents"] != 3500.0 || a.body["stock"] != 7.0) {
			t.Errorf("created %v (the id in the body must be ignored)", a.body)
		}
	}

	if a := do(t, "PATCH", base+"/v1/products/"+id, tok.admin, `{"stock":3}`); a.status != 200 || a.body["stock"] != 3.0 {
		t.Errorf("patch: %d %v", a.status, a.body)
	}
	if a := do(t, "PATCH", base+"/v1/products/"+id, tok.user, `{"stock":3}`); a.status != 403 || a.code() != "forbidden" {
		t.Errorf("patch as user: %d %v", a.status, a.body)
	}
	if a := do(t, "PATCH", base+"/v1/products/"+id, "", `{"stock":3}`); a.status != 401 {
		t.Errorf("patch without token: %d %v", a.status, a.body)
	}
	if a := do(t, "PATCH", base+"/v1/products/prd_nope", tok.admin, `{"stock":3}`); a.status != 404 || a.code() != "product_not_found" {
		t.Errorf("patch unknown: %d %v", a.status, a.body)
	}
	if a := do(t, "PATCH", base+"/v1/products/"+id, tok.admin, `{"stock":"many"}`); a.status != 400 {
		t.Errorf("patch wrong type: %d %v", a.status, a.body)
	}
	big := `{"name":"` + strings.Repeat("a", 1<<20) + `"}`
	if a := do(t, "POST", base+"/v1/products", tok.admin, big); a.status != 413 {
		t.Errorf("1 MiB body: %d %v", a.status, a.body)
	}
}

func TestHTTPReservations(t *testing.T) {
	f, base, _ := server(t)
	id := f.product(t, "A", 5)

	r := do(t, "POST", base+"/v1/reservations", "", `{"order_id":"ord_1","items":[{"product_id":"`+id+`","quantity":2},{"product_id":"`+id+`","quantity":1}]}`)
	items, _ := r.body["items"].([]any)
	if r.status != 200 || r.body["order_id"] != "ord_1" || len(items) != 1 ||
		items[0].(map[string]any)["quantity"] != 3.0 || items[0].(map[string]any)["price_cents"] != 100.0 {
		t.Fatalf("reserve: %d %v", r.status, r.body)
	}
	if again := do(t, "POST", base+"/v1/reservations", "", `{"order_id":"ord_1","items":[{"product_id":"`+id+`","quantity":2}]}`); again.status != 200 ||
		again.body["items"].([]any)[0].(map[string]any)["quantity"] != 3.0 {
		t.Fatalf("replay: %d %v", again.status, again.body)
	}
	if a := do(t, "POST", base+"/v1/reservations", "", `{"order_id":"ord_2","items":[{"product_id":"`+id+`","quantity":3}]}`); a.status != 409 || a.code() != "out_of_stock" {
		t.Errorf("out of stock: %d %v", a.status, a.body)
	}
	if a := do(t, "POST", base+"/v1/reservations", "", `{"order_id":"ord_3","items":[{"product_id":"prd_nope","quantity":1}]}`); a.status != 404 || a.code() != "product_not_found" {
		t.Errorf("unknown product: %d %v", a.status, a.body)
	}
	for _, b := range []string{`{"items":[]}`, `{"order_id":"o","items":[{"product_id":"x","quantity":0}]}`, `{"order_id":"o"}`, `[]`, ``} {
		if a := do(t, "POST", base+"/v1/reservations", "", b); a.status != 400 {
			t.Errorf("%s: %d %v", b, a.status, a.body)
		}
	}
	for range 2 {
		if a := do(t, "DELETE", base+"/v1/reservations/ord_1", "", ""); a.status != 200 || a.body["released"] != true {
			t.Fatalf("release: %d %v", a.status, a.body)
		}
	}
	if f.stock(t, id) != 5 {
		t.Fatalf("stock %d after release, want 5", f.stock(t, id))
	}
	if a := do(t, "POST", base+"/v1/reservations", "", `{"order_id":"ord_1","items":[{"product_id":"`+id+`","quantity":1}]}`); a.status != 409 || a.code() != "reservation_released" {
		t.Errorf("reserve after release: %d %v", a.status, a.body)
	}
}
