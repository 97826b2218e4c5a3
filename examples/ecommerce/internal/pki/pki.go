package pki

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"math/big"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"time"

	"github.com/switchyard/switchyard/examples/ecommerce/internal/private"
	"github.com/switchyard/switchyard/identity"
)

// TrustDomain is the SPIFFE trust domain of the development CA: every
// certificate it issues names its service spiffe://shop.internal/<service>,
// and its name constraints let it vouch for no other. The name is not a
// DNS name anyone resolves; it only has to be the same in every service,
// which takes it from the certificates.
const TrustDomain = "shop.internal"

// Lifetimes and file names.
const (
	// DefaultLifetime is the validity of the certificates [Authority.Issue]
	// makes when [Config.Lifetime] is zero.
	DefaultLifetime = 24 * time.Hour
	// CALifetime is the validity of the CA that [Open] creates. A
	// development CA lives long because replacing it means restarting
	// every service with the new bundle (see the package documentation);
	// its key never leaves the data directory, and the short-lived leaves
	// are what is exposed on the wire.
	CALifetime = 10 * 365 * 24 * time.Hour
	// CAFile is the CA certificate in the directory: the trust bundle
	// every service loads.
	CAFile = "ca.pem"
	// CAKeyFile is the CA's private key in the directory.
	CAKeyFile = "ca-key.pem"
)

// skew is how far back a leaf's NotBefore is set, so that a peer whose
// clock runs a little behind ours accepts it at once.
const skew = time.Minute

var (
	// ErrConfig is wrapped by the error [Open] returns for a [Config] it
	// cannot use, and by [SelfSigned]'s for a host that is not one.
	ErrConfig = errors.New("pki: invalid configuration")
	// ErrCA is wrapped by the error [Open] returns when the directory
	// holds a CA it cannot use: one of ca.pem and ca-key.pem without the
	// other, a file that does not parse, a key that is not the
	// certificate's, a certificate that is not a CA's or has expired.
	// Open never replaces such a CA, which services may trust; the error
	// says what to remove.
	ErrCA = errors.New("pki: unusable certificate authority")
	// ErrService is wrapped by the error of a service name that cannot be
	// the last segment of a SPIFFE ID (identity.ErrInvalid is wrapped
	// too) or that would name one of the CA's own files.
	ErrService = errors.New("pki: invalid service name")
)

// Config configures [Open]. The zero value is ready to use: every field's
// zero value is the default written beside it.
type Config struct {
	// Lifetime is how long a certificate that [Authority.Issue] makes is
	// valid, never past the CA's own expiry. Short-lived certificates
	// limit what a stolen key is worth; [Authority.Run] renews them at
	// half their life. Zero means [DefaultLifetime] (24 h); negative is
	// an error.
	Lifetime time.Duration
	// Logger receives the creation of the CA, file modes tightened, and
	// [Authority.Run]'s renewals and errors. Nil means slog.Default().
	Logger *slog.Logger

	now func() time.Time // nil: time.Now; tests set it through export_test.go
}

// Files names the files a service loads (mtls.Config's CertFile, KeyFile
// and CAFile; the shop's --tls-cert, --tls-key and --tls-ca).
type Files struct {
	// Cert holds the certificate chain, PEM, leaf first.
	Cert string
	// Key holds the private key, PEM. It is the same file as Cert, so
	// that a renewal replaces both with one rename. A reader must read
	// the file once and take both from that read, as package mtls does:
	// tls.LoadX509KeyPair(Cert, Key) reads it twice, and a renewal
	// between the reads pairs a certificate with the next one's key.
	Key string
	// CA holds the trust bundle: the CA's certificate.
	CA string
}

// Authority is the shop's development CA, kept in a directory. It issues
// each service a certificate for its SPIFFE ID and renews it. Create it
// with [Open]; the zero value is not usable. Its methods are safe for
// concurrent use (a certificate is replaced whole by a rename, so the
// last of two concurrent [Authority.Issue] calls wins), but one process
// at a time should manage a directory.
type Authority struct {
	dir      string
	lifetime time.Duration
	log      *slog.Logger
	now      func() time.Time

	cert *x509.Certificate // the CA's; never modified
	key  crypto.Signer
}

