package mtls

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/switchyard/switchyard/identity"
)

var (
	// ErrConfig is wrapped by the error [New] returns for a [Config] it
	// cannot use: a file name missing, a trust domain that is not one, a
	// TLS version below 1.2.
	ErrConfig = errors.New("mtls: invalid configuration")
	// ErrCertificate is wrapped by the errors of loading the files: one
	// that cannot be read or parsed, a key that does not match the
	// certificate, a bundle without a certificate, or our own leaf
	// without exactly one SPIFFE ID, of another trust domain, expired, or
	// not issued by a CA of the bundle.
	ErrCertificate = errors.New("mtls: unusable certificate")
	// ErrPeer is wrapped by the error of a handshake that refused the
	// peer's certificate: none given to a client, a chain that does not
	// verify against the bundle (the x509 error is wrapped too), no
	// SPIFFE ID, an ID of another trust domain, or not the ID expected.
	ErrPeer = errors.New("mtls: peer certificate refused")
)

// DefaultCheckInterval is how often, at most, a handshake makes a [Source]
// look at its files when [Config.CheckInterval] is zero.
const DefaultCheckInterval = 10 * time.Second

// Config configures [New]. CertFile, KeyFile and CAFile are required;
// every other field's zero value is the default written beside it.
type Config struct {
	// CertFile holds our certificate chain, PEM, leaf first. The leaf
	// carries our SPIFFE ID as its only URI SAN, and is used both as a
	// server and as a client certificate: its extended key usage must
	// allow both (or be absent). Required.
	CertFile string
	// KeyFile holds the leaf's private key, PEM. Required. It may name
	// the same file as CertFile (chain and key in one file), which is
	// the way to rotate both at once: a writer replaces that one file
	// with a rename, and no reader can see a new certificate with an old
	// key.
	KeyFile string
	// CAFile holds the trust bundle: one or more PEM CA certificates that
	// peers' certificates must chain to — the old and the new root
	// during a CA rotation. Our own leaf must chain to it too. Required.
	CAFile string
	// TrustDomain is the trust domain every peer's ID must belong to,
	// and ours too. Empty means the trust domain of our own leaf's ID at
	// [New]; it never changes afterwards.
	TrustDomain string
	// MinVersion is the lowest TLS version accepted, tls.VersionTLS12 or
	// tls.VersionTLS13. Zero means tls.VersionTLS13.
	MinVersion uint16
	// CheckInterval is how often, at most, a handshake makes the source
	// compare the files with those it loaded (identity, size and
	// modification time) and reload them on a change. Zero means
	// [DefaultCheckInterval]; a negative value never checks, leaving
	// reloads to [Source.Reload].
	CheckInterval time.Duration
	// OptionalClientCert makes [Source.ServerConfig] accept a handshake
	// without a client certificate (a certificate that is presented is
	// still verified in full). It is for a listener whose probe routes
	// (/healthz, /readyz) must stay open to an orchestrator without a
	// certificate; the application must then refuse anonymous callers on
	// every other route itself, which middleware/authz does. False
	// requires a client certificate at the handshake.
	OptionalClientCert bool
	// Hooks are called on the source's events. The zero value calls
	// nothing.
	Hooks Hooks
}

// Hooks are functions a [Source] calls on its events. A nil field is not
// called. Hooks run outside every lock of the source, on the goroutine of
// the handshake or of the [Source.Reload] call concerned; they must be
// safe for concurrent use and should not block, since a handshake waits
// for them.
type Hooks struct {
	// OnReload is called after every load that succeeded, the first one
	// (in [New]) included, with our ID and the leaf's expiry: the place
	// to log a rotation or to export the time left as a metric.
	OnReload func(id identity.ID, notAfter time.Time)
	// OnReloadError is called with the error (wrapping [ErrCertificate])
	// of every reload that failed, automatic or by [Source.Reload]; the
	// previous certificate and bundle stay in use.
	OnReloadError func(err error)
}

// Source holds a workload's certificate, key and trust bundle, read from
// PEM files, and builds the TLS configurations of its servers and clients
// from them. It reloads the files when they change — checked on the
// handshake path at most once per [Config.CheckInterval], or at once with
// [Reload] — and every handshake uses what is current: existing
// connections are never touched, new ones use the new files. It starts no
// goroutine. Create it with [New]; the zero value is not usable. It is
// safe for concurrent use.
type Source struct {
	certFile, keyFile, caFile string
	td                        string // fixed at New
	minVersion                uint16
	interval                  time.Duration // < 0: no automatic checks
	clientAuth                tls.ClientAuthType
	hooks                     Hooks
	now                       func() time.Time // time.Now; tests set it through export_test.go
	epoch                     time.Time        // now() at New; nextCheck counts from it

	cur atomic.Pointer[material]
	// nextCheck is when the next automatic check is due, as a duration
	// since epoch. The handshake that swaps it forward does the check;
	// the others go on with what is loaded.
	nextCheck atomic.Int64

	mu sync.Mutex // serialises loads, so that an older read never replaces a newer one
}

