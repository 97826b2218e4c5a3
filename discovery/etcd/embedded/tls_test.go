package embedded_test

import (
	"context"
	"crypto/tls"
	"errors"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"

	"github.com/switchyard/switchyard/discovery/etcd/embedded"
	"github.com/switchyard/switchyard/discovery/etcd/internal/testpki"
)

// startTLS starts a server whose client and peer listeners require
// certificates from ca, serving the certificate in certFile and keyFile.
func startTLS(t *testing.T, files embedded.TLSFiles, peerAddr string) *embedded.Server {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	srv, err := embedded.Start(ctx, t.TempDir(), "127.0.0.1:0", embedded.Config{
		UnsafeNoFsync: true, PeerAddr: peerAddr, TLS: &files,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	return srv
}

func tlsClient(t *testing.T, endpoints []string, cfg *tls.Config) *clientv3.Client {
	t.Helper()
	cli, err := clientv3.New(clientv3.Config{Endpoints: endpoints, TLS: cfg, Logger: zap.NewNop()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cli.Close() })
	return cli
}

// handshakeErr dials addr with cfg and reads: with TLS 1.3 the server's
// verdict on a client certificate arrives after the client's side of the
// handshake, as an alert on the first read. A server that accepted the
// certificate sends nothing, so the read times out.
func handshakeErr(t *testing.T, addr string, cfg *tls.Config) error {
	t.Helper()
	d := &net.Dialer{Timeout: 5 * time.Second}
	conn, err := tls.DialWithDialer(d, "tcp", addr, cfg)
	if err != nil {
		return err
	}
	defer conn.Close()
	conn.SetReadDeadline(time.Now().Add(500 * time.Millisecond))
	_, err = conn.Read(make([]byte, 1))
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return nil
	}
	return err
}

func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// The server answers clients whose certificate chains to its CA and
// refuses, during the handshake, every other caller: no certificate, a
// certificate from another CA, an expired one, plaintext gRPC and plain
// HTTP, on the client port and on the peer port.
func TestTLSRequiresClientCertificate(t *testing.T) {
	ca := testpki.NewCA(t, "shop CA")
	other := testpki.NewCA(t, "other CA")
	dir := t.TempDir()
	server := ca.Issue(t, "registry", time.Hour)
	// Separate certificate and key files here; the rotation test uses
	// one file for both.
	certPEM, keyPEM, _ := strings.Cut(string(server.PEM), "-----END CERTIFICATE-----\n")
	files := embedded.TLSFiles{
		CertFile: testpki.WriteFile(t, dir, "server.crt", []byte(certPEM+"-----END CERTIFICATE-----\n")),
		KeyFile:  testpki.WriteFile(t, dir, "server.key", []byte(keyPEM)),
		CAFile:   testpki.WriteFile(t, dir, "ca.pem", ca.PEM),
	}
	peerAddr := freeAddr(t)
	srv := startTLS(t, files, peerAddr)
	if got, want := srv.Endpoints(), []string{"https://" + srv.Addr()}; len(got) != 1 || got[0] != want[0] {
		t.Fatalf("Endpoints() = %v, want %v", got, want)
	}

	good := ca.ClientConfig(ca.Issue(t, "orders", time.Hour))
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cli := tlsClient(t, srv.Endpoints(), good)
	if _, err := cli.Put(ctx, "k", "v"); err != nil {
		t.Fatalf("put with a good certificate: %v", err)
	}
	if resp, err := cli.Get(ctx, "k"); err != nil || len(resp.Kvs) != 1 {
		t.Fatalf("get with a good certificate: %v, %v", resp, err)
	}
	if err := handshakeErr(t, srv.Addr(), good); err != nil {
		t.Fatalf("handshake with a good certificate: %v", err)
	}
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: good}, Timeout: 5 * time.Second}
	defer hc.CloseIdleConnections()
	for _, url := range []string{"https://" + srv.Addr() + "/health", "https://" + peerAddr + "/members"} {
		resp, err := hc.Get(url)
		if err != nil {
			t.Fatalf("GET %s with a good certificate: %v", url, err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("GET %s with a good certificate: %s", url, resp.Status)
		}
	}

	refused := []struct {
		name  string
		cfg   *tls.Config
		alert string
	}{
		{"no certificate", ca.ClientConfig(nil), "certificate required"},
		{"another CA", ca.ClientConfig(other.Issue(t, "orders", time.Hour)), "unknown certificate authority"},
		{"expired", ca.ClientConfig(ca.Issue(t, "orders", -time.Minute)), "expired certificate"},
	}
	for _, tc := range refused {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			for _, addr := range []string{srv.Addr(), peerAddr} {
				if err := handshakeErr(t, addr, tc.cfg); err == nil || !strings.Contains(err.Error(), tc.alert) {
					t.Errorf("handshake on %s: %v, want the alert %q", addr, err, tc.alert)
				}
			}
			// An unauthenticated range query.
			cli := tlsClient(t, srv.Endpoints(), tc.cfg)
			ctx, cancel := context.WithTimeout(context.Background(), 1500*time.Millisecond)
			defer cancel()
			if resp, err := cli.Get(ctx, "k"); err == nil {
				t.Errorf("get answered %v", resp.Kvs)
			}
		})
	}
	t.Run("plaintext gRPC", func(t *testing.T) {
		t.Parallel()
		cli := tlsClient(t, []string{"http://" + srv.Addr()}, nil)
		ctx, cancel := context.WithTimeout(context.Background(), 1500*time.Millisecond)
		defer cancel()
		if resp, err := cli.Get(ctx, "k"); err == nil {
			t.Errorf("get answered %v", resp.Kvs)
		}
	})
	t.Run("plain HTTP", func(t *testing.T) {
		t.Parallel()
		hc := &http.Client{Transport: &http.Transport{}, Timeout: 5 * time.Second}
		defer hc.CloseIdleConnections()
		for _, url := range []string{"http://" + srv.Addr() + "/health", "http://" + srv.Addr() + "/v3/kv/range", "http://" + peerAddr + "/members"} {
			resp, err := hc.Get(url)
			if err == nil {
				resp.Body.Close()
				t.Errorf("GET %s: %s, want a refused connection", url, resp.Status)
			}
		}
	})
}

