package auth_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/switchyard/switchyard/internal/clock"
	"github.com/switchyard/switchyard/middleware/auth"
)

// ca is a test certificate authority.
type ca struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	pem  []byte
}

func newCA(t *testing.T, name string) *ca {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: name},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	return &ca{cert: cert, key: key, pem: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})}
}

// issue returns a PEM certificate and key for cn with the given serial.
func (c *ca) issue(t *testing.T, cn string, serial int64, server bool) (certPEM, keyPEM []byte) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(serial),
		Subject:      pkix.Name{CommonName: cn},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	if server {
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
		tmpl.IPAddresses = []net.IP{net.IPv4(127, 0, 0, 1)}
		tmpl.DNSNames = []string{"localhost"}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, c.cert, &key.PublicKey, c.key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder})
}

// files holds the paths of one party's PEM files.
type files struct{ cert, key, ca string }

// write writes the files and moves their modification time to at, so
// that a change is visible whatever the file system's time granularity.
func (f files) write(t *testing.T, certPEM, keyPEM, caPEM []byte, at time.Time) {
	t.Helper()
	for _, w := range []struct {
		path string
		data []byte
	}{{f.cert, certPEM}, {f.key, keyPEM}, {f.ca, caPEM}} {
		if w.data == nil {
			continue
		}
		if err := os.WriteFile(w.path, w.data, 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Chtimes(w.path, at, at); err != nil {
			t.Fatal(err)
		}
	}
}

func newFiles(t *testing.T, name string) files {
	dir := t.TempDir()
	return files{filepath.Join(dir, name+".crt"), filepath.Join(dir, name+".key"), filepath.Join(dir, name+"-ca.pem")}
}

// newReloader builds a CertReloader from cfg or fails the test.
func newReloader(t *testing.T, cfg auth.CertReloaderConfig) *auth.CertReloader {
	t.Helper()
	r, err := auth.NewCertReloader(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// mtlsServer serves the client certificate's common name over TLS with the
// reloader's server config.
func mtlsServer(t *testing.T, r *auth.CertReloader) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
			io.WriteString(w, req.TLS.PeerCertificates[0].Subject.CommonName)
		}),
		ReadHeaderTimeout: 5 * time.Second,
		ErrorLog:          newDiscardLogger(), // refused handshakes are expected
	}
	go srv.Serve(tls.NewListener(ln, r.ServerConfig()))
	t.Cleanup(func() { srv.Shutdown(context.Background()) })
	return "https://" + ln.Addr().String()
}

// get makes one request on a fresh connection and returns the server
// certificate's serial and the body.
func get(t *testing.T, url string, cfg *tls.Config) (serial int64, body string, err error) {
	t.Helper()
	tr := &http.Transport{TLSClientConfig: cfg, DisableKeepAlives: true}
	defer tr.CloseIdleConnections()
	resp, err := (&http.Client{Transport: tr, Timeout: 10 * time.Second}).Get(url)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0, "", err
	}
	return resp.TLS.PeerCertificates[0].SerialNumber.Int64(), string(b), nil
}

