package pki_test

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"math/big"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"crypto/tls"

	"github.com/switchyard/switchyard/examples/ecommerce/internal/pki"
	"github.com/switchyard/switchyard/identity"
)

// The CA Open creates is a P-256, path-length-0 CA constrained to the
// trust domain, valid for ten years from an hour ago.
func TestOpenCreatesCA(t *testing.T) {
	clock := newClock()
	var logs logBuffer
	dir := filepath.Join(t.TempDir(), "pki")
	a := open(t, dir, pki.WithNow(pki.Config{Logger: logs.logger()}, clock.Now))
	ca := a.Certificate()
	if !ca.IsCA || !ca.BasicConstraintsValid || ca.MaxPathLen != 0 || !ca.MaxPathLenZero {
		t.Errorf("CA basic constraints: IsCA %v valid %v MaxPathLen %d zero %v", ca.IsCA, ca.BasicConstraintsValid, ca.MaxPathLen, ca.MaxPathLenZero)
	}
	if ca.KeyUsage != x509.KeyUsageCertSign|x509.KeyUsageCRLSign {
		t.Errorf("CA key usage %v", ca.KeyUsage)
	}
	if !slices.Equal(ca.PermittedURIDomains, []string{pki.TrustDomain}) || !ca.PermittedDNSDomainsCritical {
		t.Errorf("CA name constraints: URI %v critical %v", ca.PermittedURIDomains, ca.PermittedDNSDomainsCritical)
	}
	if k, ok := ca.PublicKey.(*ecdsa.PublicKey); !ok || k.Curve != elliptic.P256() {
		t.Errorf("CA key %T, want ECDSA P-256", ca.PublicKey)
	}
	if err := ca.CheckSignatureFrom(ca); err != nil {
		t.Errorf("CA is not self-signed: %v", err)
	}
	if want := clock.Now().Add(-time.Hour); !ca.NotBefore.Equal(want) {
		t.Errorf("CA NotBefore %v, want %v", ca.NotBefore, want)
	}
	if want := clock.Now().Add(pki.CALifetime); !ca.NotAfter.Equal(want) {
		t.Errorf("CA NotAfter %v, want %v", ca.NotAfter, want)
	}
	if !bytes.Equal(readFile(t, filepath.Join(dir, pki.CAFile)), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: ca.Raw})) {
		t.Error("ca.pem does not hold the CA's certificate alone")
	}
	if !strings.Contains(logs.String(), "created the development CA") {
		t.Errorf("creation not logged: %s", logs.String())
	}
}

// A second Open loads the same CA, which still vouches for what the first
// issued.
func TestReopenKeepsCA(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "pki")
	first := open(t, dir, pki.Config{})
	files := issue(t, first, "orders")
	cert, key := readFile(t, files.CA), readFile(t, filepath.Join(dir, pki.CAKeyFile))
	var logs logBuffer
	second := open(t, dir, pki.Config{Logger: logs.logger()})
	if !second.Certificate().Equal(first.Certificate()) {
		t.Fatal("the second Open has another CA")
	}
	if !bytes.Equal(readFile(t, files.CA), cert) || !bytes.Equal(readFile(t, filepath.Join(dir, pki.CAKeyFile)), key) {
		t.Error("the second Open rewrote the CA's files")
	}
	if needsRenewal(t, second, "orders") {
		t.Error("a fresh certificate of the first Open needs renewal under the second")
	}
	// What the reopened CA issues verifies against the bundle as it was.
	leaf := leafOf(t, issue(t, second, "users").Cert)
	if _, err := leaf.Verify(x509.VerifyOptions{Roots: roots(t, files.CA), KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
		t.Error(err)
	}
	if logs.Len() != 0 {
		t.Errorf("a second Open logged: %s", logs.String())
	}
}

func (l *logBuffer) Len() int { return len(l.String()) }