// A certificate written over the server's certificate file is served on
// the next connection, without a restart, while an existing client's
// watch goes on.
func TestTLSServerCertificateReloads(t *testing.T) {
	ca := testpki.NewCA(t, "shop CA")
	dir := t.TempDir()
	first := ca.Issue(t, "registry", time.Hour)
	pair := testpki.WriteFile(t, dir, "registry.pem", first.PEM)
	files := embedded.TLSFiles{CertFile: pair, KeyFile: pair, CAFile: testpki.WriteFile(t, dir, "ca.pem", ca.PEM)}
	srv := startTLS(t, files, "")

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	watcher := tlsClient(t, srv.Endpoints(), ca.ClientConfig(ca.Issue(t, "gateway", time.Hour)))
	wch := watcher.Watch(ctx, "k/", clientv3.WithPrefix())
	put := func(cli *clientv3.Client, key string) {
		t.Helper()
		if _, err := cli.Put(ctx, key, "v"); err != nil {
			t.Fatalf("put %s: %v", key, err)
		}
		select {
		case resp := <-wch:
			if err := resp.Err(); err != nil || len(resp.Events) != 1 || string(resp.Events[0].Kv.Key) != key {
				t.Fatalf("watch: %v %v, want the put of %s", resp.Events, err, key)
			}
		case <-ctx.Done():
			t.Fatalf("the watch did not see %s", key)
		}
	}
	put(watcher, "k/before")

	second := ca.Issue(t, "registry", time.Hour)
	testpki.WriteFile(t, dir, "registry.pem", second.PEM)

	// A new connection gets the new certificate: a client that accepts
	// nothing else gets through.
	pinned := ca.ClientConfig(ca.Issue(t, "orders", time.Hour))
	pinned.VerifyConnection = func(cs tls.ConnectionState) error {
		if got := cs.PeerCertificates[0].SerialNumber; got.Cmp(second.Cert.SerialNumber) != 0 {
			return errors.New("server presented the old certificate")
		}
		return nil
	}
	if err := handshakeErr(t, srv.Addr(), pinned); err != nil {
		t.Fatalf("handshake after the renewal: %v", err)
	}
	put(tlsClient(t, srv.Endpoints(), pinned), "k/after")
	// The watcher's connection, made before, carries on.
	put(watcher, "k/again")
}

