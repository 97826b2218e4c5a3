// Package mtlstest makes throwaway certificate authorities and SPIFFE
// certificates for tests of mutual TLS, and writes them to files the way
// a certificate rotator would (write aside, rename over), so that tests of
// package mtls, of the client chain and of the gateway shake hands for
// real without a PKI.
//
// Keys are ECDSA P-256. A [CA] issues leaves directly or through
// intermediates ([CA.Intermediate]); [Template] is the certificate
// [CA.Issue] signs, to be bent into an expired one, one without a SPIFFE
// ID, and so on, and signed with [CA.IssueTemplate]. Every function fails
// with a panic on an error, as net/http/httptest does. Nothing here is
// for production use.
package mtlstest

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"time"

	"github.com/switchyard/switchyard/identity"
)

// CA is a certificate authority held in memory: a root made by [NewCA] or
// an intermediate made by [CA.Intermediate]. It is safe for concurrent
// use.
type CA struct {
	// Cert is the CA's certificate.
	Cert *x509.Certificate
	// PEM is Cert, PEM-encoded: what goes into a trust bundle (for a
	// root; an intermediate is sent with the leaves it issues instead).
	PEM []byte

	key   *ecdsa.PrivateKey
	chain []byte // PEM of the intermediates from this CA up to, not including, the root
}

// NewCA returns a new root CA named name, valid from an hour ago for a
// day.
func NewCA(name string) *CA {
	key := newKey()
	tmpl := caTemplate(name)
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		fail("mtlstest: create CA %s: %v", name, err)
	}
	return newCA(der, key, nil)
}

// Intermediate returns a CA named name whose certificate ca signs. The
// leaves it issues carry it in their chain ([Leaf.CertPEM]), so that a
// bundle holding only the root verifies them.
func (ca *CA) Intermediate(name string) *CA {
	key := newKey()
	der, err := x509.CreateCertificate(rand.Reader, caTemplate(name), ca.Cert, &key.PublicKey, ca.key)
	if err != nil {
		fail("mtlstest: create intermediate %s: %v", name, err)
	}
	self := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	return newCA(der, key, append(self, ca.chain...))
}

func newCA(der []byte, key *ecdsa.PrivateKey, chain []byte) *CA {
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		fail("mtlstest: %v", err)
	}
	return &CA{Cert: cert, PEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), key: key, chain: chain}
}

func caTemplate(name string) *x509.Certificate {
	return &x509.Certificate{
		SerialNumber:          serial(),
		Subject:               pkix.Name{CommonName: name},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
	}
}

// Template returns the certificate [CA.Issue] signs for id: id as its
// only URI SAN (none for the zero ID), the common name id's service,
// 127.0.0.1 and localhost as IP and DNS SANs, valid from an hour ago for
// a day, for both server and client authentication, with a random serial
// number. Change it and sign it with [CA.IssueTemplate].
func Template(id identity.ID) *x509.Certificate {
	tmpl := &x509.Certificate{
		SerialNumber: serial(),
		Subject:      pkix.Name{CommonName: id.Service()},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
		DNSNames:     []string{"localhost"},
	}
	if u := id.URL(); u != nil {
		tmpl.URIs = []*url.URL{u}
	}
	return tmpl
}

// Leaf is a certificate and its private key.
type Leaf struct {
	// Cert is the leaf certificate.
	Cert *x509.Certificate
	// CertPEM is the leaf followed by the intermediates that issued it,
	// PEM-encoded: a certificate file.
	CertPEM []byte
	// KeyPEM is the private key, PKCS #8 in PEM: a key file.
	KeyPEM []byte
}

// Issue returns a leaf for id signed by ca: [Template] as it is.
func (ca *CA) Issue(id identity.ID) *Leaf {
	return ca.IssueTemplate(Template(id))
}

// IssueTemplate returns a leaf made from tmpl, with a new key, signed by
// ca.
func (ca *CA) IssueTemplate(tmpl *x509.Certificate) *Leaf {
	key := newKey()
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.Cert, &key.PublicKey, ca.key)
	if err != nil {
		fail("mtlstest: issue: %v", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		fail("mtlstest: %v", err)
	}
	kder, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		fail("mtlstest: %v", err)
	}
	certPEM := append(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), ca.chain...)
	return &Leaf{Cert: cert, CertPEM: certPEM, KeyPEM: pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder})}
}

// TLSCertificate returns the leaf as a tls.Certificate, for a client or
// server configured by hand (one that mtls does not build).
func (l *Leaf) TLSCertificate() tls.Certificate {
	c, err := tls.X509KeyPair(l.CertPEM, l.KeyPEM)
	if err != nil {
		fail("mtlstest: %v", err)
	}
	return c
}

// Write puts the leaf into certFile and keyFile, each replaced atomically
// (see [WriteFile]). When the two names are the same, the chain and the
// key go into that one file, so that both change at once.
func (l *Leaf) Write(certFile, keyFile string) {
	if certFile == keyFile {
		WriteFile(certFile, bytes.Join([][]byte{l.CertPEM, l.KeyPEM}, nil))
		return
	}
	WriteFile(keyFile, l.KeyPEM)
	WriteFile(certFile, l.CertPEM)
}

// Bundle returns the PEM certificates of cas one after the other: a trust
// bundle, such as old and new root during a CA rotation.
func Bundle(cas ...*CA) []byte {
	var b []byte
	for _, ca := range cas {
		b = append(b, ca.PEM...)
	}
	return b
}

// Pool returns a certificate pool of cas, for a tls.Config made by hand
// (RootCAs, ClientCAs).
func Pool(cas ...*CA) *x509.CertPool {
	p := x509.NewCertPool()
	for _, ca := range cas {
		p.AddCert(ca.Cert)
	}
	return p
}

// WriteFile replaces name with data atomically, as a certificate rotator
// should: it writes a temporary file in the same directory, mode 0600,
// and renames it over name, so that a reader sees the old content or the
// new, never a mix.
func WriteFile(name string, data []byte) {
	f, err := os.CreateTemp(filepath.Dir(name), ".tmp-"+filepath.Base(name)+"-*")
	if err != nil {
		fail("mtlstest: %v", err)
	}
	_, err = f.Write(data)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(f.Name(), name)
	}
	if err != nil {
		os.Remove(f.Name())
		fail("mtlstest: write %s: %v", name, err)
	}
}

func newKey() *ecdsa.PrivateKey {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		fail("mtlstest: %v", err)
	}
	return key
}

func serial() *big.Int {
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		fail("mtlstest: %v", err)
	}
	return n.Add(n, big.NewInt(1))
}

func fail(format string, args ...any) { panic(fmt.Sprintf(format, args...)) }
