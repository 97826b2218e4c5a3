package pki_test

import (
	"crypto/tls"
	"errors"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"testing"
	"time"

	"github.com/switchyard/switchyard/examples/ecommerce/internal/pki"
	"github.com/switchyard/switchyard/identity"
	"github.com/switchyard/switchyard/mtls"
)

// keyPair reads the one file of a certificate and its key once.
func keyPair(t *testing.T, f pki.Files) tls.Certificate {
	t.Helper()
	data := readFile(t, f.Cert)
	pair, err := tls.X509KeyPair(data, data)
	if err != nil {
		t.Fatal(err)
	}
	return pair
}

// handshake runs one TLS handshake over loopback between server and
// client and returns the server's view of it, or the error of either
// side.
func handshake(t *testing.T, server, client *tls.Config) (tls.ConnectionState, error) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	type result struct {
		cs  tls.ConnectionState
		err error
	}
	served := make(chan result, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			served <- result{err: err}
			return
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(10 * time.Second))
		s := tls.Server(c, server)
		err = s.Handshake()
		if err == nil {
			// Read the client's byte, so that a refusal the server
			// makes after the client's Finished reaches the client.
			_, err = io.ReadFull(s, make([]byte, 1))
		}
		served <- result{s.ConnectionState(), err}
	}()
	c, err := tls.Dial("tcp", ln.Addr().String(), client)
	if err == nil {
		c.SetDeadline(time.Now().Add(10 * time.Second))
		_, err = c.Write([]byte{1})
		c.Close()
	}
	r := <-served
	if r.err != nil {
		return r.cs, r.err
	}
	return r.cs, err
}

// A leaf it issues passes a TLS 1.3 handshake with a server that
// requires client certificates from the CA, both ways, and the server
// reads the client's SPIFFE ID from it; a client without a certificate,
// or with one from another CA, is refused.
func TestHandshake(t *testing.T) {
	dir := t.TempDir()
	a := open(t, dir, pki.Config{})
	pool := roots(t, filepath.Join(dir, pki.CAFile))
	server := &tls.Config{
		MinVersion:   tls.VersionTLS13,
		Certificates: []tls.Certificate{keyPair(t, issue(t, a, "catalog"))},
		ClientAuth:   tls.RequireAndVerifyClientCert,
		ClientCAs:    pool,
	}
	client := func(certs ...tls.Certificate) *tls.Config {
		return &tls.Config{MinVersion: tls.VersionTLS13, RootCAs: pool, ServerName: "localhost", Certificates: certs}
	}

	cs, err := handshake(t, server, client(keyPair(t, issue(t, a, "orders"))))
	if err != nil {
		t.Fatalf("handshake: %v", err)
	}
	if cs.Version != tls.VersionTLS13 {
		t.Errorf("version %x, want TLS 1.3", cs.Version)
	}
	if id, ok := identity.FromConnectionState(&cs); !ok || id.String() != "spiffe://shop.internal/orders" {
		t.Errorf("the server sees the client as %v, %v", id, ok)
	}
	// By IP address too: curl --cacert https://127.0.0.1:port works.
	byIP := client(keyPair(t, issue(t, a, "orders")))
	byIP.ServerName = "127.0.0.1"
	if _, err := handshake(t, server, byIP); err != nil {
		t.Errorf("handshake to 127.0.0.1: %v", err)
	}

	if _, err := handshake(t, server, client()); err == nil {
		t.Error("a client without a certificate was admitted")
	}
	stranger := open(t, t.TempDir(), pki.Config{})
	if _, err := handshake(t, server, client(keyPair(t, issue(t, stranger, "orders")))); err == nil {
		t.Error("a client with a certificate of another CA was admitted")
	}
}

// The files are what package mtls loads: a server and a client built on
// them talk, the server sees the caller's ID, and a client expecting
// another service refuses the server.
func TestWithPackageMTLS(t *testing.T) {
	a := open(t, t.TempDir(), pki.Config{})
	source := func(service string) *mtls.Source {
		f := issue(t, a, service)
		src, err := mtls.New(mtls.Config{CertFile: f.Cert, KeyFile: f.Key, CAFile: f.CA, TrustDomain: pki.TrustDomain})
		if err != nil {
			t.Fatal(err)
		}
		return src
	}
	users, gateway := source("users"), source("gateway")
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id, _ := identity.FromRequest(r)
		io.WriteString(w, id.String())
	}))
	srv.TLS = users.ServerConfig()
	srv.Config.ErrorLog = log.New(io.Discard, "", 0) // the refused handshake
	srv.StartTLS()
	defer srv.Close()

	get := func(expect string) (string, error) {
		id, err := gateway.ServiceID(expect)
		if err != nil {
			t.Fatal(err)
		}
		c := &http.Client{Transport: &http.Transport{TLSClientConfig: gateway.ClientConfig(id)}, Timeout: 10 * time.Second}
		defer c.CloseIdleConnections()
		resp, err := c.Get(srv.URL)
		if err != nil {
			return "", err
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		return string(b), err
	}
	if got, err := get("users"); err != nil || got != "spiffe://shop.internal/gateway" {
		t.Errorf("GET as gateway to users = %q, %v", got, err)
	}
	if _, err := get("catalog"); !errors.Is(err, mtls.ErrPeer) {
		t.Errorf("GET expecting catalog from users = %v, want mtls.ErrPeer", err)
	}
}

// The self-signed certificate serves TLS 1.3 to a client that trusts its
// file, by name and by address.
func TestSelfSignedHandshake(t *testing.T) {
	certFile, keyFile, err := pki.SelfSigned(t.TempDir(), []string{"shop.example"})
	if err != nil {
		t.Fatal(err)
	}
	pair, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		t.Fatal(err)
	}
	pool := roots(t, certFile)
	server := &tls.Config{MinVersion: tls.VersionTLS13, Certificates: []tls.Certificate{pair}}
	for _, name := range []string{"localhost", "127.0.0.1", "shop.example"} {
		if _, err := handshake(t, server, &tls.Config{MinVersion: tls.VersionTLS13, RootCAs: pool, ServerName: name}); err != nil {
			t.Errorf("handshake as %s: %v", name, err)
		}
	}
	if _, err := handshake(t, server, &tls.Config{MinVersion: tls.VersionTLS13, RootCAs: pool, ServerName: "other.example"}); err == nil {
		t.Error("the certificate passed for a name it does not carry")
	}
}
