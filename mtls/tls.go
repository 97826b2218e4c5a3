package mtls

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"slices"

	"github.com/switchyard/switchyard/identity"
)

// ServerConfig returns the TLS configuration of a server that requires
// (or, with [Config.OptionalClientCert], accepts) a client certificate and
// verifies it: every handshake gets the certificate current at the time
// and verifies the client's chain against the bundle current at the time,
// and a client whose leaf has no SPIFFE ID of the trust domain is refused
// during the handshake, so no request of its reaches the application. The
// caller's ID is then identity.FromRequest(r) (or FromConnectionState).
//
// The returned configuration is a base: each handshake is served by a
// clone of it made at that moment (through GetConfigForClient) with the
// current certificate, bundle and client-auth setting filled in. Settings
// made on it before it is used — NextProtos for HTTP/2, CipherSuites, a
// VerifyConnection of the caller's own, which runs after ours — are kept;
// Certificates, GetCertificate, ClientCAs, ClientAuth and
// GetConfigForClient are the source's. MinVersion is set from
// [Config.MinVersion].
func (s *Source) ServerConfig() *tls.Config {
	base := &tls.Config{MinVersion: s.minVersion}
	base.GetConfigForClient = func(*tls.ClientHelloInfo) (*tls.Config, error) {
		m := s.current()
		c := base.Clone()
		c.GetConfigForClient = nil
		c.GetCertificate = nil
		c.Certificates = m.certs
		c.ClientCAs = m.roots
		c.ClientAuth = s.clientAuth
		next := c.VerifyConnection
		c.VerifyConnection = func(cs tls.ConnectionState) error {
			if err := s.verifyClient(&cs); err != nil {
				return err
			}
			if next != nil {
				return next(cs)
			}
			return nil
		}
		return c, nil
	}
	return base
}

// verifyClient checks the ID of a client whose chain crypto/tls has
// verified against the bundle (ClientAuth ≥ VerifyClientCertIfGiven); on a
// resumed session too, where crypto/tls checks again that the chain still
// ends at a root of the current bundle.
func (s *Source) verifyClient(cs *tls.ConnectionState) error {
	if len(cs.PeerCertificates) == 0 {
		return nil // ClientAuth has decided already: refused, or admitted without an ID
	}
	if len(cs.VerifiedChains) == 0 || len(cs.VerifiedChains[0]) == 0 {
		return fmt.Errorf("%w: the client's certificate was not verified", ErrPeer)
	}
	id, err := identity.FromCertificate(cs.VerifiedChains[0][0])
	if err != nil {
		return fmt.Errorf("%w: client: %w", ErrPeer, err)
	}
	if !id.MemberOf(s.td) {
		return fmt.Errorf("%w: client %s is not of the trust domain %s", ErrPeer, id, s.td)
	}
	return nil
}

// ClientConfig returns the TLS configuration of a client that presents
// the current certificate at every handshake and accepts a server only if
// its chain verifies against the bundle current at the time and its leaf
// carries a SPIFFE ID that is one of expect — with no expect, any ID of
// the trust domain. Host names are not checked: a server's identity is
// its URI SAN, so the address may come from a registry. A refused server
// fails the handshake, before the client has sent a byte of application
// data; the error wraps [ErrPeer] (and the x509 error of a chain that did
// not verify), which outcome.Default counts as a server failure, so a
// balancer ejects the instance and an idempotent call is retried on
// another.
//
// Use one configuration, and so one connection pool (one
// *http.Transport), per expected service: a pooled connection is reused
// by address alone, so a transport shared by two services could send one
// service's request over a connection verified as the other's.
func (s *Source) ClientConfig(expect ...identity.ID) *tls.Config {
	want := slices.Clone(expect)
	return &tls.Config{
		MinVersion: s.minVersion,
		// crypto/tls's own verification of a server checks the chain
		// against RootCAs, fixed when the config is made, and the host
		// name. We need the bundle current at each handshake (a CA
		// rotation must not require new configurations) and the URI SAN
		// instead of a host name, so the built-in check is off and
		// VerifyConnection does the whole verification itself — the
		// pattern of go-spiffe. VerifyConnection runs on every handshake,
		// resumed sessions included, and its error fails the handshake.
		InsecureSkipVerify: true,
		VerifyConnection: func(cs tls.ConnectionState) error {
			return s.verifyServer(&cs, want)
		},
		GetClientCertificate: func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
			return s.current().cert, nil
		},
	}
}

// verifyServer verifies the server's chain against the current bundle and
// its ID against want.
func (s *Source) verifyServer(cs *tls.ConnectionState, want []identity.ID) error {
	m := s.current()
	if len(cs.PeerCertificates) == 0 {
		return fmt.Errorf("%w: the server presented no certificate", ErrPeer)
	}
	leaf := cs.PeerCertificates[0]
	opts := x509.VerifyOptions{
		Roots:         m.roots,
		Intermediates: x509.NewCertPool(),
		KeyUsages:     []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	for _, c := range cs.PeerCertificates[1:] {
		opts.Intermediates.AddCert(c)
	}
	if _, err := leaf.Verify(opts); err != nil {
		return fmt.Errorf("%w: server: %w", ErrPeer, err)
	}
	id, err := identity.FromCertificate(leaf)
	if err != nil {
		return fmt.Errorf("%w: server: %w", ErrPeer, err)
	}
	if !id.MemberOf(s.td) {
		return fmt.Errorf("%w: server %s is not of the trust domain %s", ErrPeer, id, s.td)
	}
	if len(want) > 0 && !slices.Contains(want, id) {
		return fmt.Errorf("%w: server is %s, expected %v", ErrPeer, id, want)
	}
	return nil
}
