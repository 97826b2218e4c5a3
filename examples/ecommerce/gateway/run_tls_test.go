package gateway_test

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/switchyard/switchyard/discovery/etcd/embedded"
	"github.com/switchyard/switchyard/examples/ecommerce/gateway"
	"github.com/switchyard/switchyard/examples/ecommerce/internal/registry"
	"github.com/switchyard/switchyard/examples/ecommerce/internal/secure"
	"github.com/switchyard/switchyard/examples/ecommerce/internal/secure/securetest"
	"github.com/switchyard/switchyard/examples/ecommerce/internal/settings"
	"github.com/switchyard/switchyard/identity"
	"github.com/switchyard/switchyard/mtls/mtlstest"
)

// publicCert writes a certificate for 127.0.0.1 issued by a CA of its own,
// as a public CA would issue one, and returns its files and a pool that
// trusts it.
func publicCert(t *testing.T) (certFile, keyFile string, roots *tls.Config) {
	t.Helper()
	ca := mtlstest.NewCA("public CA")
	dir := t.TempDir()
	certFile, keyFile = filepath.Join(dir, "public.pem"), filepath.Join(dir, "public-key.pem")
	ca.IssueTemplate(mtlstest.Template(identity.ID{})).Write(certFile, keyFile)
	return certFile, keyFile, &tls.Config{RootCAs: mtlstest.Pool(ca)}
}

func TestPublicTLSFlags(t *testing.T) {
	certFile, keyFile, _ := publicCert(t)
	_, otherKey, _ := publicCert(t)
	garbage := filepath.Join(t.TempDir(), "garbage.pem")
	mtlstest.WriteFile(garbage, []byte("not a certificate"))
	base := []string{"--data", t.TempDir()}
	for _, c := range []struct {
		name string
		args []string
		want string // "" for valid
	}{
		{"neither", nil, ""},
		{"both", []string{"--public-tls-cert", certFile, "--public-tls-key", keyFile}, ""},
		{"cert alone", []string{"--public-tls-cert", certFile}, "go together"},
		{"key alone", []string{"--public-tls-key", keyFile}, "go together"},
		{"a key of another certificate", []string{"--public-tls-cert", certFile, "--public-tls-key", otherKey}, "cannot be loaded"},
		{"not PEM", []string{"--public-tls-cert", garbage, "--public-tls-key", garbage}, "cannot be loaded"},
		{"missing", []string{"--public-tls-cert", certFile + ".missing", "--public-tls-key", keyFile}, "cannot be loaded"},
	} {
		t.Run(c.name, func(t *testing.T) {
			cfg, err := parseGatewayFlags(t, append(base, c.args...)...)
			if err != nil {
				t.Fatal(err)
			}
			err = cfg.Validate()
			switch {
			case c.want == "" && err != nil:
				t.Errorf("Validate: %v", err)
			case c.want != "" && (!errors.Is(err, settings.ErrConfig) || !strings.Contains(err.Error(), "--public-tls-cert") ||
				!strings.Contains(err.Error(), "ECOMMERCE_PUBLIC_TLS_CERT") || !strings.Contains(err.Error(), c.want)):
				t.Errorf("Validate: %v; want ErrConfig naming --public-tls-cert, its variable and %q", err, c.want)
			}
		})
	}
	t.Run("from the environment", func(t *testing.T) {
		t.Setenv("ECOMMERCE_PUBLIC_TLS_CERT", certFile)
		t.Setenv("ECOMMERCE_PUBLIC_TLS_KEY", keyFile)
		cfg, err := parseGatewayFlags(t, base...)
		if err != nil || cfg.PublicTLS.Cert != certFile || cfg.PublicTLS.Key != keyFile {
			t.Fatalf("%+v %v", cfg.PublicTLS, err)
		}
		if err := cfg.Validate(); err != nil {
			t.Error(err)
		}
	})
}