func TestMutualTLS(t *testing.T) {
	ca1, ca2 := newCA(t, "ca-1"), newCA(t, "ca-2")
	start := time.Now().Add(-time.Hour).Truncate(time.Second)

	sf := newFiles(t, "server")
	crt, key := ca1.issue(t, "server", 100, true)
	sf.write(t, crt, key, ca1.pem, start)
	server := newReloader(t, auth.CertReloaderConfig{CertFile: sf.cert, KeyFile: sf.key, CAFile: sf.ca})
	url := mtlsServer(t, server)

	client := func(c *ca, cn string) *tls.Config {
		f := newFiles(t, cn)
		crt, key := c.issue(t, cn, 200, false)
		f.write(t, crt, key, ca1.pem, start) // clients trust the server's CA
		return newReloader(t, auth.CertReloaderConfig{CertFile: f.cert, KeyFile: f.key, CAFile: f.ca}).ClientConfig("")
	}

	if serial, body, err := get(t, url, client(ca1, "orders-1")); err != nil || serial != 100 || body != "orders-1" {
		t.Fatalf("client with a CA-1 certificate: serial %d body %q err %v", serial, body, err)
	}

	noCert := &tls.Config{RootCAs: x509.NewCertPool(), MinVersion: tls.VersionTLS12}
	noCert.RootCAs.AppendCertsFromPEM(ca1.pem)
	if _, _, err := get(t, url, noCert); !isTLSRefusal(err) {
		t.Errorf("a client without a certificate: %v, want a TLS alert", err)
	}
	if _, _, err := get(t, url, client(ca2, "intruder")); !isTLSRefusal(err) {
		t.Errorf("a client with a certificate from another CA: %v, want a TLS alert", err)
	}
	// And the client side checks the server: a client trusting only CA-2
	// refuses the server.
	onlyCA2 := client(ca1, "orders-2")
	onlyCA2.RootCAs = x509.NewCertPool()
	onlyCA2.RootCAs.AppendCertsFromPEM(ca2.pem)
	var unknownAuthority x509.UnknownAuthorityError
	if _, _, err := get(t, url, onlyCA2); !errors.As(err, &unknownAuthority) {
		t.Errorf("a client trusting only CA-2: %v, want an unknown-authority error", err)
	}

	// Rotate the server to CA-2 for clients: CA-1 clients are refused now.
	sf.write(t, nil, nil, ca2.pem, start.Add(time.Minute))
	if err := server.Reload(); err != nil {
		t.Fatal(err)
	}
	if _, _, err := get(t, url, client(ca1, "orders-3")); !isTLSRefusal(err) {
		t.Errorf("after the CA rotation a CA-1 client: %v, want a TLS alert", err)
	}
	if _, body, err := get(t, url, client(ca2, "orders-4")); err != nil || body != "orders-4" {
		t.Errorf("after the CA rotation a CA-2 client failed: %q %v", body, err)
	}
}

func TestCertReloadOnChange(t *testing.T) {
	ca := newCA(t, "ca")
	start := time.Now().Add(-time.Hour).Truncate(time.Second)
	fake := clock.NewFake(start)
	sf := newFiles(t, "server")
	crt, key := ca.issue(t, "server", 1, true)
	sf.write(t, crt, key, nil, start)
	var mu sync.Mutex // guards reloadErrs, appended to on the server's handshakes
	var reloadErrs []error
	server := newReloader(t, auth.CertReloaderConfig{
		CertFile:      sf.cert,
		KeyFile:       sf.key,
		CheckInterval: 10 * time.Second,
		Hooks: auth.CertReloaderHooks{OnReloadError: func(err error) {
			mu.Lock()
			defer mu.Unlock()
			reloadErrs = append(reloadErrs, err)
		}},
	})
	// The handshakes run over real TLS, which rules out a synctest bubble.
	auth.SetReloaderNow(server, fake.Now)
	url := mtlsServerNoClientAuth(t, server)
	trust := &tls.Config{RootCAs: x509.NewCertPool(), MinVersion: tls.VersionTLS12}
	trust.RootCAs.AppendCertsFromPEM(ca.pem)
	serial := func() int64 {
		t.Helper()
		s, _, err := get(t, url, trust)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}

	if s := serial(); s != 1 {
		t.Fatalf("serial %d, want 1", s)
	}
	crt2, key2 := ca.issue(t, "server", 2, true)
	sf.write(t, crt2, key2, nil, start.Add(time.Minute))
	fake.Advance(5 * time.Second)
	if s := serial(); s != 1 {
		t.Fatalf("files checked before the interval: serial %d", s)
	}
	fake.Advance(5 * time.Second)
	if s := serial(); s != 2 {
		t.Fatalf("after the interval: serial %d, want 2", s)
	}

	// A broken write keeps the current certificate and reports the error.
	sf.write(t, []byte("-----BEGIN CERTIFICATE-----\nbroken\n"), nil, nil, start.Add(2*time.Minute))
	fake.Advance(10 * time.Second)
	if s := serial(); s != 2 {
		t.Fatalf("after a broken write: serial %d, want 2", s)
	}
	mu.Lock()
	if len(reloadErrs) != 1 || !errors.Is(reloadErrs[0], auth.ErrCertificate) {
		t.Fatalf("reload errors %v", reloadErrs)
	}
	mu.Unlock()
	// A certificate with someone else's key is refused too.
	crt3, _ := ca.issue(t, "server", 3, true)
	sf.write(t, crt3, key2, nil, start.Add(3*time.Minute))
	if err := server.Reload(); !errors.Is(err, auth.ErrCertificate) {
		t.Fatalf("mismatched key: %v", err)
	}
	if s := serial(); s != 2 {
		t.Fatalf("after a mismatched key: serial %d, want 2", s)
	}
}

