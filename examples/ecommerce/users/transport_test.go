package users_test

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

	"github.com/switchyard/switchyard/examples/ecommerce/internal/authn"
	"github.com/switchyard/switchyard/examples/ecommerce/users"
	"github.com/switchyard/switchyard/middleware/auth"
	shttp "github.com/switchyard/switchyard/transport/http"
)

// server serves the users routes on 127.0.0.1 behind the library's server
// defaults (body limit included), as instance.Run does.
func server(t *testing.T, opts ...users.Option) (*fixture, string) {
	t.Helper()
	f := newFixture(t, opts...)
	h, err := users.NewHandler(f.svc, f.key)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(h)
	srv.Config = shttp.NewServer(h)
	srv.Start()
	t.Cleanup(srv.Close)
	return f, srv.URL
}

type answer struct {
	status int
	body   map[string]any
	header http.Header
}

func (a answer) code() string {
	e, _ := a.body["error"].(map[string]any)
	c, _ := e["code"].(string)
	return c
}

func do(t *testing.T, method, url, body string, header ...string) answer {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	a := answer{status: resp.StatusCode, header: resp.Header}
	if len(bytes.TrimSpace(raw)) > 0 {
		if err := json.Unmarshal(raw, &a.body); err != nil {
			t.Fatalf("%s %s: body is not a JSON object: %q", method, url, raw)
		}
	}
	return a
}

func TestHTTPSignupAndLogin(t *testing.T) {
	_, base := server(t)

	a := do(t, "POST", base+"/v1/users", `{"email":"Ann@Example.com","password":"correct horse","name":"Ann","role":"admin","id":"usr_mine"}`)
	if a.status != 201 || a.body["email"] != "ann@example.com" || a.body["name"] != "Ann" || a.body["role"] != "user" ||
		a.body["id"] == "usr_mine" || len(a.body) != 4 {
		t.Fatalf("signup: %d %v (role and id in the body must be ignored)", a.status, a.body)
	}
	id := a.body["id"].(string)
	if a := do(t, "POST", base+"/v1/users", `{"email":"ann@example.com","password":"another one","name":"A"}`); a.status != 409 || a.code() != "email_taken" {
		t.Errorf("duplicate: %d %v", a.status, a.body)
	}
	if a := do(t, "POST", base+"/v1/users", `{"email":"Root@shop.example","password":"12345678","name":"Root"}`); a.status != 409 || a.code() != "email_taken" {
		t.Errorf("sign-up with the admin address: %d %v, want 409 email_taken", a.status, a.body)
	}

	for name, body := range map[string]string{
		"bad email":      `{"email":"nope","password":"12345678","name":"A"}`,
		"short password": `{"email":"b@x.io","password":"1234","name":"A"}`,
		"no name":        `{"email":"b@x.io","password":"12345678"}`,
		"malformed":      `{"email":`,
		"wrong type":     `{"email":1,"password":"12345678","name":"A"}`,
		"not an object":  `[]`,
		"empty":          ``,
		"trailing data":  `{"email":"b@x.io","password":"12345678","name":"A"} {}`,
	} {
		a := do(t, "POST", base+"/v1/users", body)
		if a.status != 400 || a.code() == "" {
			t.Errorf("%s: %d %v, want 400 with a JSON error", name, a.status, a.body)
		}
	}
	if a := do(t, "POST", base+"/v1/users", `{"email":"b@x.io","password":"12345678","name":"A"}`, "Content-Type", "text/plain"); a.status != 415 {
		t.Errorf("text/plain: %d %v", a.status, a.body)
	}
	big := `{"email":"b@x.io","password":"12345678","name":"` + strings.Repeat("a", 1<<20) + `"}`
	if a := do(t, "POST", base+"/v1/users", big); a.status != 413 || a.code() == "" {
		t.Errorf("1 MiB body: %d %v", a.status, a.body)
	}

	// Login: one answer for an unknown address and a wrong password.
	for name, body := range map[string]string{
		"unknown email":  `{"email":"nobody@example.com","password":"correct horse"}`,
		"wrong password": `{"email":"ann@example.com","password":"wrong horse!"}`,
	} {
		a := do(t, "POST", base+"/v1/login", body)
		if a.status != 401 || a.code() != "invalid_credentials" || a.body["error"].(map[string]any)["message"] != "invalid email or password" {
			t.Errorf("%s: %d %v", name, a.status, a.body)
		}
	}
	if a := do(t, "POST", base+"/v1/login", `{"email":"ann@example.com"}`); a.status != 400 || a.code() != "invalid_argument" {
		t.Errorf("login without password: %d %v", a.status, a.body)
	}
	a = do(t, "POST", base+"/v1/login", `{"email":"ann@example.com","password":"correct horse"}`)
	tok, _ := a.body["token"].(string)
	exp, _ := a.body["expires_at"].(string)
	if a.status != 200 || tok == "" {
		t.Fatalf("login: %d %v", a.status, a.body)
	}
	if at, err := time.Parse(time.RFC3339, exp); err != nil || time.Until(at) < 59*time.Minute || time.Until(at) > time.Hour {
		t.Errorf("expires_at %q: %v", exp, err)
	}

	// /v1/me needs the token.
	if a := do(t, "GET", base+"/v1/me", "", "Authorization", "Bearer "+tok); a.status != 200 || a.body["id"] != id {
		t.Errorf("me: %d %v", a.status, a.body)
	}
	for name, h := range map[string]string{"none": "", "garbage": "Bearer abc.def.ghi", "basic": "Basic YTpi"} {
		if a := do(t, "GET", base+"/v1/me", "", "Authorization", h); a.status != 401 || a.code() != "unauthorized" {
			t.Errorf("me with %s: %d %v", name, a.status, a.body)
		}
	}

	// /v1/users/{id} for other services.
	if a := do(t, "GET", base+"/v1/users/"+id, ""); a.status != 200 || a.body["email"] != "ann@example.com" {
		t.Errorf("user by id: %d %v", a.status, a.body)
	}
	if a := do(t, "GET", base+"/v1/users/usr_nobody", ""); a.status != 404 || a.code() != "user_not_found" {
		t.Errorf("unknown id: %d %v", a.status, a.body)
	}
}

