package mtls_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/switchyard/switchyard/identity"
	"github.com/switchyard/switchyard/mtls"
	"github.com/switchyard/switchyard/mtls/mtlstest"
	"github.com/switchyard/switchyard/outcome"
)

func TestNewRefusesBadConfig(t *testing.T) {
	ca := mtlstest.NewCA("shop CA")
	f := writeFiles(t, ca.Issue(svcID(t, "orders")), ca.PEM, true)
	for name, cfg := range map[string]mtls.Config{
		"no CertFile":       {KeyFile: f.key, CAFile: f.ca},
		"no KeyFile":        {CertFile: f.cert, CAFile: f.ca},
		"no CAFile":         {CertFile: f.cert, KeyFile: f.key},
		"TLS 1.1":           {CertFile: f.cert, KeyFile: f.key, CAFile: f.ca, MinVersion: tls.VersionTLS11},
		"unknown version":   {CertFile: f.cert, KeyFile: f.key, CAFile: f.ca, MinVersion: 0x0305},
		"bad trust domain":  {CertFile: f.cert, KeyFile: f.key, CAFile: f.ca, TrustDomain: "Shop"},
		"trust domain path": {CertFile: f.cert, KeyFile: f.key, CAFile: f.ca, TrustDomain: "shop/x"},
		"trust domain URI":  {CertFile: f.cert, KeyFile: f.key, CAFile: f.ca, TrustDomain: "spiffe://shop.internal"},
	} {
		if _, err := mtls.New(cfg); !errors.Is(err, mtls.ErrConfig) {
			t.Errorf("%s: New = %v, want ErrConfig", name, err)
		}
	}
}

func TestNewRefusesBadFiles(t *testing.T) {
	ca := mtlstest.NewCA("shop CA")
	other := mtlstest.NewCA("other CA")
	orders := svcID(t, "orders")
	good := ca.Issue(orders)
	expired := mtlstest.Template(orders)
	expired.NotBefore, expired.NotAfter = time.Now().Add(-48*time.Hour), time.Now().Add(-time.Minute)
	twoURIs := mtlstest.Template(orders)
	twoURIs.URIs = append(twoURIs.URIs, svcID(t, "users").URL())
	notSPIFFE := mtlstest.Template(identity.ID{})
	notSPIFFE.URIs = []*url.URL{{Scheme: "https", Host: "orders.shop.internal"}}

	type files struct {
		cert, key, bundle []byte
		trustDomain       string
	}
	leafOf := func(leaf *mtlstest.Leaf, bundle []byte) files {
		return files{cert: leaf.CertPEM, key: leaf.KeyPEM, bundle: bundle}
	}
	cases := map[string]files{
		"garbage certificate": {cert: []byte("not PEM"), key: good.KeyPEM, bundle: ca.PEM},
		"key of another leaf": {cert: good.CertPEM, key: ca.Issue(orders).KeyPEM, bundle: ca.PEM},
		"no URI SAN":          leafOf(ca.IssueTemplate(mtlstest.Template(identity.ID{})), ca.PEM),
		"URI SAN not SPIFFE":  leafOf(ca.IssueTemplate(notSPIFFE), ca.PEM),
		"two URI SANs":        leafOf(ca.IssueTemplate(twoURIs), ca.PEM),
		"expired":             leafOf(ca.IssueTemplate(expired), ca.PEM),
		"not from the bundle": leafOf(other.Issue(orders), ca.PEM),
		"empty bundle":        leafOf(good, nil),
		"bundle of garbage":   leafOf(good, []byte("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n")),
		"key in the bundle":   leafOf(good, append(bytes.Clone(ca.PEM), good.KeyPEM...)),
		"leaf in the bundle":  leafOf(good, append(bytes.Clone(ca.PEM), good.CertPEM...)),
		"other trust domain":  {cert: good.CertPEM, key: good.KeyPEM, bundle: ca.PEM, trustDomain: "bank.internal"},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			cfg := mtls.Config{CertFile: filepath.Join(dir, "c"), KeyFile: filepath.Join(dir, "k"), CAFile: filepath.Join(dir, "ca"), TrustDomain: c.trustDomain}
			mtlstest.WriteFile(cfg.CertFile, c.cert)
			mtlstest.WriteFile(cfg.KeyFile, c.key)
			mtlstest.WriteFile(cfg.CAFile, c.bundle)
			if _, err := mtls.New(cfg); !errors.Is(err, mtls.ErrCertificate) {
				t.Fatalf("New = %v, want ErrCertificate", err)
			}
		})
	}
	t.Run("missing file", func(t *testing.T) {
		f := writeFiles(t, good, ca.PEM, false)
		os.Remove(f.key)
		if _, err := mtls.New(mtls.Config{CertFile: f.cert, KeyFile: f.key, CAFile: f.ca}); !errors.Is(err, mtls.ErrCertificate) || !errors.Is(err, os.ErrNotExist) {
			t.Fatalf("New = %v, want ErrCertificate and ErrNotExist", err)
		}
	})
}

