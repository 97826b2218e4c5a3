package mtls_test

import (
	"crypto/tls"
	"net"
	"testing"

	"github.com/switchyard/switchyard/mtls"
	"github.com/switchyard/switchyard/mtls/mtlstest"
)

// BenchmarkHandshake measures one full mutual-TLS 1.3 handshake, both
// ends in this process over net.Pipe, both sides' work added up (ECDSA
// P-256 leaves): the cost of a new connection between services. "mtls" is
// this package's configurations (a config cloned per handshake, the
// server's chain verified by hand, IDs checked, the files' check not
// due); "static" is crypto/tls with fixed certificates and pools and its
// own verification, for comparison.
func BenchmarkHandshake(b *testing.B) {
	ca := mtlstest.NewCA("shop CA")
	users, orders := svcID(b, "users"), svcID(b, "orders")
	b.Run("mtls", func(b *testing.B) {
		server := workload(b, ca, users, nil, mtls.Config{}).ServerConfig()
		client := workload(b, ca, orders, nil, mtls.Config{}).ClientConfig(users)
		benchmarkHandshake(b, server, client)
	})
	b.Run("static", func(b *testing.B) {
		server := &tls.Config{
			MinVersion:   tls.VersionTLS13,
			Certificates: []tls.Certificate{ca.Issue(users).TLSCertificate()},
			ClientCAs:    mtlstest.Pool(ca),
			ClientAuth:   tls.RequireAndVerifyClientCert,
		}
		client := &tls.Config{
			MinVersion:   tls.VersionTLS13,
			Certificates: []tls.Certificate{ca.Issue(orders).TLSCertificate()},
			RootCAs:      mtlstest.Pool(ca),
			ServerName:   "localhost",
		}
		benchmarkHandshake(b, server, client)
	})
}

func benchmarkHandshake(b *testing.B, server, client *tls.Config) {
	b.ReportAllocs()
	for b.Loop() {
		c1, c2 := net.Pipe()
		errc := make(chan error, 1)
		go func() { errc <- tls.Server(c2, server).Handshake() }()
		if err := tls.Client(c1, client).Handshake(); err != nil {
			b.Fatal(err)
		}
		if err := <-errc; err != nil {
			b.Fatal(err)
		}
		c1.Close()
		c2.Close()
	}
}
