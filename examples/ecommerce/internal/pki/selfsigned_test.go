package pki_test

import (
	"errors"
	"path/filepath"
	"slices"
	"testing"
	"testing/synctest"
	"time"

	"github.com/switchyard/switchyard/examples/ecommerce/internal/pki"
)

// SelfSigned makes a certificate for the loopback names and the hosts
// given, keeps it while it has more than a week to run and names every
// host asked for, and replaces it otherwise. In a synctest bubble
// time.Now is the bubble's fake clock.
func TestSelfSigned(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		dir := filepath.Join(t.TempDir(), "pki")
		certFile, keyFile, err := pki.SelfSigned(dir, []string{"Shop.Example.", " 192.0.2.7 ", "[2001:db8::1]", "", "localhost", "*.shop.example"})
		if err != nil {
			t.Fatal(err)
		}
		if certFile != keyFile || certFile != filepath.Join(dir, pki.SelfSignedFile) {
			t.Fatalf("files %q, %q", certFile, keyFile)
		}
		leaf := leafOf(t, certFile)
		if want := []string{"localhost", "shop.example", "*.shop.example"}; !slices.Equal(leaf.DNSNames, want) {
			t.Errorf("DNS names %v, want %v", leaf.DNSNames, want)
		}
		var ips []string
		for _, ip := range leaf.IPAddresses {
			ips = append(ips, ip.String())
		}
		if want := []string{"127.0.0.1", "::1", "192.0.2.7", "2001:db8::1"}; !slices.Equal(ips, want) {
			t.Errorf("IP addresses %v, want %v", ips, want)
		}
		if got := time.Until(leaf.NotAfter); got != pki.SelfSignedLifetime {
			t.Errorf("valid for %v, want %v", got, pki.SelfSignedLifetime)
		}
		if err := leaf.CheckSignature(leaf.SignatureAlgorithm, leaf.RawTBSCertificate, leaf.Signature); err != nil {
			t.Errorf("not self-signed: %v", err)
		}
		if len(leaf.URIs) != 0 || leaf.IsCA {
			t.Errorf("URIs %v, IsCA %v", leaf.URIs, leaf.IsCA)
		}
		serial := func() string { return leafOf(t, certFile).SerialNumber.String() }
		first := serial()

		same := func(hosts []string, want bool) {
			t.Helper()
			before := serial()
			if _, _, err := pki.SelfSigned(dir, hosts); err != nil {
				t.Fatal(err)
			}
			if got := serial() == before; got != want {
				t.Errorf("after %v at %v: kept %v, want %v", hosts, time.Now(), got, want)
			}
		}
		same([]string{"shop.example"}, true) // a subset of the names: kept
		if serial() != first {
			t.Fatal("the certificate changed")
		}
		same([]string{"other.example"}, false) // a new name: replaced
		if !slices.Contains(leafOf(t, certFile).DNSNames, "other.example") {
			t.Error("the new name is not in the new certificate")
		}
		same(nil, true)
		time.Sleep(pki.SelfSignedLifetime - pki.SelfSignedRenewBefore - time.Minute)
		same(nil, true) // a week and a minute left
		time.Sleep(time.Minute)
		same(nil, false) // a week left
		before := serial()
		write(t, certFile, []byte("garbage"))
		if _, _, err := pki.SelfSigned(dir, nil); err != nil {
			t.Fatal(err)
		}
		if serial() == before {
			t.Error("a garbage file was not replaced by a new certificate")
		}
	})
}

func TestSelfSignedRefusesBadHosts(t *testing.T) {
	dir := t.TempDir()
	for _, h := range []string{"shop.example:8443", "https://shop.example", "a..b", "-a.example", "*", "a.*.example", "shop example"} {
		if _, _, err := pki.SelfSigned(dir, []string{h}); !errors.Is(err, pki.ErrConfig) {
			t.Errorf("SelfSigned(%q) = %v, want ErrConfig", h, err)
		}
	}
}