// TestCertExplicitReloadOnly runs in a synctest bubble: nothing but file
// reads, and time.Sleep moves the bubble's clock past the interval.
func TestCertExplicitReloadOnly(t *testing.T) {
	ca := newCA(t, "ca")
	start := time.Now().Add(-time.Hour).Truncate(time.Second)
	sf := newFiles(t, "server")
	crt, key := ca.issue(t, "server", 1, true)
	sf.write(t, crt, key, nil, start)
	crt2, key2 := ca.issue(t, "server", 2, true)
	synctest.Test(t, func(t *testing.T) {
		r := newReloader(t, auth.CertReloaderConfig{CertFile: sf.cert, KeyFile: sf.key, CheckInterval: -1})
		sf.write(t, crt2, key2, nil, start.Add(time.Minute))
		time.Sleep(time.Hour)
		if s := leafSerial(t, r.Certificate()); s != 1 {
			t.Fatalf("reloaded without being asked: serial %d", s)
		}
		if err := r.Reload(); err != nil {
			t.Fatal(err)
		}
		if s := leafSerial(t, r.Certificate()); s != 2 {
			t.Fatalf("after Reload: serial %d, want 2", s)
		}
	})
}

// TestCertCheckInterval checks the default interval in a synctest bubble:
// changed files are picked up by Certificate once DefaultCheckInterval has
// passed, not before.
func TestCertCheckInterval(t *testing.T) {
	ca := newCA(t, "ca")
	start := time.Now().Add(-time.Hour).Truncate(time.Second)
	sf := newFiles(t, "server")
	crt, key := ca.issue(t, "server", 1, true)
	sf.write(t, crt, key, nil, start)
	crt2, key2 := ca.issue(t, "server", 2, true)
	synctest.Test(t, func(t *testing.T) {
		r := newReloader(t, auth.CertReloaderConfig{CertFile: sf.cert, KeyFile: sf.key})
		sf.write(t, crt2, key2, nil, start.Add(time.Minute))
		time.Sleep(auth.DefaultCheckInterval - time.Millisecond)
		if s := leafSerial(t, r.Certificate()); s != 1 {
			t.Fatalf("checked before the interval: serial %d", s)
		}
		time.Sleep(time.Millisecond)
		if s := leafSerial(t, r.Certificate()); s != 2 {
			t.Fatalf("after the interval: serial %d, want 2", s)
		}
	})
}

func TestNewCertReloaderErrors(t *testing.T) {
	ca := newCA(t, "ca")
	f := newFiles(t, "x")
	if _, err := auth.NewCertReloader(auth.CertReloaderConfig{CertFile: f.cert, KeyFile: f.key}); !errors.Is(err, auth.ErrCertificate) {
		t.Errorf("missing files: %v", err)
	}
	if _, err := auth.NewCertReloader(auth.CertReloaderConfig{CertFile: f.cert}); !errors.Is(err, auth.ErrConfig) {
		t.Errorf("no key file: %v, want ErrConfig", err)
	}
	crt, key := ca.issue(t, "x", 1, true)
	f.write(t, crt, key, []byte("not a certificate"), time.Now())
	if _, err := auth.NewCertReloader(auth.CertReloaderConfig{CertFile: f.cert, KeyFile: f.key, CAFile: f.ca}); !errors.Is(err, auth.ErrCertificate) {
		t.Errorf("CA file without certificates: %v", err)
	}
}

// isTLSRefusal reports whether err is the server refusing the client's
// certificate: a TLS alert (certificate required, or bad or unknown
// certificate), not some other failure.
func isTLSRefusal(err error) bool {
	var alert tls.AlertError
	if errors.As(err, &alert) {
		return true
	}
	// Over TLS 1.2 and 1.3 the alert may arrive as a remote error.
	return err != nil && strings.Contains(err.Error(), "remote error: tls:")
}

func leafSerial(t *testing.T, c *tls.Certificate) int64 {
	t.Helper()
	leaf, err := x509.ParseCertificate(c.Certificate[0])
	if err != nil {
		t.Fatal(err)
	}
	return leaf.SerialNumber.Int64()
}

// mtlsServerNoClientAuth serves "ok" with the reloader's certificate and no
// client certificate requirement (no CA file).
func mtlsServerNoClientAuth(t *testing.T, r *auth.CertReloader) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{
		Handler:           http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "ok") }),
		ReadHeaderTimeout: 5 * time.Second,
		ErrorLog:          newDiscardLogger(),
	}
	go srv.Serve(tls.NewListener(ln, r.ServerConfig()))
	t.Cleanup(func() { srv.Shutdown(context.Background()) })
	return "https://" + ln.Addr().String()
}