// material is one load of the files. It is never modified once published.
type material struct {
	cert   *tls.Certificate // Leaf set
	certs  []tls.Certificate
	id     identity.ID
	roots  *x509.CertPool
	stamps []os.FileInfo // of the distinct files, in the order of Source.files
}

// New loads the files named by cfg and returns the source that serves
// them. It fails with an error wrapping [ErrConfig] for a bad cfg, and
// with one wrapping [ErrCertificate] when the files are unusable (see
// there).
func New(cfg Config) (*Source, error) {
	switch {
	case cfg.CertFile == "" || cfg.KeyFile == "" || cfg.CAFile == "":
		return nil, fmt.Errorf("%w: CertFile, KeyFile and CAFile are required", ErrConfig)
	case cfg.MinVersion != 0 && cfg.MinVersion != tls.VersionTLS12 && cfg.MinVersion != tls.VersionTLS13:
		return nil, fmt.Errorf("%w: MinVersion %#04x is neither TLS 1.2 nor TLS 1.3", ErrConfig, cfg.MinVersion)
	}
	if cfg.TrustDomain != "" {
		if _, err := identity.New(cfg.TrustDomain, ""); err != nil {
			return nil, fmt.Errorf("%w: TrustDomain: %w", ErrConfig, err)
		}
	}
	s := &Source{
		certFile:   cfg.CertFile,
		keyFile:    cfg.KeyFile,
		caFile:     cfg.CAFile,
		td:         cfg.TrustDomain,
		minVersion: cfg.MinVersion,
		interval:   cfg.CheckInterval,
		clientAuth: tls.RequireAndVerifyClientCert,
		hooks:      cfg.Hooks,
		now:        time.Now,
	}
	if s.minVersion == 0 {
		s.minVersion = tls.VersionTLS13
	}
	if s.interval == 0 {
		s.interval = DefaultCheckInterval
	}
	if cfg.OptionalClientCert {
		s.clientAuth = tls.VerifyClientCertIfGiven
	}
	m, err := s.load()
	if err != nil {
		return nil, err
	}
	if s.td == "" {
		s.td = m.id.TrustDomain()
	}
	s.cur.Store(m)
	s.epoch = s.now()
	s.nextCheck.Store(int64(s.interval))
	if s.hooks.OnReload != nil {
		s.hooks.OnReload(m.id, m.cert.Leaf.NotAfter)
	}
	return s, nil
}

// ID returns our own identity: the SPIFFE ID of the leaf in use.
func (s *Source) ID() identity.ID { return s.cur.Load().id }

// TrustDomain returns the trust domain peers must belong to.
func (s *Source) TrustDomain() string { return s.td }

// ServiceID returns the ID of the service named service in our trust
// domain (identity.ForService), the ID to expect of its instances in
// [Source.ClientConfig].
func (s *Source) ServiceID(service string) (identity.ID, error) {
	return identity.ForService(s.td, service)
}

// Certificate returns the certificate in use, its Leaf field set. It does
// not look at the files; handshakes do. The result must not be modified.
func (s *Source) Certificate() *tls.Certificate { return s.cur.Load().cert }

// Reload reads the files now. On success, new handshakes use them; on
// failure the previous certificate and bundle stay in use, and the error
// (wrapping [ErrCertificate]) is returned and given to
// [Hooks.OnReloadError].
func (s *Source) Reload() error {
	s.mu.Lock()
	m, err := s.load()
	if err == nil {
		s.cur.Store(m)
	}
	s.mu.Unlock()
	s.report(m, err)
	return err
}

// current returns what handshakes use now, after checking the files if a
// check is due. Of the handshakes that find a check due, one does it; the
// others go on with what is loaded.
func (s *Source) current() *material {
	if s.interval > 0 {
		now := int64(s.now().Sub(s.epoch))
		if next := s.nextCheck.Load(); now >= next && s.nextCheck.CompareAndSwap(next, now+int64(s.interval)) {
			s.check()
		}
	}
	return s.cur.Load()
}

// check reloads the files if any differs from the one loaded.
func (s *Source) check() {
	s.mu.Lock()
	cur := s.cur.Load()
	changed := false
	for i, name := range s.files() {
		fi, err := os.Stat(name)
		if err != nil || !sameFile(fi, cur.stamps[i]) {
			changed = true
			break
		}
	}
	if !changed {
		s.mu.Unlock()
		return
	}
	m, err := s.load()
	if err == nil {
		s.cur.Store(m)
	}
	s.mu.Unlock()
	s.report(m, err)
}

// report calls the hook of a load's outcome; never under s.mu.
func (s *Source) report(m *material, err error) {
	switch {
	case err != nil:
		if s.hooks.OnReloadError != nil {
			s.hooks.OnReloadError(err)
		}
	case s.hooks.OnReload != nil:
		s.hooks.OnReload(m.id, m.cert.Leaf.NotAfter)
	}
}

