package e2e_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"maps"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// adminState is the part of GET /admin/api/state the tests read.
type adminState struct {
	Services []struct {
		Service   string `json:"service"`
		Instances []struct {
			ID       string `json:"id"`
			Addr     string `json:"addr"`
			Requests int64  `json:"requests"`
		} `json:"instances"`
	} `json:"services"`
}

func (w *world) state(ctx context.Context, t *testing.T) adminState {
	t.Helper()
	var st adminState
	w.c.expect(ctx, t, http.StatusOK, "GET", "/admin/api/state", w.admin.token, nil).decode(t, &st)
	if len(st.Services) != 3 {
		t.Fatalf("admin state lists %d services, want users, catalog and orders", len(st.Services))
	}
	return st
}

// instanceAddrs returns the addresses of a service's instances, from the
// gateway's view of the registry.
func (st adminState) instanceAddrs(service string) []string {
	var out []string
	for _, s := range st.Services {
		if s.Service == service {
			for _, in := range s.Instances {
				out = append(out, in.Addr)
			}
		}
	}
	return out
}

// callCounts counts the requests that reached each service instance, two
// ways: the gateway's per-instance upstream count (admin state), and the
// instance's own switchyard_requests_total from its /metrics, summed over
// its operations except the JWKS (a token with an unknown kid makes the
// gateway refresh the users service's keys, which is not the forged
// request reaching a service). Keys are "gateway→ADDR" and "ADDR".
func (w *world) callCounts(ctx context.Context, t *testing.T) map[string]int64 {
	t.Helper()
	st := w.state(ctx, t)
	out := map[string]int64{}
	hc := stranger(t) // /metrics needs no certificate
	for _, s := range st.Services {
		for _, in := range s.Instances {
			out["gateway→"+s.Service+"@"+in.Addr] = in.Requests
			req, err := http.NewRequestWithContext(ctx, http.MethodGet, "https://"+in.Addr+"/metrics", nil)
			if err != nil {
				t.Fatal(err)
			}
			resp, err := hc.Do(req)
			if err != nil {
				t.Fatalf("metrics of %s %s: %v", s.Service, in.Addr, err)
			}
			n, err := sumRequests(resp.Body)
			resp.Body.Close()
			if err != nil {
				t.Fatalf("metrics of %s %s: %v", s.Service, in.Addr, err)
			}
			out[s.Service+"@"+in.Addr] = n
		}
	}
	return out
}

var operationLabel = regexp.MustCompile(`operation="([^"]*)"`)

// sumRequests sums switchyard_requests_total in a Prometheus text
// exposition, leaving out the JWKS operations. An instance that has served
// nothing yet has no series at all, which counts as 0 (the control request
// in testTokenAttacks proves the counter is there once it counts).
func sumRequests(r io.Reader) (int64, error) {
	var total int64
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, "switchyard_requests_total{") {
			continue
		}
		if m := operationLabel.FindStringSubmatch(line); m != nil && strings.Contains(m[1], "jwks") {
			continue
		}
		v, err := strconv.ParseFloat(line[strings.LastIndexByte(line, ' ')+1:], 64)
		if err != nil {
			return 0, fmt.Errorf("bad sample %q: %w", line, err)
		}
		total += int64(v)
	}
	return total, sc.Err()
}