// The published JWKS verifies the tokens the service issues.
func TestHTTPJWKS(t *testing.T) {
	f, base := server(t)
	resp, err := http.Get(base + "/v1/jwks")
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	var doc struct {
		Keys []map[string]string `json:"keys"`
	}
	if err := json.Unmarshal(raw, &doc); err != nil || len(doc.Keys) != 1 {
		t.Fatalf("JWKS %s: %v", raw, err)
	}
	k := doc.Keys[0]
	kid := authn.KeyID(f.key.Public().(ed25519.PublicKey))
	if k["kty"] != "OKP" || k["crv"] != "Ed25519" || k["alg"] != "EdDSA" || k["use"] != "sig" || k["kid"] != kid ||
		k["x"] == "" || k["d"] != "" {
		t.Fatalf("key %v", k)
	}
	keys, err := auth.ParseJWKS(raw)
	if err != nil {
		t.Fatal(err)
	}
	do(t, "POST", base+"/v1/users", `{"email":"ann@example.com","password":"correct horse","name":"Ann"}`)
	a := do(t, "POST", base+"/v1/login", `{"email":"ann@example.com","password":"correct horse"}`)
	var list []auth.Key
	for _, k := range keys {
		list = append(list, k)
	}
	v, _ := authn.NewValidator(auth.StaticKeys(list...))
	if _, err := v.Validate(t.Context(), a.body["token"].(string)); err != nil {
		t.Fatalf("token does not verify against the published JWKS: %v", err)
	}
}