// Open returns the CA kept in dir, which is <data>/pki in the shop. On
// first use it creates dir (mode 0700) and a CA in it: an ECDSA P-256 key
// in ca-key.pem and a self-signed certificate valid for [CALifetime] in
// ca.pem, both mode 0600. Later it loads them, checks that the key is the
// certificate's and sets the modes of dir and of the files to exactly
// 0700 and 0600 if they are anything else (logging the change). A CA that exists but is
// unusable is an error wrapping [ErrCA]; it is never replaced.
func Open(dir string, cfg Config) (*Authority, error) {
	if dir == "" {
		return nil, fmt.Errorf("%w: no directory", ErrConfig)
	}
	if cfg.Lifetime < 0 {
		return nil, fmt.Errorf("%w: negative Lifetime %v", ErrConfig, cfg.Lifetime)
	}
	a := &Authority{dir: dir, lifetime: cfg.Lifetime, log: cfg.Logger, now: cfg.now}
	if a.lifetime == 0 {
		a.lifetime = DefaultLifetime
	}
	if a.log == nil {
		a.log = slog.Default()
	}
	if a.now == nil {
		a.now = time.Now
	}
	if err := private.Mkdir(dir, a.log); err != nil {
		return nil, fmt.Errorf("pki: %w", err)
	}
	if err := removeTemps(dir); err != nil {
		return nil, fmt.Errorf("pki: %s: %w", dir, err)
	}
	certPath, keyPath := filepath.Join(dir, CAFile), filepath.Join(dir, CAKeyFile)
	_, certErr := os.Lstat(certPath)
	_, keyErr := os.Lstat(keyPath)
	if errors.Is(certErr, fs.ErrNotExist) && errors.Is(keyErr, fs.ErrNotExist) {
		err := a.create(certPath, keyPath)
		if err == nil {
			return a, nil
		}
		if !errors.Is(err, fs.ErrExist) {
			return nil, err
		}
		// Another process created the CA meanwhile: use it.
	}
	if err := a.load(certPath, keyPath); err != nil {
		return nil, err
	}
	return a, nil
}

// create makes a new CA and writes it to certPath and keyPath. The key is
// written first: if the certificate cannot be written after it, the key
// is removed again; a crash between the two leaves a key without a
// certificate, which load reports.
func (a *Authority) create(certPath, keyPath string) error {
	key, keyPEM, err := newKey()
	if err != nil {
		return fmt.Errorf("pki: create the CA: %w", err)
	}
	serial, err := newSerial()
	if err != nil {
		return fmt.Errorf("pki: create the CA: %w", err)
	}
	now := a.now()
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: "Switchyard shop development CA", Organization: []string{"Switchyard example shop"}},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(CALifetime),
		IsCA:                  true,
		BasicConstraintsValid: true,
		MaxPathLen:            0,
		MaxPathLenZero:        true, // leaves only: no intermediate CA under it
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		// The CA vouches for SPIFFE IDs of its trust domain alone: were
		// a leaf for spiffe://other.domain/x signed with its key, a
		// verifier would refuse it. DNS names and IP addresses are left
		// unconstrained (leaves name localhost and the loopback
		// addresses). Name constraints are critical, as RFC 5280 asks.
		PermittedURIDomains:         []string{TrustDomain},
		PermittedDNSDomainsCritical: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		return fmt.Errorf("pki: create the CA: %w", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return fmt.Errorf("pki: create the CA: %w", err)
	}
	if err := createFile(keyPath, keyPEM); err != nil {
		return fmt.Errorf("pki: create the CA: %w", err)
	}
	if err := createFile(certPath, pemCert(der)); err != nil {
		os.Remove(keyPath)
		return fmt.Errorf("pki: create the CA: %w", err)
	}
	a.cert, a.key = cert, key
	a.log.Info("created the development CA; services trust it from now on",
		"dir", a.dir, "trust_domain", TrustDomain, "not_after", cert.NotAfter)
	return nil
}