// testTokenAttacks sends forged tokens to every kind of protected route and
// checks that each gets 401 from the gateway and that no request reached a
// service instance.
func testTokenAttacks(t *testing.T, w *world) {
	c := w.c
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	p := c.createProduct(ctx, t, w.admin, "Forgery-proof safe", 25000, 5)
	u := w.signUp(ctx, t, "victim@example.com", "Victim")
	other := w.signUp(ctx, t, "bystander@example.com", "Bystander")

	// The shop's key, from its data directory, and what users publishes.
	key := signingKey(t, w.shop.data)
	pub := key.Public().(ed25519.PublicKey)
	kid := thumbprint(pub)
	st := w.state(ctx, t)
	usersAddrs := st.instanceAddrs("users")
	if len(usersAddrs) == 0 {
		t.Fatal("no users instance in the admin state")
	}
	jwks := fetchJWKS(ctx, t, w.shop.clientAs(t, "gateway"), usersAddrs[0])
	if len(jwks.Keys) != 1 || jwks.Keys[0].Kid != kid || jwks.Keys[0].X != b64(pub) || jwks.Keys[0].Alg != "EdDSA" {
		t.Fatalf("users publishes %+v, want the one Ed25519 key %s of users-signing.key", jwks.Keys, kid)
	}
	x := jwks.Keys[0].X
	pubRaw, _ := base64.RawURLEncoding.DecodeString(x)
	spki, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	pubPEM := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: spki})
	_, stranger, _ := ed25519.GenerateKey(nil)

	issued := tokenClaims(t, u.token)
	now := time.Now()
	claims := func(edit func(map[string]any)) map[string]any {
		c := map[string]any{
			"iss": issued["iss"], "aud": issued["aud"], "sub": u.ID, "email": u.Email, "role": "user",
			"iat": now.Unix(), "nbf": now.Unix(), "exp": now.Add(time.Hour).Unix(), "jti": "e2e-forged",
		}
		if edit != nil {
			edit(c)
		}
		return c
	}
	ed := map[string]any{"alg": "EdDSA", "typ": "JWT", "kid": kid}
	hs := map[string]any{"alg": "HS256", "typ": "JWT", "kid": kid}

	// Control: a token made here with the shop's key and the right claims
	// is accepted, so each attack below fails for its own reason only.
	control := signEdDSA(t, key, ed, claims(nil))
	var me user
	c.expect(ctx, t, http.StatusOK, "GET", "/api/v1/me", control, nil).decode(t, &me)
	if me.ID != u.ID {
		t.Fatalf("control token: /me answered %+v", me)
	}

	realParts := strings.Split(u.token, ".")
	attacks := []struct{ name, token string }{
		{"alg none", unsigned(t, map[string]any{"alg": "none", "typ": "JWT", "kid": kid}, claims(nil))},
		{"alg None", unsigned(t, map[string]any{"alg": "None", "typ": "JWT"}, claims(nil))},
		{"alg none with the real signature", segment(t, map[string]any{"alg": "none", "typ": "JWT", "kid": kid}) + "." + realParts[1] + "." + realParts[2]},
		{"HS256 keyed with the public key bytes", signHS256(t, pubRaw, hs, claims(nil))},
		{"HS256 keyed with the JWKS x text", signHS256(t, []byte(x), hs, claims(nil))},
		{"HS256 keyed with the public key PEM", signHS256(t, pubPEM, hs, claims(nil))},
		{"expired", signEdDSA(t, key, ed, claims(func(c map[string]any) {
			c["iat"], c["nbf"], c["exp"] = now.Add(-2*time.Hour).Unix(), now.Add(-2*time.Hour).Unix(), now.Add(-time.Minute).Unix()
		}))},
		{"no exp", signEdDSA(t, key, ed, claims(func(c map[string]any) { delete(c, "exp") }))},
		{"not valid yet", signEdDSA(t, key, ed, claims(func(c map[string]any) { c["nbf"] = now.Add(time.Hour).Unix() }))},
		{"wrong audience", signEdDSA(t, key, ed, claims(func(c map[string]any) { c["aud"] = "someone-else" }))},
		{"audience list without ours", signEdDSA(t, key, ed, claims(func(c map[string]any) { c["aud"] = []string{"a", "b"} }))},
		{"wrong issuer", signEdDSA(t, key, ed, claims(func(c map[string]any) { c["iss"] = "evil-issuer" }))},
		{"unknown kid", signEdDSA(t, stranger, map[string]any{"alg": "EdDSA", "typ": "JWT", "kid": "no-such-key"}, claims(nil))},
		{"another key under the shop's kid", signEdDSA(t, stranger, ed, claims(nil))},
		{"tampered payload: role admin", withClaims(t, u.token, func() map[string]any {
			c := maps.Clone(issued)
			c["role"] = "admin"
			return c
		}())},
		{"tampered payload: another user", withClaims(t, u.token, func() map[string]any {
			c := maps.Clone(issued)
			c["sub"] = other.ID
			return c
		}())},
		{"tampered signature", realParts[0] + "." + realParts[1] + "." + flipFirst(realParts[2])},
	}
	routes := []struct {
		method, path string
		body         any
	}{
		{"GET", "/api/v1/me", nil},
		{"GET", "/api/v1/orders", nil},
		{"POST", "/api/v1/orders", orderBody(p.ID, 1)},
		{"POST", "/api/v1/products", map[string]any{"name": "Forged", "price_cents": 1, "stock": 1}},
		{"PATCH", "/api/v1/products/" + p.ID, map[string]any{"stock": 1000}},
	}

	before := w.callCounts(ctx, t)
	for i, a := range attacks {
		for _, rt := range routes {
			r := c.must(ctx, t, rt.method, rt.path, a.token, rt.body, "Idempotency-Key", fmt.Sprintf("attack-%d", i))
			if r.status != http.StatusUnauthorized {
				t.Errorf("%s: %s %s answered %s, want 401", a.name, rt.method, rt.path, r)
			}
		}
	}
	after := w.callCounts(ctx, t)
	if !maps.Equal(before, after) {
		t.Errorf("requests reached service instances during the attacks:\nbefore %v\nafter  %v", before, after)
	}

	// Both kinds of count do see a request that gets through: one with a
	// good token moves the gateway's count and the instance's own.
	c.expect(ctx, t, http.StatusOK, "GET", "/api/v1/orders", u.token, nil)
	control2 := w.callCounts(ctx, t)
	gw, own := sums(control2)
	gw0, own0 := sums(after)
	if gw-gw0 != 1 || own-own0 < 1 {
		t.Errorf("one accepted request moved the gateway's count by %d (want 1) and the instances' own by %d (want ≥ 1): the check above cannot see a call\nbefore %v\nafter  %v",
			gw-gw0, own-own0, after, control2)
	}
	if !t.Failed() {
		t.Logf("%d forged tokens × %d routes: all 401, no instance reached (%d counters unchanged)", len(attacks), len(routes), len(after))
	}

	if got := c.product(ctx, t, p.ID); got.Stock != 5 || got.Name != "Forgery-proof safe" {
		t.Errorf("the product changed under forged tokens: %+v", got)
	}
	if list := c.orders(ctx, t, u); len(list) != 0 {
		t.Errorf("the victim has %d orders after forged order attempts", len(list))
	}
	checkInvariant(t, w.shop.data)
}

