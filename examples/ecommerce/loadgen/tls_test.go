package loadgen_test

import (
	"context"
	"crypto/tls"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/switchyard/switchyard/discovery"
	"github.com/switchyard/switchyard/discovery/etcd/embedded"
	"github.com/switchyard/switchyard/examples/ecommerce/internal/pki"
	"github.com/switchyard/switchyard/examples/ecommerce/internal/registry"
	"github.com/switchyard/switchyard/examples/ecommerce/launcher"
	"github.com/switchyard/switchyard/examples/ecommerce/loadgen"
	"github.com/switchyard/switchyard/identity"
	"github.com/switchyard/switchyard/mtls"
)

// shopPKI makes, in data, the development CA that "up" makes, with the
// loadgen's certificate and those of names.
func shopPKI(t *testing.T, data string, names ...string) {
	t.Helper()
	a, err := pki.Open(filepath.Join(data, launcher.PKIDir), pki.Config{})
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range append(names, launcher.LoadgenService) {
		if _, err := a.Issue(n); err != nil {
			t.Fatal(err)
		}
	}
}

// TestChaosOverMutualTLS: with the loadgen's certificate in the data
// directory, the chaos loop finds the control API in a registry that
// requires client certificates (a real embedded etcd, as "up" runs it),
// calls it over mutual TLS as the loadgen, and refuses a control API
// registered under the launcher's name that holds another identity before
// sending it anything.
func TestChaosOverMutualTLS(t *testing.T) {
	const secret = "RUNSECRET2345ABCDEFGHIJKLM"
	for _, tc := range []struct {
		name   string
		server string // identity of the control API's certificate
		kills  bool
	}{
		{"the launcher", launcher.ControlService, true},
		{"an impostor", "catalog", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			data := t.TempDir()
			shopPKI(t, data, tc.server, launcher.RegistryService)
			if err := os.WriteFile(filepath.Join(data, launcher.ChaosSecretFile), []byte(secret+"\n"), 0o600); err != nil {
				t.Fatal(err)
			}
			f := launcher.IdentityFiles(data, tc.server)
			src, err := mtls.New(mtls.Config{CertFile: f.Cert, KeyFile: f.Key, CAFile: f.CA})
			if err != nil {
				t.Fatal(err)
			}

			var mu sync.Mutex // guards callers, served
			var callers []string
			served := 0
			ctl := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				mu.Lock()
				defer mu.Unlock()
				served++
				id, _ := identity.FromRequest(r)
				callers = append(callers, id.String())
				if r.Header.Get("Authorization") != "Bearer "+secret {
					writeJSON(w, http.StatusForbidden, errBody("forbidden"))
					return
				}
				writeJSON(w, http.StatusOK, launcher.KillResult{Service: r.URL.Query().Get("service"), Replica: 1, PID: 4242})
			}))
			ctl.TLS = src.ServerConfig() // a client certificate of the CA required
			ctl.StartTLS()
			defer ctl.Close()
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			rf := launcher.IdentityFiles(data, launcher.RegistryService)
			etcdSrv, err := embedded.Start(ctx, filepath.Join(data, "registry"), "127.0.0.1:0",
				embedded.Config{TLS: &embedded.TLSFiles{CertFile: rf.Cert, KeyFile: rf.Key, CAFile: rf.CA}})
			if err != nil {
				t.Fatal(err)
			}
			defer etcdSrv.Close()
			registryID, err := src.ServiceID(launcher.RegistryService)
			if err != nil {
				t.Fatal(err)
			}
			reg, err := registry.Connect(ctx, "etcd://"+etcdSrv.Addr(), registry.WithTLS(src.ClientConfig(registryID)))
			if err != nil {
				t.Fatal(err)
			}
			defer reg.Close()
			if err := reg.Registrar.Register(ctx, discovery.Instance{ID: "ctl", Service: launcher.ControlService, Addr: ctl.Listener.Addr().String()}); err != nil {
				t.Fatal(err)
			}

			shop := newFakeShop()
			shop.signups = 1
			srv := httptest.NewServer(shop.handler())
			defer srv.Close()
			cfg := baseConfig(srv.URL)
			cfg.Duration = 2500 * time.Millisecond
			cfg.Rate = 10
			cfg.Chaos = true
			cfg.Registry = "etcd://" + etcdSrv.Addr()
			cfg.Data = data
			rep, err := loadgen.Run(context.Background(), cfg)
			if err != nil {
				t.Fatal(err)
			}
			mu.Lock()
			defer mu.Unlock()
			if len(rep.Chaos) < 1 || len(rep.Chaos) > 2 {
				t.Fatalf("%d chaos events in 2.5 s at one per second: %q", len(rep.Chaos), rep.Chaos)
			}
			if !tc.kills {
				if served != 0 {
					t.Errorf("the impostor was sent %d requests, want 0", served)
				}
				for _, line := range rep.Chaos {
					if !strings.Contains(line, "failed") || !strings.Contains(line, "spiffe://shop.internal/catalog") {
						t.Errorf("chaos line %q does not say the control API held catalog's identity", line)
					}
				}
				return
			}
			if served != len(rep.Chaos) || !strings.Contains(rep.Chaos[0], "(pid 4242)") {
				t.Fatalf("%d requests served, report %q", served, rep.Chaos)
			}
			for _, c := range callers {
				if c != "spiffe://shop.internal/loadgen" {
					t.Errorf("the control API was called as %q, want the loadgen", c)
				}
			}
		})
	}
}

// TestRunOverHTTPS: an https:// target whose certificate is the shop's
// self-signed one (DATA/pki/public-self-signed.pem) is trusted; without
// that file it is not, and the set-up fails.
func TestRunOverHTTPS(t *testing.T) {
	data := t.TempDir()
	cert, key, err := pki.SelfSigned(filepath.Join(data, launcher.PKIDir), nil)
	if err != nil {
		t.Fatal(err)
	}
	shop := newFakeShop()
	shop.signups = 1
	srv := httptest.NewUnstartedServer(shop.handler())
	pair, err := tlsKeyPair(cert, key)
	if err != nil {
		t.Fatal(err)
	}
	srv.TLS = pair
	srv.StartTLS()
	defer srv.Close()

	cfg := baseConfig(srv.URL)
	cfg.Data = data
	rep, err := loadgen.Run(context.Background(), cfg)
	if err != nil {
		t.Fatalf("Run against the self-signed shop: %v", err)
	}
	if rep.Failed() != 0 || rep.Ops[loadgen.OpSignup].OK != cfg.Users {
		t.Errorf("over HTTPS: %d failed, sign-ups %+v", rep.Failed(), rep.Ops[loadgen.OpSignup])
	}

	cfg.Data = t.TempDir() // no self-signed certificate there
	if _, err := loadgen.Run(context.Background(), cfg); err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Errorf("Run without the shop's certificate = %v, want a certificate error", err)
	}
}

// tlsKeyPair returns a server configuration serving the certificate in
// certFile with the key in keyFile.
func tlsKeyPair(certFile, keyFile string) (*tls.Config, error) {
	c, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return nil, err
	}
	return &tls.Config{Certificates: []tls.Certificate{c}}, nil
}
