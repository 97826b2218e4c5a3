package identity_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"errors"
	"math/big"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/switchyard/switchyard/identity"
)

func TestParse(t *testing.T) {
	valid := []struct{ in, td, path, service string }{
		{"spiffe://shop.internal/orders", "shop.internal", "/orders", "orders"},
		{"spiffe://shop.internal", "shop.internal", "", ""},
		{"spiffe://example.org/ns/prod/sa/web_1", "example.org", "/ns/prod/sa/web_1", ""},
		{"spiffe://a-b_c.9/X.y-Z_0", "a-b_c.9", "/X.y-Z_0", "X.y-Z_0"},
	}
	for _, c := range valid {
		id, err := identity.Parse(c.in)
		if err != nil {
			t.Errorf("Parse(%q): %v", c.in, err)
			continue
		}
		if id.String() != c.in || id.TrustDomain() != c.td || id.Path() != c.path || id.Service() != c.service {
			t.Errorf("Parse(%q) = %q td %q path %q service %q", c.in, id, id.TrustDomain(), id.Path(), id.Service())
		}
	}
	invalid := []string{
		"", "spiffe://", "spiffe:///orders", "SPIFFE://shop/orders", "https://shop/orders",
		"spiffe://Shop/orders", "spiffe://shop:8443/orders", "spiffe://user@shop/orders",
		"spiffe://shop/", "spiffe://shop//orders", "spiffe://shop/orders/", "spiffe://shop/./orders",
		"spiffe://shop/../orders", "spiffe://shop/orders?x=1", "spiffe://shop/orders#f",
		"spiffe://shop/ord%20ers", "spiffe://shop/ord ers", "spiffe://shöp/orders",
		"spiffe://shop/" + strings.Repeat("a", identity.MaxLength),
	}
	for _, in := range invalid {
		if id, err := identity.Parse(in); !errors.Is(err, identity.ErrInvalid) {
			t.Errorf("Parse(%q) = %q, %v; want ErrInvalid", in, id, err)
		}
	}
}

func TestNewAndForService(t *testing.T) {
	id, err := identity.ForService("shop.internal", "users")
	if err != nil || id.String() != "spiffe://shop.internal/users" || id.Service() != "users" {
		t.Fatalf("ForService = %q, %v", id, err)
	}
	same, _ := identity.Parse("spiffe://shop.internal/users")
	if id != same {
		t.Error("ForService and Parse disagree under ==")
	}
	if !id.MemberOf("shop.internal") || id.MemberOf("shop") || (identity.ID{}).MemberOf("") {
		t.Error("MemberOf")
	}
	for _, bad := range []struct{ td, svc string }{{"shop", ""}, {"shop", "a/b"}, {"", "users"}, {"shop", ".."}, {"Shop", "users"}} {
		if _, err := identity.ForService(bad.td, bad.svc); !errors.Is(err, identity.ErrInvalid) {
			t.Errorf("ForService(%q, %q) = %v; want ErrInvalid", bad.td, bad.svc, err)
		}
	}
	if _, err := identity.New("shop", "orders"); !errors.Is(err, identity.ErrInvalid) {
		t.Errorf("New with a relative path = %v", err)
	}
	var zero identity.ID
	if !zero.IsZero() || zero.String() != "" || zero.URL() != nil || zero.Service() != "" {
		t.Error("zero ID")
	}
	if u := id.URL(); u.String() != id.String() {
		t.Errorf("URL() = %q", u)
	}
}

func TestText(t *testing.T) {
	id, _ := identity.ForService("shop.internal", "orders")
	b, err := json.Marshal(map[string]identity.ID{"caller": id})
	if err != nil || string(b) != `{"caller":"spiffe://shop.internal/orders"}` {
		t.Fatalf("Marshal = %s, %v", b, err)
	}
	var back map[string]identity.ID
	if err := json.Unmarshal(b, &back); err != nil || back["caller"] != id {
		t.Fatalf("Unmarshal = %v, %v", back, err)
	}
	if err := json.Unmarshal([]byte(`{"caller":"spiffe://x/../y"}`), &back); !errors.Is(err, identity.ErrInvalid) {
		t.Errorf("Unmarshal of a bad ID = %v", err)
	}
}

