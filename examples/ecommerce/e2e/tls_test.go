package e2e_test

import (
	"crypto/tls"
	"net/http"
	"path/filepath"
	"testing"
	"time"

	"github.com/switchyard/switchyard/mtls"
)

// The shop's services speak mutual TLS with the certificates of the
// launcher's development CA, under <data>/pki. A test that calls a
// service directly does it as one of them, as a same-host process that
// can read the data directory could, or as a stranger without a
// certificate.

// pkiFile returns the path of a file of the shop's development CA.
func (s *shop) pkiFile(name string) string { return filepath.Join(s.data, "pki", name) }

// clientAs returns an HTTP client presenting service's certificate, which
// accepts any instance of the shop's trust domain.
func (s *shop) clientAs(t *testing.T, service string) *http.Client {
	t.Helper()
	f := s.pkiFile(service + ".pem")
	src, err := mtls.New(mtls.Config{CertFile: f, KeyFile: f, CAFile: s.pkiFile("ca.pem")})
	if err != nil {
		t.Fatalf("the shop's certificate for %s: %v", service, err)
	}
	c := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: src.ClientConfig()}}
	t.Cleanup(c.CloseIdleConnections)
	return c
}

// stranger returns an HTTP client that speaks TLS but has no certificate
// to present — a prober, or anyone else on the machine. It does not check
// the server's certificate: what is under test is the server's answer.
func stranger(t *testing.T) *http.Client {
	c := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
	t.Cleanup(c.CloseIdleConnections)
	return c
}
