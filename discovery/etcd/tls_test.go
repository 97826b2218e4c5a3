package etcd_test

import (
	"context"
	"crypto/tls"
	"errors"
	"slices"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/switchyard/switchyard/discovery"
	"github.com/switchyard/switchyard/discovery/etcd"
	"github.com/switchyard/switchyard/discovery/etcd/embedded"
	"github.com/switchyard/switchyard/discovery/etcd/internal/testpki"
)

func TestClientConfigTLSEndpoints(t *testing.T) {
	cfg := &tls.Config{MinVersion: tls.VersionTLS13}
	got, err := etcd.ClientConfigTLS(cfg, "10.0.0.1:2379", "https://10.0.0.2:2379", "etcd-0.etcd:2379")
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"https://10.0.0.1:2379", "https://10.0.0.2:2379", "https://etcd-0.etcd:2379"}
	if !slices.Equal(got.Endpoints, want) || got.TLS != cfg {
		t.Errorf("endpoints %v, TLS %p; want %v, %p", got.Endpoints, got.TLS, want, cfg)
	}
	// The discovery settings are ClientConfig's.
	if plain := etcd.ClientConfig(); got.DialKeepAliveTime != plain.DialKeepAliveTime || len(got.DialOptions) != len(plain.DialOptions) || got.Logger == nil {
		t.Errorf("ClientConfigTLS lost ClientConfig's settings: %+v", got)
	}

	for _, ep := range []string{"http://10.0.0.1:2379", "unix://etcd.sock", "https://", "", "https://a b"} {
		if _, err := etcd.ClientConfigTLS(cfg, "10.0.0.1:2379", ep); !errors.Is(err, etcd.ErrConfig) {
			t.Errorf("ClientConfigTLS(%q) = %v, want ErrConfig", ep, err)
		}
		if cli, err := etcd.NewClientTLS(cfg, ep); !errors.Is(err, etcd.ErrConfig) {
			if cli != nil {
				cli.Close()
			}
			t.Errorf("NewClientTLS(%q) = %v, want ErrConfig", ep, err)
		}
	}
	if _, err := etcd.ClientConfigTLS(nil, "10.0.0.1:2379"); !errors.Is(err, etcd.ErrConfig) {
		t.Errorf("ClientConfigTLS(nil) = %v, want ErrConfig", err)
	}
}

// A registrar and a resolver work over mutual TLS, through a renewal of
// the server's certificate; a client without a certificate registers
// nothing.
func TestRegistrarAndResolverOverTLS(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	ca := testpki.NewCA(t, "shop CA")
	dir := t.TempDir()
	pair := testpki.WriteFile(t, dir, "registry.pem", ca.Issue(t, "registry", time.Hour).PEM)
	srv, err := embedded.Start(ctx, t.TempDir(), "127.0.0.1:0", embedded.Config{
		UnsafeNoFsync: true,
		TLS:           &embedded.TLSFiles{CertFile: pair, KeyFile: pair, CAFile: testpki.WriteFile(t, dir, "ca.pem", ca.PEM)},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	tlsClient := func(cfg *tls.Config, endpoints ...string) *clientv3.Client {
		t.Helper()
		cli, err := etcd.NewClientTLS(cfg, endpoints...)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { cli.Close() })
		return cli
	}

	// The resolver reaches etcd by the server's https:// endpoint, the
	// registrar by its bare address.
	res := newResolver(t, tlsClient(ca.ClientConfig(ca.Issue(t, "gateway", time.Hour)), srv.Endpoints()...), etcd.ResolverConfig{})
	defer res.Close()
	w, err := res.Watch(ctx, "catalog")
	if err != nil {
		t.Fatal(err)
	}
	rec := record(t, w)
	rec.waitFor(t, 5*time.Second, "an empty first snapshot", hasIDs())
	regCli := tlsClient(ca.ClientConfig(ca.Issue(t, "catalog", time.Hour)), srv.Addr())
	reg := newRegistrar(t, regCli, etcd.RegistrarConfig{TTL: ttl})
	defer reg.Close(ctx)
	if err := reg.Register(ctx, inst("catalog", "c1", "127.0.0.1:9001")); err != nil {
		t.Fatal(err)
	}
	rec.waitFor(t, 5*time.Second, "c1", hasIDs("c1"))

	// The server's certificate is renewed: new connections get the new
	// one (this registrar accepts no other), the watch goes on.
	renewed := ca.Issue(t, "registry", time.Hour)
	testpki.WriteFile(t, dir, "registry.pem", renewed.PEM)
	pinned := ca.ClientConfig(ca.Issue(t, "catalog", time.Hour))
	pinned.VerifyConnection = func(cs tls.ConnectionState) error {
		if cs.PeerCertificates[0].SerialNumber.Cmp(renewed.Cert.SerialNumber) != 0 {
			return errors.New("not the renewed certificate")
		}
		return nil
	}
	reg2 := newRegistrar(t, tlsClient(pinned, srv.Endpoints()...), etcd.RegistrarConfig{TTL: ttl})
	defer reg2.Close(ctx)
	if err := reg2.Register(ctx, inst("catalog", "c2", "127.0.0.1:9002")); err != nil {
		t.Fatal(err)
	}
	rec.waitFor(t, 5*time.Second, "c1 and c2", hasIDs("c1", "c2"))

	// No client certificate: nothing is written.
	anon := tlsClient(ca.ClientConfig(nil), srv.Endpoints()...)
	reg3, err := etcd.NewRegistrar(anon, etcd.RegistrarConfig{TTL: ttl})
	if err != nil {
		t.Fatal(err)
	}
	actx, acancel := context.WithTimeout(ctx, 1500*time.Millisecond)
	defer acancel()
	if err := reg3.Register(actx, discovery.Instance{ID: "forged", Service: "catalog", Addr: "127.0.0.1:9666"}); err == nil {
		t.Error("a client without a certificate registered")
	}
	if err := reg3.RegistrationErr(); err == nil {
		t.Error("RegistrationErr() = nil for a client without a certificate")
	}
	cctx, ccancel := context.WithTimeout(ctx, 500*time.Millisecond)
	defer ccancel()
	_ = reg3.Close(cctx) // fails too: the registration never reached etcd
	resp, err := regCli.Get(ctx, etcd.DefaultPrefix, clientv3.WithPrefix(), clientv3.WithCountOnly())
	if err != nil || resp.Count != 2 {
		t.Errorf("etcd holds %v registrations (%v), want c1 and c2 only", resp, err)
	}
}