// A CA Open cannot use is an error wrapping ErrCA, and its files are left
// exactly as they were.
func TestOpenRefusesUnusableCA(t *testing.T) {
	other := filepath.Join(t.TempDir(), "other")
	open(t, other, pki.Config{})
	otherKey := readFile(t, filepath.Join(other, pki.CAKeyFile))
	otherLeaf := readFile(t, issue(t, open(t, other, pki.Config{}), "orders").Cert)

	for _, tc := range []struct {
		name   string
		breakf func(t *testing.T, cert, key string)
		says   string
	}{
		{"corrupt key", func(t *testing.T, _, key string) {
			write(t, key, []byte("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"))
		}, "ca-key.pem"},
		{"garbage key", func(t *testing.T, _, key string) { write(t, key, []byte("not a key")) }, "no PEM private key"},
		{"truncated key", func(t *testing.T, _, key string) { b := readFile(t, key); write(t, key, b[:len(b)/2]) }, "ca-key.pem"},
		{"key of another CA", func(t *testing.T, _, key string) { write(t, key, otherKey) }, "is not the key of"},
		{"corrupt certificate", func(t *testing.T, cert, _ string) { write(t, cert, []byte("garbage")) }, "no PEM certificate"},
		{"leaf as CA", func(t *testing.T, cert, _ string) {
			write(t, cert, otherLeaf[:bytes.Index(otherLeaf, []byte("-----BEGIN PRIVATE"))])
		}, "not a CA certificate"},
		{"key missing", func(t *testing.T, _, key string) { os.Remove(key) }, "exists without ca-key.pem"},
		{"certificate missing", func(t *testing.T, cert, _ string) { os.Remove(cert) }, "exists without ca.pem"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "pki")
			open(t, dir, pki.Config{})
			cert, key := filepath.Join(dir, pki.CAFile), filepath.Join(dir, pki.CAKeyFile)
			tc.breakf(t, cert, key)
			before := snapshot(t, dir)
			_, err := pki.Open(dir, pki.Config{Logger: quiet})
			if !errors.Is(err, pki.ErrCA) {
				t.Fatalf("Open = %v, want ErrCA", err)
			}
			if !strings.Contains(err.Error(), tc.says) || !strings.Contains(err.Error(), "remove "+dir) {
				t.Errorf("error %q does not say %q and what to remove", err, tc.says)
			}
			if after := snapshot(t, dir); !maps(before, after) {
				t.Errorf("Open changed the directory:\nbefore %v\nafter  %v", before, after)
			}
		})
	}
}

// An expired CA is refused too, rather than issuing certificates no one
// accepts.
func TestOpenRefusesExpiredCA(t *testing.T) {
	clock := newClock()
	dir := filepath.Join(t.TempDir(), "pki")
	open(t, dir, pki.WithNow(pki.Config{}, clock.Now))
	clock.Set(clock.Now().Add(pki.CALifetime))
	_, err := pki.Open(dir, pki.WithNow(pki.Config{Logger: quiet}, clock.Now))
	if !errors.Is(err, pki.ErrCA) || !strings.Contains(err.Error(), "expired") {
		t.Fatalf("Open of an expired CA = %v, want ErrCA saying expired", err)
	}
}

func TestOpenConfig(t *testing.T) {
	for _, tc := range []struct {
		dir string
		cfg pki.Config
	}{
		{"", pki.Config{}},
		{t.TempDir(), pki.Config{Lifetime: -time.Hour}},
	} {
		if _, err := pki.Open(tc.dir, tc.cfg); !errors.Is(err, pki.ErrConfig) {
			t.Errorf("Open(%q, %+v) = %v, want ErrConfig", tc.dir, tc.cfg, err)
		}
	}
}

func write(t *testing.T, path string, data []byte) {
	t.Helper()
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
}

// snapshot returns the directory's files and their contents and modes.
func snapshot(t *testing.T, dir string) map[string]string {
	t.Helper()
	m := map[string]string{}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		info, err := e.Info()
		if err != nil {
			t.Fatal(err)
		}
		m[e.Name()] = info.Mode().String() + " " + string(readFile(t, filepath.Join(dir, e.Name())))
	}
	return m
}