func TestSourceAccessors(t *testing.T) {
	ca := mtlstest.NewCA("shop CA")
	orders := svcID(t, "orders")
	leaf := ca.Issue(orders)
	var reloads []identity.ID
	var notAfter time.Time
	s := newSource(t, writeFiles(t, leaf, ca.PEM, false), mtls.Config{Hooks: mtls.Hooks{
		OnReload: func(id identity.ID, na time.Time) { reloads = append(reloads, id); notAfter = na },
	}})
	if s.ID() != orders || s.TrustDomain() != td {
		t.Errorf("ID, TrustDomain = %s, %s", s.ID(), s.TrustDomain())
	}
	if c := s.Certificate(); c.Leaf == nil || c.Leaf.SerialNumber.Cmp(leaf.Cert.SerialNumber) != 0 {
		t.Errorf("Certificate is not the leaf")
	}
	if len(reloads) != 1 || reloads[0] != orders || !notAfter.Equal(leaf.Cert.NotAfter) {
		t.Errorf("OnReload at New: %v %v", reloads, notAfter)
	}
	users, err := s.ServiceID("users")
	if err != nil || users != svcID(t, "users") {
		t.Errorf("ServiceID = %s, %v", users, err)
	}
	if _, err := s.ServiceID("a/b"); !errors.Is(err, identity.ErrInvalid) {
		t.Errorf("ServiceID(a/b) = %v", err)
	}
}

// TestServerRefusesCallers: a server on ServerConfig refuses at the
// handshake every caller that is not a workload of its trust domain with
// a current certificate from its CA; its handler is never reached. The
// one that is gets through, and the handler sees its ID.
func TestServerRefusesCallers(t *testing.T) {
	ca := mtlstest.NewCA("shop CA")
	other := mtlstest.NewCA("other CA")
	orders := svcID(t, "orders")
	srv := serve(t, workload(t, ca, svcID(t, "users"), nil, mtls.Config{}).ServerConfig())

	expired := mtlstest.Template(orders)
	expired.NotBefore, expired.NotAfter = time.Now().Add(-48*time.Hour), time.Now().Add(-time.Minute)
	serverOnly := mtlstest.Template(orders)
	serverOnly.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
	twoURIs := mtlstest.Template(orders)
	twoURIs.URIs = append(twoURIs.URIs, svcID(t, "admin").URL())
	bankOrders, _ := identity.ForService("bank.internal", "orders")

	refused := map[string]*mtlstest.Leaf{
		"no certificate":            nil,
		"another CA":                other.Issue(orders),
		"expired":                   ca.IssueTemplate(expired),
		"no SPIFFE ID":              ca.IssueTemplate(mtlstest.Template(identity.ID{})),
		"two URI SANs":              ca.IssueTemplate(twoURIs),
		"another trust domain":      ca.Issue(bankOrders),
		"not for client auth":       ca.IssueTemplate(serverOnly),
		"another CA's intermediate": other.Intermediate("other intermediate").Issue(orders),
	}
	for name, leaf := range refused {
		t.Run(name, func(t *testing.T) {
			if a, err := get(newClient(t, presenting(ca, leaf), true), srv.URL); err == nil {
				t.Fatalf("request answered (%+v), want a refused handshake", a)
			}
		})
	}
	if n := srv.calls.Load(); n != 0 {
		t.Fatalf("the handler ran %d times for refused callers", n)
	}

	for name, leaf := range map[string]*mtlstest.Leaf{
		"leaf":                    ca.Issue(orders),
		"leaf of an intermediate": ca.Intermediate("shop intermediate").Issue(orders),
	} {
		a, err := get(newClient(t, presenting(ca, leaf), true), srv.URL)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if a.ID != orders.String() || a.Serial != leaf.Cert.SerialNumber.String() {
			t.Errorf("%s: the handler saw %+v, want %s", name, a.seen, orders)
		}
	}
}