// sums adds up callCounts: the gateway's counts and the instances' own.
func sums(m map[string]int64) (gateway, own int64) {
	for k, v := range m {
		if strings.HasPrefix(k, "gateway→") {
			gateway += v
		} else {
			own += v
		}
	}
	return gateway, own
}

// flipFirst changes the first character of a base64url segment.
func flipFirst(s string) string {
	if s[0] == 'A' {
		return "B" + s[1:]
	}
	return "A" + s[1:]
}

type jwksDoc struct {
	Keys []struct {
		Kty string `json:"kty"`
		Crv string `json:"crv"`
		X   string `json:"x"`
		Kid string `json:"kid"`
		Alg string `json:"alg"`
	} `json:"keys"`
}

// fetchJWKS reads a users instance's published keys directly with hc (the
// gateway does not route /v1/jwks, and users gives it only to the shop's
// services: hc presents one's certificate).
func fetchJWKS(ctx context.Context, t *testing.T, hc *http.Client, addr string) jwksDoc {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "https://"+addr+"/v1/jwks", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var doc jwksDoc
	if resp.StatusCode != http.StatusOK || json.Unmarshal(raw, &doc) != nil {
		t.Fatalf("GET %s/v1/jwks: %d %s", addr, resp.StatusCode, bytes.TrimSpace(raw))
	}
	return doc
}