func maps(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

// Issue makes a leaf with the service's SPIFFE ID as its only URI SAN,
// the loopback names, both TLS usages and the configured lifetime, and a
// fresh key each time; it chains to ca.pem.
func TestIssue(t *testing.T) {
	clock := newClock()
	dir := filepath.Join(t.TempDir(), "pki")
	a := open(t, dir, pki.WithNow(pki.Config{Lifetime: 6 * time.Hour}, clock.Now))
	files := issue(t, a, "orders")
	if want := (pki.Files{Cert: filepath.Join(dir, "orders.pem"), Key: filepath.Join(dir, "orders.pem"), CA: filepath.Join(dir, "ca.pem")}); files != want {
		t.Errorf("Files %+v, want %+v", files, want)
	}
	if f, err := a.Files("orders"); err != nil || f != files {
		t.Errorf("Files(orders) = %+v, %v; want %+v", f, err, files)
	}
	leaf := leafOf(t, files.Cert)

	id, err := identity.FromCertificate(leaf)
	if err != nil || id.String() != "spiffe://shop.internal/orders" || id.Service() != "orders" {
		t.Errorf("identity.FromCertificate = %v, %v", id, err)
	}
	if len(leaf.URIs) != 1 {
		t.Errorf("URIs %v, want one", leaf.URIs)
	}
	if !slices.Equal(leaf.DNSNames, []string{"localhost"}) || len(leaf.IPAddresses) != 2 ||
		!leaf.IPAddresses[0].Equal(net.ParseIP("127.0.0.1")) || !leaf.IPAddresses[1].Equal(net.IPv6loopback) {
		t.Errorf("DNS names %v, IP addresses %v", leaf.DNSNames, leaf.IPAddresses)
	}
	if leaf.Subject.CommonName != "orders" || leaf.IsCA {
		t.Errorf("CN %q, IsCA %v", leaf.Subject.CommonName, leaf.IsCA)
	}
	if leaf.KeyUsage != x509.KeyUsageDigitalSignature ||
		!slices.Equal(leaf.ExtKeyUsage, []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}) {
		t.Errorf("key usage %v, extended %v", leaf.KeyUsage, leaf.ExtKeyUsage)
	}
	if want := clock.Now().Add(-time.Minute); !leaf.NotBefore.Equal(want) {
		t.Errorf("NotBefore %v, want %v", leaf.NotBefore, want)
	}
	if want := clock.Now().Add(6 * time.Hour); !leaf.NotAfter.Equal(want) {
		t.Errorf("NotAfter %v, want %v", leaf.NotAfter, want)
	}
	if k, ok := leaf.PublicKey.(*ecdsa.PublicKey); !ok || k.Curve != elliptic.P256() {
		t.Errorf("leaf key %T, want ECDSA P-256", leaf.PublicKey)
	}
	if b := readFile(t, files.Cert); !bytes.HasPrefix(b, []byte("-----BEGIN CERTIFICATE-----")) || bytes.Count(b, []byte("-----BEGIN")) != 2 {
		t.Errorf("%s is not one certificate then one key:\n%s", files.Cert, b)
	}

	pool := roots(t, files.CA)
	for _, v := range []x509.VerifyOptions{
		{Roots: pool, CurrentTime: clock.Now(), KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}},
		{Roots: pool, CurrentTime: clock.Now(), DNSName: "localhost"},
		{Roots: pool, CurrentTime: clock.Now(), DNSName: "127.0.0.1"},
		{Roots: pool, CurrentTime: clock.Now(), DNSName: "::1"},
	} {
		if _, err := leaf.Verify(v); err != nil {
			t.Errorf("Verify(%q, %v): %v", v.DNSName, v.KeyUsages, err)
		}
	}
	if _, err := leaf.Verify(x509.VerifyOptions{Roots: pool, CurrentTime: clock.Now().Add(6*time.Hour + time.Second)}); err == nil {
		t.Error("the leaf verifies after its lifetime")
	}

	again := leafOf(t, issue(t, a, "orders").Cert)
	if again.PublicKey.(*ecdsa.PublicKey).Equal(leaf.PublicKey) {
		t.Error("a second Issue kept the key")
	}
	if again.SerialNumber.Cmp(leaf.SerialNumber) == 0 {
		t.Error("a second Issue kept the serial number")
	}
}

// A leaf never outlives the CA that signed it.
func TestIssueStopsAtTheCAsExpiry(t *testing.T) {
	clock := newClock()
	a := open(t, t.TempDir(), pki.WithNow(pki.Config{}, clock.Now))
	clock.Set(a.Certificate().NotAfter.Add(-time.Hour))
	if leaf := leafOf(t, issue(t, a, "orders").Cert); !leaf.NotAfter.Equal(a.Certificate().NotAfter) {
		t.Errorf("NotAfter %v, want the CA's %v", leaf.NotAfter, a.Certificate().NotAfter)
	}
	clock.Set(a.Certificate().NotAfter)
	if _, err := a.Issue("orders"); err == nil || !strings.Contains(err.Error(), "expired") {
		t.Errorf("Issue by an expired CA = %v", err)
	}
}

