package registry_test

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/switchyard/switchyard/discovery"
	"github.com/switchyard/switchyard/discovery/etcd"
	"github.com/switchyard/switchyard/discovery/etcd/embedded"
	"github.com/switchyard/switchyard/examples/ecommerce/internal/registry"
	"github.com/switchyard/switchyard/identity"
	"github.com/switchyard/switchyard/mtls"
	"github.com/switchyard/switchyard/mtls/mtlstest"
)

// pki is a CA with files for the registry and for the services, laid out
// like the shop's: each identity's chain and key in one file.
type pki struct {
	ca  *mtlstest.CA
	dir string
}

func newPKI(t *testing.T, name string) *pki {
	p := &pki{ca: mtlstest.NewCA(name), dir: t.TempDir()}
	mtlstest.WriteFile(p.file("ca.pem"), p.ca.PEM)
	return p
}

func (p *pki) file(name string) string { return filepath.Join(p.dir, name) }

func id(t *testing.T, service string) identity.ID {
	t.Helper()
	v, err := identity.ForService("shop.test", service)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// issue writes a certificate for service into <service>.pem and returns
// a source on it.
func (p *pki) issue(t *testing.T, service string) *mtls.Source {
	t.Helper()
	f := p.file(service + ".pem")
	p.ca.Issue(id(t, service)).Write(f, f)
	src, err := mtls.New(mtls.Config{CertFile: f, KeyFile: f, CAFile: p.file("ca.pem")})
	if err != nil {
		t.Fatal(err)
	}
	return src
}

// A service registers and another finds it through an etcd that requires
// client certificates; a connection in plaintext, with a certificate of
// another CA, or to a registry that is not the registry, does not get
// through.
func TestConnectTLS(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	shop := newPKI(t, "shop CA")
	shop.issue(t, "registry")
	srv, err := embedded.Start(ctx, t.TempDir(), "127.0.0.1:0", embedded.Config{
		UnsafeNoFsync: true,
		TLS:           &embedded.TLSFiles{CertFile: shop.file("registry.pem"), KeyFile: shop.file("registry.pem"), CAFile: shop.file("ca.pem")},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	url := "etcd://" + srv.Addr()
	registryID := id(t, "registry")

	catalog, err := registry.Connect(ctx, url, registry.WithTLS(shop.issue(t, "catalog").ClientConfig(registryID)))
	if err != nil {
		t.Fatal(err)
	}
	defer catalog.Close()
	gateway, err := registry.Connect(ctx, url, registry.WithTLS(shop.issue(t, "gateway").ClientConfig(registryID)))
	if err != nil {
		t.Fatal(err)
	}
	defer gateway.Close()
	w, err := gateway.Resolver.Watch(ctx, "catalog")
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	in := discovery.Instance{ID: "catalog-1", Service: "catalog", Addr: "127.0.0.1:9001"}
	if err := catalog.Registrar.Register(ctx, in); err != nil {
		t.Fatal(err)
	}
	for seen := false; !seen; {
		select {
		case u := <-w.Updates():
			seen = len(u.Instances) == 1 && u.Instances[0].Equal(in)
		case <-ctx.Done():
			t.Fatal("the gateway never saw catalog-1")
		}
	}

	other := newPKI(t, "other CA")
	// The group waits for its parallel subtests, before the deferred
	// cancel and closes run.
	t.Run("refused", func(t *testing.T) {
		for _, tc := range []struct {
			name string
			opts []registry.Option
		}{
			{"plaintext", nil},
			{"nil TLS is plaintext", []registry.Option{registry.WithTLS(nil)}},
			{"another CA", []registry.Option{registry.WithTLS(other.issue(t, "orders").ClientConfig(registryID))}},
			// The client refuses a registry whose certificate names another
			// service: a stand-in registry cannot collect registrations.
			{"not the registry", []registry.Option{registry.WithTLS(shop.issue(t, "orders").ClientConfig(id(t, "users")))}},
		} {
			t.Run(tc.name, func(t *testing.T) {
				t.Parallel()
				conn, err := registry.Connect(ctx, url, tc.opts...)
				if err != nil {
					t.Fatal(err)
				}
				rctx, rcancel := context.WithTimeout(ctx, 1500*time.Millisecond)
				defer rcancel()
				forged := discovery.Instance{ID: "forged-" + tc.name, Service: "catalog", Addr: "127.0.0.1:9666"}
				if err := conn.Registrar.Register(rctx, forged); err == nil {
					t.Error("registered")
				}
				if _, err := conn.Client.Get(rctx, "any"); err == nil {
					t.Error("read the registry")
				}
				// Conn.Close would spend 5 s failing to deregister.
				cctx, ccancel := context.WithTimeout(ctx, 100*time.Millisecond)
				defer ccancel()
				_ = conn.Registrar.Close(cctx)
				conn.Resolver.Close()
				conn.Client.Close()
				resp, err := catalog.Client.Get(ctx, etcd.DefaultPrefix, clientv3.WithPrefix(), clientv3.WithCountOnly())
				if err != nil || resp.Count != 1 {
					t.Errorf("the registry holds %v registrations (%v), want catalog-1 alone", resp, err)
				}
			})
		}
	})
}