func TestFromCertificate(t *testing.T) {
	u := func(s string) *url.URL { v, _ := url.Parse(s); return v }
	cases := []struct {
		name string
		uris []*url.URL
		want string
	}{
		{"one", []*url.URL{u("spiffe://shop.internal/users")}, "spiffe://shop.internal/users"},
		{"none", nil, ""},
		{"two", []*url.URL{u("spiffe://shop.internal/users"), u("spiffe://shop.internal/admin")}, ""},
		{"not spiffe", []*url.URL{u("https://shop.internal/users")}, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			id, err := identity.FromCertificate(&x509.Certificate{URIs: c.uris})
			if c.want == "" {
				if !errors.Is(err, identity.ErrInvalid) {
					t.Fatalf("got %q, %v; want ErrInvalid", id, err)
				}
				return
			}
			if err != nil || id.String() != c.want {
				t.Fatalf("got %q, %v", id, err)
			}
		})
	}
	if _, err := identity.FromCertificate(nil); !errors.Is(err, identity.ErrInvalid) {
		t.Errorf("nil certificate: %v", err)
	}
}

func TestContext(t *testing.T) {
	ctx := context.Background()
	if _, ok := identity.FromContext(ctx); ok {
		t.Fatal("identity in an empty context")
	}
	if _, ok := identity.FromContext(identity.NewContext(ctx, identity.ID{})); ok {
		t.Fatal("the zero ID counts as an identity")
	}
	id, _ := identity.ForService("shop.internal", "gateway")
	if got, ok := identity.FromContext(identity.NewContext(ctx, id)); !ok || got != id {
		t.Fatalf("FromContext = %q, %v", got, ok)
	}
}

// TestFromRequestOverTLS runs a real handshake with and without a client
// certificate and checks that only a verified one yields an identity.
func TestFromRequestOverTLS(t *testing.T) {
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	caTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(caDER)
	pool := x509.NewCertPool()
	pool.AddCert(ca)
	leaf := func(uri string, server bool) tls.Certificate {
		key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		u, _ := url.Parse(uri)
		tmpl := &x509.Certificate{
			SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: uri},
			NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
			URIs: []*url.URL{u}, KeyUsage: x509.KeyUsageDigitalSignature,
			ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth, x509.ExtKeyUsageServerAuth},
		}
		if server {
			tmpl.DNSNames = []string{"example.com"}
		}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
		if err != nil {
			t.Fatal(err)
		}
		return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
	}
	var seen []string
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id, ok := identity.FromRequest(r)
		ctxID, ctxOK := identity.FromContext(identity.HTTPToContext(r.Context(), r))
		if ok != ctxOK || id != ctxID {
			t.Errorf("FromRequest %q %v, HTTPToContext %q %v", id, ok, ctxID, ctxOK)
		}
		seen = append(seen, id.String())
	}))
	srv.TLS = &tls.Config{
		Certificates: []tls.Certificate{leaf("spiffe://shop.internal/users", true)},
		ClientCAs:    pool, ClientAuth: tls.VerifyClientCertIfGiven,
	}
	srv.StartTLS()
	defer srv.Close()

	for _, cert := range []*tls.Certificate{nil, ptr(leaf("spiffe://shop.internal/orders", false))} {
		cfg := &tls.Config{RootCAs: pool, ServerName: "example.com"}
		if cert != nil {
			cfg.Certificates = []tls.Certificate{*cert}
		}
		c := &http.Client{Transport: &http.Transport{TLSClientConfig: cfg}}
		resp, err := c.Get(srv.URL)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		c.CloseIdleConnections()
	}
	if len(seen) != 2 || seen[0] != "" || seen[1] != "spiffe://shop.internal/orders" {
		t.Fatalf("identities seen = %q", seen)
	}
	// A request that did not come over TLS has no identity, whatever it
	// claims.
	r := httptest.NewRequest("GET", "/", nil)
	r.Header.Set("X-Client-Identity", "spiffe://shop.internal/admin")
	if id, ok := identity.FromRequest(r); ok {
		t.Fatalf("plain request has identity %q", id)
	}
	if _, ok := identity.FromConnectionState(&tls.ConnectionState{PeerCertificates: []*x509.Certificate{{URIs: []*url.URL{{Scheme: "spiffe", Host: "x", Path: "/y"}}}}}); ok {
		t.Fatal("an unverified peer certificate yields an identity")
	}
}

func ptr[T any](v T) *T { return &v }
