package pki_test

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/switchyard/switchyard/examples/ecommerce/internal/pki"
)

// A CA is opened (created, the first time) in <data>/pki and issues the
// orders service its certificate, which verifies against ca.pem.
func Example() {
	data, err := os.MkdirTemp("", "shop-data")
	if err != nil {
		panic(err)
	}
	defer os.RemoveAll(data)

	ca, err := pki.Open(filepath.Join(data, "pki"), pki.Config{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		panic(err)
	}
	files, err := ca.Issue("orders")
	if err != nil {
		panic(err)
	}

	// What a service does with the files; package mtls does it for the
	// shop's services, reading the one file once, since a renewal may
	// replace it between LoadX509KeyPair's two reads.
	pair, err := tls.LoadX509KeyPair(files.Cert, files.Key)
	if err != nil {
		panic(err)
	}
	bundle, err := os.ReadFile(files.CA)
	if err != nil {
		panic(err)
	}
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(bundle)
	_, err = pair.Leaf.Verify(x509.VerifyOptions{
		Roots:     roots,
		KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth, x509.ExtKeyUsageServerAuth},
	})
	fmt.Println("verified:", err == nil)
	fmt.Println("identity:", pair.Leaf.URIs[0])
	fmt.Println("valid for:", pair.Leaf.NotAfter.Sub(pair.Leaf.NotBefore))
	fmt.Println("one file:", files.Cert == files.Key, filepath.Base(files.Cert))
	// Output:
	// verified: true
	// identity: spiffe://shop.internal/orders
	// valid for: 24h1m0s
	// one file: true orders.pem
}

// The public listener's self-signed certificate, for a try of HTTPS on
// one machine: made once, then used again.
func ExampleSelfSigned() {
	data, err := os.MkdirTemp("", "shop-data")
	if err != nil {
		panic(err)
	}
	defer os.RemoveAll(data)
	dir := filepath.Join(data, "pki")

	certFile, keyFile, err := pki.SelfSigned(dir, []string{"shop.example"})
	if err != nil {
		panic(err)
	}
	pair, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		panic(err)
	}
	fmt.Println(filepath.Base(certFile), pair.Leaf.DNSNames, pair.Leaf.IPAddresses)

	if _, _, err := pki.SelfSigned(dir, []string{"shop.example"}); err != nil {
		panic(err)
	}
	again, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		panic(err)
	}
	fmt.Println("used again:", again.Leaf.Equal(pair.Leaf))
	// Output:
	// public-self-signed.pem [localhost shop.example] [127.0.0.1 ::1]
	// used again: true
}