// load reads the CA from certPath and keyPath and checks it.
func (a *Authority) load(certPath, keyPath string) error {
	remove := fmt.Sprintf("remove %s (every service certificate is then reissued by a new CA at the next start)", a.dir)
	certPEM, certErr := os.ReadFile(certPath)
	keyPEM, keyErr := os.ReadFile(keyPath)
	switch {
	case errors.Is(certErr, fs.ErrNotExist) && keyErr == nil:
		return fmt.Errorf("%w: %s exists without %s; restore it or %s", ErrCA, keyPath, CAFile, remove)
	case errors.Is(keyErr, fs.ErrNotExist) && certErr == nil:
		return fmt.Errorf("%w: %s exists without %s; restore it or %s", ErrCA, certPath, CAKeyFile, remove)
	case certErr != nil:
		return fmt.Errorf("%w: %w", ErrCA, certErr)
	case keyErr != nil:
		return fmt.Errorf("%w: %w", ErrCA, keyErr)
	}
	for _, p := range []string{certPath, keyPath} {
		if err := private.Tighten(p, a.log); err != nil {
			return fmt.Errorf("pki: %w", err)
		}
	}
	cert, err := parseCACert(certPEM)
	if err != nil {
		return fmt.Errorf("%w: %s: %w; %s", ErrCA, certPath, err, remove)
	}
	key, err := parseKey(keyPEM)
	if err != nil {
		return fmt.Errorf("%w: %s: %w; %s", ErrCA, keyPath, err, remove)
	}
	if !samePublicKey(cert.PublicKey, key.Public()) {
		return fmt.Errorf("%w: the key in %s is not the key of %s; %s", ErrCA, keyPath, certPath, remove)
	}
	if now := a.now(); !now.Before(cert.NotAfter) {
		return fmt.Errorf("%w: %s expired at %v; %s", ErrCA, certPath, cert.NotAfter, remove)
	}
	a.cert, a.key = cert, key
	return nil
}

// Dir returns the directory the CA is kept in.
func (a *Authority) Dir() string { return a.dir }

// Certificate returns the CA's certificate. The caller must not modify it.
func (a *Authority) Certificate() *x509.Certificate { return a.cert }

// Files returns the names of the files of service's certificate, whether
// or not it has been issued. It fails with an error wrapping [ErrService]
// for a name [Authority.Issue] refuses.
func (a *Authority) Files(service string) (Files, error) {
	if _, err := serviceID(service); err != nil {
		return Files{}, err
	}
	return a.files(service), nil
}

func (a *Authority) files(service string) Files {
	leaf := filepath.Join(a.dir, service+".pem")
	return Files{Cert: leaf, Key: leaf, CA: filepath.Join(a.dir, CAFile)}
}

// reserved are the names of the directory's other files, without
// ".pem": a service so named would overwrite them.
var reserved = map[string]bool{"ca": true, "ca-key": true, selfSignedName: true}

// serviceID returns service's SPIFFE ID in [TrustDomain].
func serviceID(service string) (identity.ID, error) {
	if reserved[service] {
		return identity.ID{}, fmt.Errorf("%w: %q names a file of the CA's directory", ErrService, service)
	}
	id, err := identity.ForService(TrustDomain, service)
	if err != nil {
		return identity.ID{}, fmt.Errorf("%w: %w", ErrService, err)
	}
	return id, nil
}

// Issue makes service a new certificate and key and writes them to
// <dir>/<service>.pem (mode 0600), certificate first, replacing an older
// file with one rename: a reader sees the old file or the new one, whole.
// The certificate's only URI SAN is spiffe://shop.internal/<service>; it
// also names localhost, 127.0.0.1 and ::1, so that tools such as curl
// --cacert and etcdctl accept a service on loopback; it serves for both
// server and client authentication; it is valid from a minute ago (for
// peers whose clock is behind) for [Config.Lifetime], or until the CA
// expires if that is sooner. The key is a fresh ECDSA P-256 key each
// time. A service name that cannot be an ID's segment, or that names the
// directory's other files ("ca", "ca-key", "public-self-signed"), fails
// with an error wrapping [ErrService].
func (a *Authority) Issue(service string) (Files, error) {
	f, _, err := a.issue(service)
	return f, err
}