func TestStartRejectsBadTLSFiles(t *testing.T) {
	ca := testpki.NewCA(t, "shop CA")
	dir := t.TempDir()
	leaf := ca.Issue(t, "registry", time.Hour)
	pair := testpki.WriteFile(t, dir, "pair.pem", leaf.PEM)
	caFile := testpki.WriteFile(t, dir, "ca.pem", ca.PEM)
	otherPair := testpki.WriteFile(t, dir, "other.pem", ca.Issue(t, "registry", time.Hour).PEM)
	garbage := testpki.WriteFile(t, dir, "garbage.pem", []byte("not PEM"))
	missing := filepath.Join(dir, "missing.pem")
	certOnly, _, _ := strings.Cut(string(leaf.PEM), "-----BEGIN PRIVATE KEY-----")
	certFile := testpki.WriteFile(t, dir, "cert.pem", []byte(certOnly))
	for _, tc := range []struct {
		name  string
		files embedded.TLSFiles
		want  string
	}{
		{"no cert", embedded.TLSFiles{KeyFile: pair, CAFile: caFile}, "TLS.CertFile is empty"},
		{"no key", embedded.TLSFiles{CertFile: pair, CAFile: caFile}, "TLS.KeyFile is empty"},
		{"no CA", embedded.TLSFiles{CertFile: pair, KeyFile: pair}, "TLS.CAFile is empty"},
		{"missing cert", embedded.TLSFiles{CertFile: missing, KeyFile: pair, CAFile: caFile}, "TLS.CertFile"},
		{"garbage cert", embedded.TLSFiles{CertFile: garbage, KeyFile: pair, CAFile: caFile}, "TLS.CertFile"},
		{"key file without a key", embedded.TLSFiles{CertFile: pair, KeyFile: certFile, CAFile: caFile}, "TLS.KeyFile"},
		{"key of another certificate", embedded.TLSFiles{CertFile: certFile, KeyFile: otherPair, CAFile: caFile}, "TLS.CertFile"},
		{"missing CA", embedded.TLSFiles{CertFile: pair, KeyFile: pair, CAFile: missing}, "TLS.CAFile"},
		{"CA file without certificates", embedded.TLSFiles{CertFile: pair, KeyFile: pair, CAFile: garbage}, "TLS.CAFile"},
		{"CA file with a key", embedded.TLSFiles{CertFile: pair, KeyFile: pair, CAFile: pair}, "TLS.CAFile"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv, err := embedded.Start(context.Background(), t.TempDir(), "127.0.0.1:0", embedded.Config{TLS: &tc.files})
			if err == nil {
				srv.Close()
				t.Fatal("Start succeeded")
			}
			if !errors.Is(err, embedded.ErrConfig) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want ErrConfig naming %s", err, tc.want)
			}
		})
	}
}

// A data directory made by a plaintext server is served over TLS after a
// restart with TLS files (a registry switched to TLS keeps its contents).
func TestTLSOnExistingData(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	dir := t.TempDir()
	srv, err := embedded.Start(ctx, dir, "127.0.0.1:0", embedded.Config{UnsafeNoFsync: true})
	if err != nil {
		t.Fatal(err)
	}
	plain := tlsClient(t, srv.Endpoints(), nil)
	if _, err := plain.Put(ctx, "k", "from plaintext"); err != nil {
		t.Fatal(err)
	}
	plain.Close()
	srv.Close()

	ca := testpki.NewCA(t, "shop CA")
	pki := t.TempDir()
	pair := testpki.WriteFile(t, pki, "registry.pem", ca.Issue(t, "registry", time.Hour).PEM)
	srv, err = embedded.Start(ctx, dir, srv.Addr(), embedded.Config{
		UnsafeNoFsync: true,
		TLS:           &embedded.TLSFiles{CertFile: pair, KeyFile: pair, CAFile: testpki.WriteFile(t, pki, "ca.pem", ca.PEM)},
	})
	if err != nil {
		t.Fatalf("restart with TLS: %v", err)
	}
	defer srv.Close()
	cli := tlsClient(t, srv.Endpoints(), ca.ClientConfig(ca.Issue(t, "orders", time.Hour)))
	resp, err := cli.Get(ctx, "k")
	if err != nil || len(resp.Kvs) != 1 || string(resp.Kvs[0].Value) != "from plaintext" {
		t.Fatalf("after the restart with TLS: %v, %v", resp, err)
	}
}