// Names that are no SPIFFE path segment, or that would overwrite the CA's
// files, are refused by every method.
func TestServiceNames(t *testing.T) {
	dir := t.TempDir()
	a := open(t, dir, pki.Config{})
	before := snapshot(t, dir)
	for _, name := range []string{"", "a/b", "..", ".", "caté", "ca", "ca-key", "public-self-signed"} {
		if _, err := a.Issue(name); !errors.Is(err, pki.ErrService) {
			t.Errorf("Issue(%q) = %v, want ErrService", name, err)
		}
		if _, err := a.NeedsRenewal(name); !errors.Is(err, pki.ErrService) {
			t.Errorf("NeedsRenewal(%q) = %v, want ErrService", name, err)
		}
		if _, err := a.Ensure(name); !errors.Is(err, pki.ErrService) {
			t.Errorf("Ensure(%q) = %v, want ErrService", name, err)
		}
		if _, err := a.Files(name); !errors.Is(err, pki.ErrService) {
			t.Errorf("Files(%q) = %v, want ErrService", name, err)
		}
		if err := a.Run(t.Context(), []string{"orders", name}, time.Hour); !errors.Is(err, pki.ErrService) {
			t.Errorf("Run(%q) = %v, want ErrService", name, err)
		}
	}
	if _, err := a.Issue("a/b"); !errors.Is(err, identity.ErrInvalid) {
		t.Errorf("Issue(a/b) = %v, want it to wrap identity.ErrInvalid", err)
	}
	if after := snapshot(t, dir); !maps(before, after) {
		t.Errorf("refused names changed the directory:\nbefore %v\nafter  %v", before, after)
	}
}

// The CA's name constraints make a verifier refuse a leaf for another
// trust domain even if the CA's key signed it.
func TestNameConstraints(t *testing.T) {
	dir := t.TempDir()
	a := open(t, dir, pki.Config{})
	block, _ := pem.Decode(readFile(t, filepath.Join(dir, pki.CAKeyFile)))
	caKey, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	pool := roots(t, filepath.Join(dir, pki.CAFile))
	for _, tc := range []struct {
		uri  string
		want bool
	}{
		{"spiffe://shop.internal/orders", true},
		{"spiffe://evil.example/orders", false},
		{"spiffe://internal/orders", false},
	} {
		key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		u, _ := url.Parse(tc.uri)
		tmpl := &x509.Certificate{
			SerialNumber: big.NewInt(7), Subject: pkix.Name{CommonName: "x"},
			NotBefore: time.Now().Add(-time.Minute), NotAfter: time.Now().Add(time.Hour),
			ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}, URIs: []*url.URL{u},
			DNSNames: []string{"localhost"},
		}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, a.Certificate(), &key.PublicKey, caKey)
		if err != nil {
			t.Fatal(err)
		}
		leaf, _ := x509.ParseCertificate(der)
		_, err = leaf.Verify(x509.VerifyOptions{Roots: pool, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}})
		if (err == nil) != tc.want {
			t.Errorf("%s: Verify = %v, want ok %v", tc.uri, err, tc.want)
		}
	}
}

// A reader never sees a half-written certificate file, nor a certificate
// without its key, while Issue replaces it again and again.
func TestIssueReplacesAtomically(t *testing.T) {
	a := open(t, t.TempDir(), pki.Config{})
	files := issue(t, a, "orders")
	var done atomic.Bool
	var wg sync.WaitGroup
	var reads, failures atomic.Int64
	var firstFailure atomic.Value
	for range 2 {
		wg.Go(func() {
			for !done.Load() {
				// One read, as package mtls does: two reads of the
				// one file (tls.LoadX509KeyPair's) may straddle a
				// rename and pair one version's certificate with the
				// next one's key.
				data, err := os.ReadFile(files.Cert)
				if err == nil {
					_, err = tls.X509KeyPair(data, data)
				}
				if err != nil {
					if failures.Add(1) == 1 {
						firstFailure.Store(err)
					}
				}
				reads.Add(1)
			}
		})
	}
	serials := map[string]bool{}
	for range 50 {
		serials[leafOf(t, issue(t, a, "orders").Cert).SerialNumber.String()] = true
	}
	done.Store(true)
	wg.Wait()
	if n := failures.Load(); n != 0 {
		t.Fatalf("%d of %d reads failed during 50 Issues, first: %v", n, reads.Load(), firstFailure.Load())
	}
	if reads.Load() < 50 {
		t.Errorf("only %d reads during 50 Issues", reads.Load())
	}
	if len(serials) != 50 {
		t.Errorf("%d distinct certificates from 50 Issues", len(serials))
	}
	entries, _ := os.ReadDir(filepath.Dir(files.Cert))
	for _, e := range entries {
		if e.Name() != "orders.pem" && e.Name() != pki.CAFile && e.Name() != pki.CAKeyFile {
			t.Errorf("left behind: %s", e.Name())
		}
	}
}

// Open removes the temporary files (holding keys) that a crash left.
func TestOpenRemovesLeftovers(t *testing.T) {
	dir := t.TempDir()
	open(t, dir, pki.Config{})
	left := filepath.Join(dir, ".pki-tmp-123")
	write(t, left, []byte("a key"))
	open(t, dir, pki.Config{})
	if _, err := os.Stat(left); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("%s is still there: %v", left, err)
	}
}

