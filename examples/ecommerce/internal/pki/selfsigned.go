package pki

import (
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/switchyard/switchyard/examples/ecommerce/internal/private"
)

const (
	// SelfSignedLifetime is the validity of the certificate [SelfSigned]
	// makes. It is for trying HTTPS on one machine, where a browser is
	// told once to accept it: 90 days asks for that rarely, ages a key
	// left behind by a forgotten try out within a season, and stays far
	// below the 398 days browsers accept of any server certificate.
	SelfSignedLifetime = 90 * 24 * time.Hour
	// SelfSignedRenewBefore is the validity a certificate kept by
	// [SelfSigned] must still have to be used again, so that a shop
	// started today does not serve a certificate that expires while it
	// runs.
	SelfSignedRenewBefore = 7 * 24 * time.Hour
	// SelfSignedFile is where [SelfSigned] keeps the certificate and its
	// key, in the directory it is given.
	SelfSignedFile = selfSignedName + ".pem"

	selfSignedName = "public-self-signed"
)

// SelfSigned returns the file of a self-signed server certificate for the
// shop's public listener (up --public-tls-self-signed), certificate first
// and then its key, so certFile and keyFile are the same file:
// <dir>/public-self-signed.pem, mode 0600 (dir is created 0700 if it is
// missing). The certificate names localhost, 127.0.0.1 and ::1 and each
// of hosts (DNS names, "*.name" wildcards, or IP addresses), has an ECDSA
// P-256 key and is valid for [SelfSignedLifetime]. A certificate already
// in the file is used again while it names every one of those hosts and
// has more than [SelfSignedRenewBefore] to run; otherwise a new one
// replaces it with one rename. A host that is none of those (one with a
// port, say) fails with an error wrapping [ErrConfig].
//
// No client trusts it unless told to (curl --cacert with the file, a
// browser's exception); it gives a local try encryption, not a proven
// identity.
func SelfSigned(dir string, hosts []string) (certFile, keyFile string, err error) {
	dns, ips, err := selfSignedNames(hosts)
	if err != nil {
		return "", "", err
	}
	if err := private.Mkdir(dir, nil); err != nil {
		return "", "", fmt.Errorf("pki: %w", err)
	}
	path := filepath.Join(dir, SelfSignedFile)
	now := time.Now()
	if reusable(path, dns, ips, now) {
		if err := private.Tighten(path, nil); err != nil {
			return "", "", fmt.Errorf("pki: %w", err)
		}
		return path, path, nil
	}
	key, keyPEM, err := newKey()
	if err != nil {
		return "", "", fmt.Errorf("pki: self-signed certificate: %w", err)
	}
	serial, err := newSerial()
	if err != nil {
		return "", "", fmt.Errorf("pki: self-signed certificate: %w", err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: "Switchyard shop (self-signed)", Organization: []string{"Switchyard example shop"}},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(SelfSignedLifetime),
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		DNSNames:              dns,
		IPAddresses:           ips,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		return "", "", fmt.Errorf("pki: self-signed certificate: %w", err)
	}
	if err := replaceFile(path, append(pemCert(der), keyPEM...)); err != nil {
		return "", "", fmt.Errorf("pki: self-signed certificate: %w", err)
	}
	return path, path, nil
}

// selfSignedNames returns the DNS names and IP addresses of a self-signed
// certificate for hosts: the loopback names first, then hosts, without
// repeats.
func selfSignedNames(hosts []string) (dns []string, ips []net.IP, err error) {
	dns = []string{"localhost"}
	ips = []net.IP{net.IPv4(127, 0, 0, 1).To4(), net.IPv6loopback}
	for _, h := range hosts {
		h = strings.TrimSpace(h)
		if h == "" {
			continue
		}
		if ip := net.ParseIP(strings.TrimSuffix(strings.TrimPrefix(h, "["), "]")); ip != nil {
			if v4 := ip.To4(); v4 != nil {
				ip = v4
			}
			if !slices.ContainsFunc(ips, ip.Equal) {
				ips = append(ips, ip)
			}
			continue
		}
		h = strings.ToLower(strings.TrimSuffix(h, "."))
		if !validHostName(h) {
			return nil, nil, fmt.Errorf("%w: %q is neither a DNS name nor an IP address", ErrConfig, h)
		}
		if !slices.Contains(dns, h) {
			dns = append(dns, h)
		}
	}
	return dns, ips, nil
}

// validHostName reports whether h, lower case, is a DNS name of labels of
// letters, digits and hyphens, whose first label may be "*".
func validHostName(h string) bool {
	if len(h) == 0 || len(h) > 253 {
		return false
	}
	for i, label := range strings.Split(h, ".") {
		if i == 0 && label == "*" && strings.Contains(h, ".") {
			continue
		}
		if len(label) == 0 || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for _, c := range []byte(label) {
			if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-') {
				return false
			}
		}
	}
	return true
}

// reusable reports whether path holds a self-signed certificate and its
// key that names every one of dns and ips and is valid from now for more
// than SelfSignedRenewBefore.
func reusable(path string, dns []string, ips []net.IP, now time.Time) bool {
	data, err := os.ReadFile(path)
	if err != nil {
		return false
	}
	pair, err := tls.X509KeyPair(data, data)
	if err != nil {
		return false
	}
	leaf, err := x509.ParseCertificate(pair.Certificate[0])
	if err != nil {
		return false
	}
	if leaf.CheckSignature(leaf.SignatureAlgorithm, leaf.RawTBSCertificate, leaf.Signature) != nil {
		return false
	}
	if now.Before(leaf.NotBefore) || leaf.NotAfter.Sub(now) <= SelfSignedRenewBefore {
		return false
	}
	for _, name := range dns {
		if !slices.Contains(leaf.DNSNames, name) {
			return false
		}
	}
	for _, ip := range ips {
		if !slices.ContainsFunc(leaf.IPAddresses, ip.Equal) {
			return false
		}
	}
	return true
}