// issue is Issue, returning the certificate's expiry too.
func (a *Authority) issue(service string) (Files, time.Time, error) {
	id, err := serviceID(service)
	if err != nil {
		return Files{}, time.Time{}, err
	}
	now := a.now()
	if !now.Before(a.cert.NotAfter) {
		return Files{}, time.Time{}, fmt.Errorf("pki: issue %s: the CA expired at %v; remove %s to make a new one", service, a.cert.NotAfter, a.dir)
	}
	key, keyPEM, err := newKey()
	if err != nil {
		return Files{}, time.Time{}, fmt.Errorf("pki: issue %s: %w", service, err)
	}
	serial, err := newSerial()
	if err != nil {
		return Files{}, time.Time{}, fmt.Errorf("pki: issue %s: %w", service, err)
	}
	notAfter := now.Add(a.lifetime)
	if notAfter.After(a.cert.NotAfter) {
		notAfter = a.cert.NotAfter
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: service},
		NotBefore:             now.Add(-skew),
		NotAfter:              notAfter,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		URIs:                  []*url.URL{id.URL()},
		DNSNames:              []string{"localhost"},
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, a.cert, key.Public(), a.key)
	if err != nil {
		return Files{}, time.Time{}, fmt.Errorf("pki: issue %s: %w", service, err)
	}
	f := a.files(service)
	if err := replaceFile(f.Cert, append(pemCert(der), keyPEM...)); err != nil {
		return Files{}, time.Time{}, fmt.Errorf("pki: issue %s: %w", service, err)
	}
	return f, notAfter, nil
}

// Ensure returns the files of service's certificate, issuing it first if
// [Authority.NeedsRenewal] says so: what a launcher calls for each
// service before starting it.
func (a *Authority) Ensure(service string) (Files, error) {
	renew, _, err := a.needsRenewal(service)
	if err != nil {
		return Files{}, err
	}
	if renew {
		return a.Issue(service)
	}
	return a.files(service), nil
}

// NeedsRenewal reports whether service's certificate must be issued
// again: its file is missing or unreadable, does not hold a certificate
// and its key, holds one that this CA did not sign or for another
// identity, one not yet valid, or one past half its lifetime. Renewing at
// half leaves the other half as slack: a launcher that was stopped, or
// suspended with the machine, or a clock that jumped, still finds every
// certificate valid when it resumes, with time to renew before a peer
// refuses it. The error, wrapping [ErrService], is for a name Issue
// refuses; a bad file is not an error but a reason to renew.
func (a *Authority) NeedsRenewal(service string) (bool, error) {
	renew, _, err := a.needsRenewal(service)
	return renew, err
}

// needsRenewal is NeedsRenewal with the reason, for the log.
func (a *Authority) needsRenewal(service string) (renew bool, reason string, err error) {
	id, err := serviceID(service)
	if err != nil {
		return false, "", err
	}
	f := a.files(service)
	data, err := os.ReadFile(f.Cert)
	if errors.Is(err, fs.ErrNotExist) {
		return true, "no certificate", nil
	}
	if err != nil {
		return true, "unreadable: " + err.Error(), nil
	}
	pair, err := tls.X509KeyPair(data, data)
	if err != nil {
		return true, "unusable: " + err.Error(), nil
	}
	leaf, err := x509.ParseCertificate(pair.Certificate[0])
	if err != nil {
		return true, "unusable: " + err.Error(), nil
	}
	if err := leaf.CheckSignatureFrom(a.cert); err != nil {
		return true, "not issued by this CA", nil
	}
	if got, err := identity.FromCertificate(leaf); err != nil || got != id {
		return true, "not the identity " + id.String(), nil
	}
	now := a.now()
	if now.Before(leaf.NotBefore) {
		return true, "not valid yet", nil
	}
	// Half of the life since it was issued: Issue sets NotBefore skew
	// earlier, which must not count, or a short lifetime (a minute, in
	// tests) would be past half at once and renewed at every check.
	issued := leaf.NotBefore.Add(skew)
	half := issued.Add(leaf.NotAfter.Sub(issued) / 2)
	if !now.Before(half) {
		return true, "past half its lifetime", nil
	}
	return false, "", nil
}