// NeedsRenewal: no before half the lifetime since issue, yes after, and
// yes for every file that is not a usable certificate of this CA for the
// service. The minute NotBefore is set back for clock skew does not count:
// with a one-minute lifetime, half is 30 s after issue, not at once.
func TestNeedsRenewal(t *testing.T) {
	clock := newClock()
	dir := t.TempDir()
	a := open(t, dir, pki.WithNow(pki.Config{Lifetime: 10 * time.Hour}, clock.Now))
	if !needsRenewal(t, a, "orders") {
		t.Error("a missing certificate does not need renewal")
	}
	start := clock.Now()
	files := issue(t, a, "orders")
	leaf := leafOf(t, files.Cert)
	life := leaf.NotAfter.Sub(start)
	if life != 10*time.Hour {
		t.Fatalf("lifetime from issue = %v, want 10h", life)
	}
	for _, tc := range []struct {
		at   time.Duration // since issue
		want bool
	}{
		{time.Minute, false},
		{life * 40 / 100, false},
		{life/2 - time.Second, false},
		{life / 2, true},
		{life * 60 / 100, true},
		{life + time.Hour, true},
		{-2 * time.Minute, true}, // the clock went back before NotBefore
	} {
		clock.Set(start.Add(tc.at))
		if got := needsRenewal(t, a, "orders"); got != tc.want {
			t.Errorf("at %v of %v: NeedsRenewal = %v, want %v", tc.at, life, got, tc.want)
		}
	}

	// A one-minute certificate is renewed 30 s after issue, not at once.
	short := open(t, t.TempDir(), pki.WithNow(pki.Config{Lifetime: time.Minute}, clock.Now))
	clock.Set(start)
	issue(t, short, "orders")
	for at, want := range map[time.Duration]bool{time.Second: false, 29 * time.Second: false, 30 * time.Second: true} {
		clock.Set(start.Add(at))
		if got := needsRenewal(t, short, "orders"); got != want {
			t.Errorf("one-minute certificate at %v: NeedsRenewal = %v, want %v", at, got, want)
		}
	}
	clock.Set(start)

	other := open(t, t.TempDir(), pki.WithNow(pki.Config{}, clock.Now))
	fromOther := readFile(t, issue(t, other, "orders").Cert)
	good := readFile(t, files.Cert)
	for _, tc := range []struct {
		name string
		data []byte
	}{
		{"empty", nil},
		{"truncated", good[:len(good)-40]},
		{"certificate without key", good[:bytes.Index(good, []byte("-----BEGIN PRIVATE"))]},
		{"from another CA", fromOther},
	} {
		write(t, files.Cert, tc.data)
		if !needsRenewal(t, a, "orders") {
			t.Errorf("%s: NeedsRenewal = false", tc.name)
		}
	}
	// Another service's certificate under this one's name.
	write(t, files.Cert, good)
	write(t, filepath.Join(dir, "users.pem"), good)
	if !needsRenewal(t, a, "users") {
		t.Error("orders' certificate in users.pem: NeedsRenewal(users) = false")
	}
	if needsRenewal(t, a, "orders") {
		t.Error("the good certificate restored: NeedsRenewal = true")
	}
	// A directory in the way is unreadable.
	if err := os.Mkdir(filepath.Join(dir, "catalog.pem"), 0o700); err != nil {
		t.Fatal(err)
	}
	if !needsRenewal(t, a, "catalog") {
		t.Error("a directory as the certificate: NeedsRenewal = false")
	}
}

// Ensure issues only what needs it.
func TestEnsure(t *testing.T) {
	clock := newClock()
	a := open(t, t.TempDir(), pki.WithNow(pki.Config{}, clock.Now))
	f, err := a.Ensure("orders")
	if err != nil {
		t.Fatal(err)
	}
	first := leafOf(t, f.Cert)
	if f, err = a.Ensure("orders"); err != nil {
		t.Fatal(err)
	}
	if leafOf(t, f.Cert).SerialNumber.Cmp(first.SerialNumber) != 0 {
		t.Error("Ensure reissued a fresh certificate")
	}
	clock.Set(clock.Now().Add(13 * time.Hour))
	if f, err = a.Ensure("orders"); err != nil {
		t.Fatal(err)
	}
	if leafOf(t, f.Cert).SerialNumber.Cmp(first.SerialNumber) == 0 {
		t.Error("Ensure kept a certificate past half its life")
	}
}