// TestOptionalClientCert: without a certificate the handler is reached
// with no identity; a certificate that is presented is verified in full.
func TestOptionalClientCert(t *testing.T) {
	ca := mtlstest.NewCA("shop CA")
	other := mtlstest.NewCA("other CA")
	orders := svcID(t, "orders")
	srv := serve(t, workload(t, ca, svcID(t, "users"), nil, mtls.Config{OptionalClientCert: true}).ServerConfig())

	a, err := get(newClient(t, presenting(ca, nil), true), srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	if a.ID != "" || a.Serial != "" {
		t.Fatalf("anonymous caller seen as %+v", a.seen)
	}
	expired := mtlstest.Template(orders)
	expired.NotAfter = time.Now().Add(-time.Minute)
	for name, leaf := range map[string]*mtlstest.Leaf{
		"another CA":   other.Issue(orders),
		"expired":      ca.IssueTemplate(expired),
		"no SPIFFE ID": ca.Issue(identity.ID{}),
	} {
		if _, err := get(newClient(t, presenting(ca, leaf), true), srv.URL); err == nil {
			t.Errorf("%s: answered, want a refused handshake", name)
		}
	}
	if n := srv.calls.Load(); n != 1 {
		t.Fatalf("handler calls = %d, want 1 (the anonymous one)", n)
	}
	client := workload(t, ca, orders, nil, mtls.Config{})
	if a, err := get(newClient(t, client.ClientConfig(), true), srv.URL); err != nil || a.ID != orders.String() {
		t.Fatalf("with a certificate: %+v, %v", a, err)
	}
}

// TestClientRefusesServers: ClientConfig(users) refuses a server whose
// certificate says catalog, one from an unknown CA and one of another
// trust domain, and sends none of them a request.
func TestClientRefusesServers(t *testing.T) {
	ca := mtlstest.NewCA("shop CA")
	other := mtlstest.NewCA("other CA")
	users, catalog := svcID(t, "users"), svcID(t, "catalog")
	bankUsers, _ := identity.ForService("bank.internal", "users")
	orders := workload(t, ca, svcID(t, "orders"), nil, mtls.Config{})

	real := serve(t, workload(t, ca, users, nil, mtls.Config{}).ServerConfig())
	impostors := map[string]*server{
		"catalog":              serve(t, workload(t, ca, catalog, nil, mtls.Config{}).ServerConfig()),
		"unknown CA":           serve(t, workload(t, other, users, nil, mtls.Config{}).ServerConfig()),
		"another trust domain": serve(t, workload(t, ca, bankUsers, nil, mtls.Config{}).ServerConfig()),
	}
	client := newClient(t, orders.ClientConfig(users), true)
	if a, err := get(client, real.URL); err != nil {
		t.Fatalf("the real users: %v", err)
	} else if a.ID != orders.ID().String() {
		t.Fatalf("users saw %+v", a.seen)
	}
	for name, srv := range impostors {
		_, err := get(client, srv.URL)
		if !errors.Is(err, mtls.ErrPeer) {
			t.Errorf("%s: %v, want ErrPeer", name, err)
		}
		if n := srv.calls.Load(); n != 0 {
			t.Errorf("%s: the impostor's handler ran %d times", name, n)
		}
	}
	_, err := get(client, impostors["unknown CA"].URL)
	var unknown x509.UnknownAuthorityError
	if !errors.As(err, &unknown) {
		t.Errorf("unknown CA: %v does not wrap the x509 error", err)
	}

	// What a balancer sees — ReverseProxy and go-kit pass the transport's
	// error on — is a failure of the instance, so it is ejected and an
	// idempotent call retried elsewhere.
	req, _ := http.NewRequest(http.MethodGet, impostors["catalog"].URL, nil)
	if _, err := client.Transport.RoundTrip(req); !errors.Is(err, mtls.ErrPeer) || outcome.Default(context.Background(), err) != outcome.ServerFailure {
		t.Errorf("transport error %v: class %v, want ErrPeer and ServerFailure", err, outcome.Default(context.Background(), err))
	}

	// Without an expected ID, any workload of the trust domain will do.
	anyone := newClient(t, orders.ClientConfig(), true)
	if _, err := get(anyone, impostors["catalog"].URL); err != nil {
		t.Errorf("ClientConfig() to catalog: %v", err)
	}
	if _, err := get(anyone, impostors["another trust domain"].URL); !errors.Is(err, mtls.ErrPeer) {
		t.Errorf("ClientConfig() to another trust domain: %v, want ErrPeer", err)
	}
	several := newClient(t, orders.ClientConfig(catalog, users), true)
	if _, err := get(several, impostors["catalog"].URL); err != nil {
		t.Errorf("ClientConfig(catalog, users) to catalog: %v", err)
	}
}

// TestRefusedServerReceivesNothing: below HTTP, on a raw listener. The
// impostor's TLS handshake fails (the client aborts it with an alert
// after reading the impostor's certificate), and not one byte arrives on
// its TCP connection after that: the client never sent the request.
func TestRefusedServerReceivesNothing(t *testing.T) {
	ca := mtlstest.NewCA("shop CA")
	impostor := workload(t, ca, svcID(t, "catalog"), nil, mtls.Config{})
	orders := workload(t, ca, svcID(t, "orders"), nil, mtls.Config{})

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	type result struct {
		handshake error
		after     int
	}
	done := make(chan result, 1)
	go func() {
		conn, err := ln.Accept()
		if err != nil {
			done <- result{handshake: err}
			return
		}
		defer conn.Close()
		conn.SetDeadline(time.Now().Add(10 * time.Second))
		tc := tls.Server(conn, impostor.ServerConfig())
		var r result
		r.handshake = tc.Handshake()
		// Whatever the client sent after the handshake, raw.
		n, _ := io.Copy(io.Discard, conn)
		r.after = int(n)
		done <- r
	}()
	_, err = get(newClient(t, orders.ClientConfig(svcID(t, "users")), true), "https://"+ln.Addr().String())
	if !errors.Is(err, mtls.ErrPeer) {
		t.Fatalf("client: %v, want ErrPeer", err)
	}
	r := <-done
	if r.handshake == nil {
		t.Fatal("the impostor's handshake succeeded")
	}
	if r.after != 0 {
		t.Fatalf("the impostor received %d bytes after the handshake", r.after)
	}
}

// TestReloadOnHandshake: with a fake clock, a changed file is picked up by
// the first handshake after the check interval, not before; a broken file
// keeps the certificate in use and reaches OnReloadError at each check;
// Reload reads at once; a negative interval leaves reloading to Reload.
func TestReloadOnHandshake(t *testing.T) {
	ca := mtlstest.NewCA("shop CA")
	users := svcID(t, "users")
	first := ca.Issue(users)
	f := writeFiles(t, first, ca.PEM, true)
	var reloads, failures []string
	clock := &fakeClock{t: time.Unix(1e9, 0)}
	s := newSource(t, f, mtls.Config{CheckInterval: time.Minute, Hooks: mtls.Hooks{
		OnReload:      func(id identity.ID, na time.Time) { reloads = append(reloads, id.String()) },
		OnReloadError: func(err error) { failures = append(failures, err.Error()) },
	}})
	mtls.SetNow(s, clock.Now)
	srv := serve(t, s.ServerConfig())
	client := newClient(t, workload(t, ca, svcID(t, "orders"), nil, mtls.Config{}).ClientConfig(users), true)
	serial := func() string {
		t.Helper()
		a, err := get(client, srv.URL)
		if err != nil {
			t.Fatal(err)
		}
		return a.ServerSerial
	}
	if got := serial(); got != first.Cert.SerialNumber.String() {
		t.Fatalf("serial %s, want the first leaf's", got)
	}
	second := ca.Issue(users)
	second.Write(f.cert, f.key)
	clock.Advance(59 * time.Second)
	if got := serial(); got != first.Cert.SerialNumber.String() {
		t.Fatal("the file was checked before the interval passed")
	}
	clock.Advance(time.Second)
	if got := serial(); got != second.Cert.SerialNumber.String() {
		t.Fatal("the changed file was not picked up after the interval")
	}
	if len(reloads) != 2 || s.Certificate().Leaf.SerialNumber.Cmp(second.Cert.SerialNumber) != 0 {
		t.Fatalf("reloads %v", reloads)
	}

	mtlstest.WriteFile(f.cert, []byte("half a certificate"))
	for range 2 {
		clock.Advance(time.Minute)
		if got := serial(); got != second.Cert.SerialNumber.String() {
			t.Fatal("a broken file replaced the certificate in use")
		}
	}
	if len(failures) != 2 {
		t.Fatalf("OnReloadError calls %d, want 2 (one per check): %v", len(failures), failures)
	}
	if err := s.Reload(); !errors.Is(err, mtls.ErrCertificate) || len(failures) != 3 {
		t.Fatalf("Reload = %v (failures %d), want ErrCertificate", err, len(failures))
	}

	third := ca.Issue(users)
	third.Write(f.cert, f.key)
	if err := s.Reload(); err != nil {
		t.Fatal(err)
	}
	if got := serial(); got != third.Cert.SerialNumber.String() {
		t.Fatal("Reload did not take effect")
	}

	// A negative interval: files are read by Reload alone.
	g := writeFiles(t, first, ca.PEM, false)
	manual := newSource(t, g, mtls.Config{CheckInterval: -1})
	mtls.SetNow(manual, clock.Now)
	msrv := serve(t, manual.ServerConfig())
	ca.Issue(users).Write(g.cert, g.key)
	clock.Advance(time.Hour)
	if a, err := get(client, msrv.URL); err != nil || a.ServerSerial != first.Cert.SerialNumber.String() {
		t.Fatalf("with a negative interval: %+v, %v", a, err)
	}
	if err := manual.Reload(); err != nil {
		t.Fatal(err)
	}
	if a, err := get(client, msrv.URL); err != nil || a.ServerSerial == first.Cert.SerialNumber.String() {
		t.Fatalf("after Reload: %+v, %v", a, err)
	}
}

// TestTLSVersions: TLS 1.3 is the minimum by default; MinVersion lets 1.2
// in, with the same checks.
func TestTLSVersions(t *testing.T) {
	ca := mtlstest.NewCA("shop CA")
	users := svcID(t, "users")
	orders := workload(t, ca, svcID(t, "orders"), nil, mtls.Config{})
	tls12 := orders.ClientConfig(users)
	tls12.MinVersion, tls12.MaxVersion = tls.VersionTLS12, tls.VersionTLS12

	strict := serve(t, workload(t, ca, users, nil, mtls.Config{}).ServerConfig())
	if _, err := get(newClient(t, tls12, true), strict.URL); err == nil {
		t.Fatal("a TLS 1.2 client got through the default config")
	}
	lenient := serve(t, workload(t, ca, users, nil, mtls.Config{MinVersion: tls.VersionTLS12}).ServerConfig())
	if a, err := get(newClient(t, tls12, true), lenient.URL); err != nil || a.ID != orders.ID().String() {
		t.Fatalf("TLS 1.2: %+v, %v", a, err)
	}
	impostor := serve(t, workload(t, ca, svcID(t, "catalog"), nil, mtls.Config{MinVersion: tls.VersionTLS12}).ServerConfig())
	if _, err := get(newClient(t, tls12, true), impostor.URL); !errors.Is(err, mtls.ErrPeer) {
		t.Fatalf("TLS 1.2 to an impostor: %v, want ErrPeer", err)
	}
	if impostor.calls.Load() != 0 {
		t.Fatal("the impostor was reached over TLS 1.2")
	}
}

// TestServerConfigKeepsCallerSettings: what the caller sets on the
// returned config (here net/http's HTTP/2 protocols, and a check of its
// own) applies to every handshake.
func TestServerConfigKeepsCallerSettings(t *testing.T) {
	ca := mtlstest.NewCA("shop CA")
	users := svcID(t, "users")
	cfg := workload(t, ca, users, nil, mtls.Config{}).ServerConfig()
	cfg.NextProtos = []string{"h2", "http/1.1"}
	var callerChecks int
	cfg.VerifyConnection = func(tls.ConnectionState) error { callerChecks++; return nil }
	srv := serve(t, cfg)

	ccfg := workload(t, ca, svcID(t, "orders"), nil, mtls.Config{}).ClientConfig(users)
	tr := &http.Transport{TLSClientConfig: ccfg, ForceAttemptHTTP2: true}
	defer tr.CloseIdleConnections()
	a, err := get(&http.Client{Transport: tr}, srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	if a.Proto != 2 || a.ID != svcID(t, "orders").String() {
		t.Fatalf("answer %+v, want HTTP/2 from orders", a)
	}
	if callerChecks != 1 {
		t.Fatalf("the caller's VerifyConnection ran %d times", callerChecks)
	}
}