// files returns the distinct files the source reads.
func (s *Source) files() []string {
	if s.keyFile == s.certFile {
		return []string{s.certFile, s.caFile}
	}
	return []string{s.certFile, s.keyFile, s.caFile}
}

// sameFile reports whether a and b describe the same file with the same
// content as far as metadata tell: the same inode (a rename over the name
// gives a new one), size and modification time (an in-place rewrite
// changes one of them).
func sameFile(a, b os.FileInfo) bool {
	return os.SameFile(a, b) && a.Size() == b.Size() && a.ModTime().Equal(b.ModTime())
}

// load reads and checks the files. The files are looked at before they
// are read, so that a change made during the read is seen by the next
// check.
func (s *Source) load() (*material, error) {
	names := s.files()
	m := &material{stamps: make([]os.FileInfo, len(names))}
	for i, name := range names {
		fi, err := os.Stat(name)
		if err != nil {
			return nil, fmt.Errorf("%w: %w", ErrCertificate, err)
		}
		m.stamps[i] = fi
	}
	certPEM, err := os.ReadFile(s.certFile)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrCertificate, err)
	}
	keyPEM := certPEM // one read of a combined file: chain and key of one version
	if s.keyFile != s.certFile {
		if keyPEM, err = os.ReadFile(s.keyFile); err != nil {
			return nil, fmt.Errorf("%w: %w", ErrCertificate, err)
		}
	}
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return nil, fmt.Errorf("%w: %s, %s: %w", ErrCertificate, s.certFile, s.keyFile, err)
	}
	if cert.Leaf == nil { // GODEBUG x509keypairleaf=0
		if cert.Leaf, err = x509.ParseCertificate(cert.Certificate[0]); err != nil {
			return nil, fmt.Errorf("%w: %s: %w", ErrCertificate, s.certFile, err)
		}
	}
	caPEM, err := os.ReadFile(s.caFile)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrCertificate, err)
	}
	if m.roots, err = parseBundle(caPEM); err != nil {
		return nil, fmt.Errorf("%w: %s: %w", ErrCertificate, s.caFile, err)
	}
	leaf := cert.Leaf
	if m.id, err = identity.FromCertificate(leaf); err != nil {
		return nil, fmt.Errorf("%w: %s: %w", ErrCertificate, s.certFile, err)
	}
	if s.td != "" && !m.id.MemberOf(s.td) {
		return nil, fmt.Errorf("%w: %s: our ID %s is not of the trust domain %s", ErrCertificate, s.certFile, m.id, s.td)
	}
	now := time.Now()
	if now.After(leaf.NotAfter) {
		return nil, fmt.Errorf("%w: %s: our certificate expired at %v", ErrCertificate, s.certFile, leaf.NotAfter)
	}
	// Peers would refuse a leaf that does not chain to the bundle; say so
	// here rather than at every handshake. The check ignores a NotBefore
	// a little ahead of our clock (the issuer's may run fast).
	opts := x509.VerifyOptions{
		Roots:         m.roots,
		Intermediates: intermediates(cert.Certificate[1:]),
		CurrentTime:   now,
		KeyUsages:     []x509.ExtKeyUsage{x509.ExtKeyUsageAny},
	}
	if now.Before(leaf.NotBefore) {
		opts.CurrentTime = leaf.NotBefore
	}
	if _, err := leaf.Verify(opts); err != nil {
		return nil, fmt.Errorf("%w: %s does not chain to the bundle in %s: %w", ErrCertificate, s.certFile, s.caFile, err)
	}
	m.cert = &cert
	m.certs = []tls.Certificate{cert}
	return m, nil
}

// parseBundle reads every certificate of a PEM bundle, strictly: a block
// that is not a certificate, one that does not parse or is not a CA's, is
// an error, as is a bundle without any.
func parseBundle(data []byte) (*x509.CertPool, error) {
	pool := x509.NewCertPool()
	n := 0
	for {
		var block *pem.Block
		block, data = pem.Decode(data)
		if block == nil {
			break
		}
		if block.Type != "CERTIFICATE" {
			return nil, fmt.Errorf("a %q block in the trust bundle", block.Type)
		}
		c, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return nil, err
		}
		if !c.BasicConstraintsValid || !c.IsCA {
			// A leaf in the bundle would be trusted as a root: whoever
			// holds its key would pass as any ID it names.
			return nil, fmt.Errorf("%q in the trust bundle is not a CA certificate", c.Subject.CommonName)
		}
		pool.AddCert(c)
		n++
	}
	if n == 0 {
		return nil, errors.New("no certificate in the trust bundle")
	}
	return pool, nil
}

// intermediates returns a pool of the DER certificates, or nil for none;
// a certificate that does not parse is left out (and the chain that needs
// it fails to verify).
func intermediates(ders [][]byte) *x509.CertPool {
	if len(ders) == 0 {
		return nil
	}
	pool := x509.NewCertPool()
	for _, der := range ders {
		if c, err := x509.ParseCertificate(der); err == nil {
			pool.AddCert(c)
		}
	}
	return pool
}