// TestRunMutualTLSAndPublicHTTPS runs "serve gateway" as the launcher
// does, with the gateway's certificate against a registry and services
// that require the shop's client certificates: it serves the catalogue
// and a logged-in user through mutual TLS, never through the impostor
// registered as catalog with orders' certificate, and its dashboard
// probes the instances over TLS. With --public-tls-cert and
// --public-tls-key it serves HTTPS with HTTP/2 and HSTS; without them
// plain HTTP without HSTS.
func TestRunMutualTLSAndPublicHTTPS(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	pki := securetest.New(t, "shop")
	regFiles := pki.Issue(t, secure.RegistryService)
	etcd, err := embedded.Start(ctx, t.TempDir(), "127.0.0.1:0", embedded.Config{UnsafeNoFsync: true,
		TLS: &embedded.TLSFiles{CertFile: regFiles.Cert, KeyFile: regFiles.Key, CAFile: regFiles.CA}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { etcd.Close() })
	url := "etcd://" + etcd.Addr()
	// conn joins the registry as a process holding service's certificate.
	conn := func(service string) *registry.Conn {
		c, err := registry.Connect(ctx, url, loadID(t, pki.Issue(t, service), service).Registry())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}

	shop := newFakeShopState(t)
	shop.startTLSServices(pki, conn("users").Registrar)
	orders := conn("orders")
	shop.startTLS("catalog", "catalog-impostor", shop.catalogHandler(), loadID(t, pki.Issue(t, "orders"), "orders"), orders.Registrar)

	certFile, keyFile, roots := publicCert(t)
	for _, public := range []bool{true, false} {
		t.Run(fmt.Sprintf("public TLS %v", public), func(t *testing.T) {
			args := []string{"--registry", url, "--listen", "127.0.0.1:0", "--data", t.TempDir(),
				"--tls-cert", pki.Issue(t, secure.Gateway).Cert, "--tls-key", pki.Issue(t, secure.Gateway).Key, "--tls-ca", regFiles.CA,
				"--login-rate", "1000", "--signup-rate", "1000"}
			if public {
				args = append(args, "--public-tls-cert", certFile, "--public-tls-key", keyFile)
			}
			cfg, err := parseGatewayFlags(t, args...)
			if err != nil {
				t.Fatal(err)
			}
			cfg.Logger, cfg.DrainDelay = slog.New(slog.DiscardHandler), -1

			// The gateway's instance is the one not yet registered.
			known := map[string]bool{}
			w, err := orders.Resolver.Watch(ctx, gateway.ServiceName)
			if err != nil {
				t.Fatal(err)
			}
			defer w.Stop()
			first := <-w.Updates()
			for _, i := range first.Instances {
				known[i.ID] = true
			}
			runCtx, stop := context.WithCancel(ctx)
			done := make(chan error, 1)
			go func() { done <- gateway.Run(runCtx, cfg) }()
			defer func() {
				stop()
				if err := <-done; err != nil {
					t.Errorf("Run: %v", err)
				}
			}()
			var addr string
			for addr == "" {
				select {
				case u := <-w.Updates():
					for _, i := range u.Instances {
						if !known[i.ID] {
							addr = i.Addr
						}
					}
				case err := <-done:
					t.Fatalf("Run: %v", err)
				case <-ctx.Done():
					t.Fatal("the gateway did not register")
				}
			}

			client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: roots, ForceAttemptHTTP2: true}}
			defer client.CloseIdleConnections()
			base := "http://" + addr
			if public {
				base = "https://" + addr
			}
			get := func(path, token string) *http.Response {
				t.Helper()
				req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+path, nil)
				if err != nil {
					t.Fatal(err)
				}
				if token != "" {
					req.Header.Set("Authorization", "Bearer "+token)
				}
				resp, err := client.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				return resp
			}
			waitFor(t, func() bool {
				resp := get("/readyz", "")
				resp.Body.Close()
				return resp.StatusCode == http.StatusOK
			})
			before := shop.callCount("instance catalog-1")
			for i := range 10 {
				resp := get("/api/v1/products", "")
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != http.StatusOK {
					t.Fatalf("GET /api/v1/products %d: %d", i, resp.StatusCode)
				}
				hsts := resp.Header.Get("Strict-Transport-Security")
				switch {
				case public && (resp.ProtoMajor != 2 || hsts != gateway.HSTS):
					t.Fatalf("over HTTPS: %s, Strict-Transport-Security %q; want HTTP/2 and %q", resp.Proto, hsts, gateway.HSTS)
				case !public && (resp.TLS != nil || hsts != ""):
					t.Fatalf("over plain HTTP: TLS %v, Strict-Transport-Security %q; want none", resp.TLS != nil, hsts)
				}
			}
			if n := shop.callCount("instance catalog-1") - before; n != 10 {
				t.Errorf("the genuine catalog served %d of 10 requests", n)
			}
			if n := shop.callCount("instance catalog-impostor"); n != 0 {
				t.Errorf("the impostor served %d requests", n)
			}
			if !public {
				// A TLS client finds no TLS on the plain listener.
				resp, err := (&http.Client{Transport: &http.Transport{TLSClientConfig: roots}}).Get("https://" + addr + "/healthz")
				if err == nil {
					resp.Body.Close()
					t.Fatal("the plain listener answered TLS")
				}
			}

			// The admin's token is checked with keys fetched from users
			// over mutual TLS; the dashboard probed each instance over TLS.
			st, _, b := loginWith(t, client, base)
			if st != http.StatusOK {
				t.Fatalf("admin login: %d %s", st, b)
			}
			var tok struct{ Token string }
			if err := json.Unmarshal(b, &tok); err != nil {
				t.Fatal(err)
			}
			resp := get("/admin/api/state", tok.Token)
			var state gateway.State
			err = json.NewDecoder(resp.Body).Decode(&state)
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK || err != nil {
				t.Fatalf("GET /admin/api/state: %d %v", resp.StatusCode, err)
			}
			for _, s := range state.Services {
				for _, i := range s.Instances {
					if i.Health != "ready" {
						t.Errorf("%s %s on the dashboard: %q, want ready (probed over TLS)", s.Service, i.ID, i.Health)
					}
				}
			}
			if len(instancesOf(state, "catalog")) != 2 {
				t.Errorf("catalog on the dashboard: %+v", instancesOf(state, "catalog"))
			}
		})
	}
}

// loginWith logs the shop's admin in at base with client.
func loginWith(t *testing.T, client *http.Client, base string) (int, http.Header, []byte) {
	t.Helper()
	body := fmt.Sprintf(`{"email":%q,"password":%q}`, adminEmail, adminPassword)
	resp, err := client.Post(base+"/api/v1/login", "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, b
}