// Run renews the certificates of services as they need it
// ([Authority.NeedsRenewal]): once at once, then every check. Zero check
// means [Config.Lifetime]/20 (72 min for 24 h), and any check is at least
// a second. It logs each renewal; an error (a full disk, a file in the
// way) is logged and the service tried again at the next check, so that a
// service keeps its valid certificate meanwhile. Services reload a
// renewed file on their own (package mtls watches it).
//
// Run blocks until ctx is done and then returns nil; it starts no
// goroutine, so the caller runs it in one and cancels ctx to stop it. It
// returns an error wrapping [ErrService] at once if a name in services is
// one Issue refuses.
func (a *Authority) Run(ctx context.Context, services []string, check time.Duration) error {
	for _, s := range services {
		if _, err := serviceID(s); err != nil {
			return err
		}
	}
	if check <= 0 {
		check = a.lifetime / 20
	}
	check = max(check, time.Second)
	t := time.NewTicker(check)
	defer t.Stop()
	for {
		a.renew(services)
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// renew issues again the certificates of services that need it.
func (a *Authority) renew(services []string) {
	for _, s := range services {
		renew, reason, err := a.needsRenewal(s)
		if err != nil || !renew {
			continue // names were checked by Run
		}
		_, notAfter, err := a.issue(s)
		if err != nil {
			a.log.Error("could not renew a service certificate; trying again at the next check",
				"service", s, "reason", reason, "err", err)
			continue
		}
		a.log.Info("renewed a service certificate", "service", s, "reason", reason,
			"not_after", notAfter)
	}
}

// newKey returns a new ECDSA P-256 key and its PKCS #8 PEM encoding.
func newKey() (*ecdsa.PrivateKey, []byte, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, nil, err
	}
	return key, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), nil
}

// newSerial returns a random positive serial number of 128 bits, as
// CA/Browser Forum rules ask (at least 64 bits of randomness).
func newSerial() (*big.Int, error) {
	return rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 128))
}

func pemCert(der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}

// parseCACert parses the one CA certificate of a PEM file.
func parseCACert(data []byte) (*x509.Certificate, error) {
	block, rest := pem.Decode(data)
	if block == nil || block.Type != "CERTIFICATE" {
		return nil, errors.New("no PEM certificate")
	}
	if len(bytes.TrimSpace(rest)) != 0 {
		return nil, errors.New("more than the CA's certificate")
	}
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		return nil, err
	}
	if !cert.BasicConstraintsValid || !cert.IsCA {
		return nil, errors.New("not a CA certificate")
	}
	return cert, nil
}

// parseKey parses the one private key of a PEM file: PKCS #8, or SEC 1
// ("EC PRIVATE KEY") for a key someone put there with openssl.
func parseKey(data []byte) (crypto.Signer, error) {
	block, rest := pem.Decode(data)
	if block == nil {
		return nil, errors.New("no PEM private key")
	}
	if len(bytes.TrimSpace(rest)) != 0 {
		return nil, errors.New("more than one PEM block")
	}
	var key any
	var err error
	switch block.Type {
	case "PRIVATE KEY":
		key, err = x509.ParsePKCS8PrivateKey(block.Bytes)
	case "EC PRIVATE KEY":
		key, err = x509.ParseECPrivateKey(block.Bytes)
	default:
		return nil, fmt.Errorf("a %q PEM block, not a private key", block.Type)
	}
	if err != nil {
		return nil, err
	}
	signer, ok := key.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("a %T cannot sign", key)
	}
	return signer, nil
}

// samePublicKey reports whether a and b are the same public key.
func samePublicKey(a, b crypto.PublicKey) bool {
	k, ok := a.(interface{ Equal(crypto.PublicKey) bool })
	return ok && k.Equal(b)
}
