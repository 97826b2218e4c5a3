package secure_test

import (
	"bytes"
	"crypto/tls"
	"encoding/json"
	"errors"
	"io"
	"log"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/switchyard/switchyard/mtls"

	"github.com/switchyard/switchyard/examples/ecommerce/internal/secure"
	"github.com/switchyard/switchyard/examples/ecommerce/internal/secure/securetest"
	"github.com/switchyard/switchyard/examples/ecommerce/internal/settings"
)

func quiet() *slog.Logger { return slog.New(slog.DiscardHandler) }

func load(t *testing.T, files settings.TLSFiles, service string) *secure.Identity {
	t.Helper()
	id, err := secure.Load(files, service, quiet())
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// Without files a process is in plain HTTP, says so, and every setting
// built from its nil Identity is the plaintext one.
func TestLoadPlain(t *testing.T) {
	var log bytes.Buffer
	id, err := secure.Load(settings.TLSFiles{}, "catalog", slog.New(slog.NewTextHandler(&log, nil)))
	if err != nil || id != nil {
		t.Fatalf("Load without files = %v, %v; want nil, nil", id, err)
	}
	if !strings.Contains(log.String(), "mutual TLS is off") {
		t.Errorf("no warning logged: %q", log.String())
	}
	if id.Server() != nil || id.Peers() != nil || id.Source() != nil {
		t.Error("the nil Identity gave a TLS setting")
	}
	if cfg, err := id.Upstream("users"); cfg != nil || err != nil {
		t.Errorf("Upstream = %v, %v", cfg, err)
	}
	if access, err := id.Access(secure.Policy{"/": {"gateway"}}, nil); access != nil || err != nil {
		t.Errorf("Access = %v, %v; want no layer", access != nil, err)
	}
}

// A process refuses to start with part of its files, or with a
// certificate that names another service.
func TestLoadRefuses(t *testing.T) {
	p := securetest.New(t, "shop")
	orders := p.Issue(t, "orders")
	for name, files := range map[string]settings.TLSFiles{
		"no CA":   {Cert: orders.Cert, Key: orders.Key},
		"no key":  {Cert: orders.Cert, CA: orders.CA},
		"missing": {Cert: orders.Cert + ".gone", Key: orders.Key, CA: orders.CA},
	} {
		if _, err := secure.Load(files, "orders", quiet()); !errors.Is(err, settings.ErrConfig) {
			t.Errorf("%s: err = %v, want settings.ErrConfig", name, err)
		}
	}
	if _, err := secure.Load(orders, "catalog", quiet()); !errors.Is(err, secure.ErrIdentity) {
		t.Errorf("catalog with orders' certificate: err = %v, want ErrIdentity", err)
	}
	ca := settings.TLSFiles{Cert: orders.CA, Key: orders.CA, CA: orders.CA}
	if _, err := secure.Load(ca, "orders", quiet()); !errors.Is(err, mtls.ErrCertificate) {
		t.Errorf("a CA file as certificate: err = %v, want mtls.ErrCertificate", err)
	}
}

// A listener with a service's Server configuration and its Access layer
// admits each route's services only; everyone else is refused before the
// handler runs — at the handshake (another CA, an expired certificate),
// by the server (plain HTTP) or by the policy (403) — while /healthz,
// outside the layer, answers a prober without a certificate.
func TestAccess(t *testing.T) {
	p := securetest.New(t, "shop")
	catalog := load(t, p.Issue(t, "catalog"), "catalog")
	access, err := catalog.Access(secure.Policy{
		"POST /v1/reservations": {secure.Orders},
		"GET /v1/products":      {secure.Gateway},
		"/":                     secure.Services,
	}, quiet())
	if err != nil {
		t.Fatal(err)
	}
	var reached atomic.Int64
	api := http.NewServeMux()
	api.HandleFunc("POST /v1/reservations", func(w http.ResponseWriter, r *http.Request) { reached.Add(1) })
	api.HandleFunc("GET /v1/products", func(w http.ResponseWriter, r *http.Request) { reached.Add(1) })
	root := http.NewServeMux()
	root.Handle("/v1/", access(api))
	root.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {})
	srv := httptest.NewUnstartedServer(root)
	srv.TLS = catalog.Server()
	srv.Config.ErrorLog = log.New(io.Discard, "", 0) // the refused handshakes
	srv.StartTLS()
	defer srv.Close()

	// clientOf returns an HTTP client presenting files' certificate (none
	// for zero files) and expecting the catalog.
	expectCatalog := load(t, p.Issue(t, "probe"), "probe")
	clientOf := func(files settings.TLSFiles, service string) *http.Client {
		cfg, err := expectCatalog.Upstream("catalog")
		if err != nil {
			t.Fatal(err)
		}
		if files.Cert != "" {
			src, err := mtls.New(mtls.Config{CertFile: files.Cert, KeyFile: files.Key, CAFile: files.CA})
			if err != nil {
				t.Fatal(err)
			}
			cfg = src.ClientConfig(securetest.ID(t, "catalog"))
		} else {
			cfg = cfg.Clone()
			cfg.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
				return &tls.Certificate{}, nil // present none
			}
		}
		c := &http.Client{Transport: &http.Transport{TLSClientConfig: cfg}}
		t.Cleanup(c.CloseIdleConnections)
		return c
	}
	do := func(c *http.Client, method, path string) (int, string, error) {
		req, _ := http.NewRequest(method, srv.URL+path, nil)
		resp, err := c.Do(req)
		if err != nil {
			return 0, "", err
		}
		defer resp.Body.Close()
		var body struct {
			Error struct{ Code string } `json:"error"`
		}
		b, _ := io.ReadAll(resp.Body)
		_ = json.Unmarshal(b, &body)
		return resp.StatusCode, body.Error.Code, nil
	}

	orders := clientOf(p.Issue(t, "orders"), "orders")
	gateway := clientOf(p.Issue(t, "gateway"), "gateway")
	anonymous := clientOf(settings.TLSFiles{}, "")
	for _, c := range []struct {
		name         string
		client       *http.Client
		method, path string
		status       int
		code         string
	}{
		{"orders reserves", orders, "POST", "/v1/reservations", 200, ""},
		{"the gateway lists", gateway, "GET", "/v1/products", 200, ""},
		{"the gateway reserves", gateway, "POST", "/v1/reservations", 403, "forbidden"},
		{"orders lists", orders, "GET", "/v1/products", 403, "forbidden"},
		{"no certificate reserves", anonymous, "POST", "/v1/reservations", 403, "no_identity"},
		{"no certificate lists", anonymous, "GET", "/v1/products", 403, "no_identity"},
		{"a shop service, unknown path", orders, "GET", "/v1/nothing", 404, ""},
		{"no certificate, unknown path", anonymous, "GET", "/v1/nothing", 403, "no_identity"},
		{"no certificate probes", anonymous, "GET", "/healthz", 200, ""},
	} {
		before := reached.Load()
		status, code, err := do(c.client, c.method, c.path)
		if err != nil || status != c.status || code != c.code {
			t.Errorf("%s: %d %q, %v; want %d %q", c.name, status, code, err, c.status, c.code)
		}
		if admitted := reached.Load() > before; admitted != (c.status == 200 && c.path != "/healthz") {
			t.Errorf("%s: handler reached = %v", c.name, admitted)
		}
	}

	// raw presents files' certificate whatever the server asks for (a Go
	// client left to choose sends none that the server's CA list rules
	// out, and is then anonymous: 403) and skips checking the server's:
	// only the server's refusal is under test.
	raw := func(files settings.TLSFiles) *http.Client {
		cert, err := tls.LoadX509KeyPair(files.Cert, files.Key)
		if err != nil {
			t.Fatal(err)
		}
		c := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{
			GetClientCertificate: func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return &cert, nil },
			InsecureSkipVerify:   true}}}
		t.Cleanup(c.CloseIdleConnections)
		return c
	}
	before := reached.Load()
	other := securetest.New(t, "other")
	for name, c := range map[string]*http.Client{
		"another CA":                            raw(other.Issue(t, "orders")),
		"expired":                               raw(p.IssueExpired(t, "orders")),
		"a CA-signed certificate without an ID": raw(p.IssueNoID(t)),
	} {
		if status, _, err := do(c, "POST", "/v1/reservations"); err == nil {
			t.Errorf("%s: answered %d, want a failed handshake", name, status)
		}
	}
	plain, err := http.Post(strings.Replace(srv.URL, "https://", "http://", 1)+"/v1/reservations", "application/json", nil)
	if err != nil {
		t.Fatal(err)
	}
	plain.Body.Close()
	if plain.StatusCode != http.StatusBadRequest {
		t.Errorf("plain HTTP: %d, want 400", plain.StatusCode)
	}
	if n := reached.Load() - before; n != 0 {
		t.Errorf("refused callers reached the handler %d times", n)
	}
}
