package auth

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

// ErrCertificate is wrapped by the errors of [NewCertReloader],
// [CertReloader.Reload] and [CertReloaderHooks.OnReloadError] about the
// files.
var ErrCertificate = errors.New("auth: cannot load certificate")

// DefaultCheckInterval is how often a [CertReloader] looks at its files'
// modification times, at most, on the handshake path.
const DefaultCheckInterval = 10 * time.Second

// CertReloaderConfig configures [NewCertReloader]. CertFile and KeyFile
// are required; every other field's zero value is the default written
// beside it.
type CertReloaderConfig struct {
	// CertFile holds the PEM certificate chain, leaf first. Required.
	CertFile string
	// KeyFile holds the PEM private key of the leaf certificate. Required.
	KeyFile string
	// CAFile holds the PEM CA certificates that client certificates (for
	// [CertReloader.ServerConfig]) or server certificates (for
	// [CertReloader.ClientConfig]) must chain to. Empty means none: the
	// server config then asks for no client certificate, and the client
	// config trusts the system roots.
	CAFile string
	// CheckInterval is how often, at most, a handshake makes the reloader
	// compare its files' modification times and sizes with those it
	// loaded. Zero means [DefaultCheckInterval]; a negative value never
	// checks, leaving reloads to [CertReloader.Reload]. To check at every
	// handshake, use a tiny positive interval such as time.Nanosecond.
	CheckInterval time.Duration
	// Hooks are called on the reloader's events. The zero value calls
	// nothing.
	Hooks CertReloaderHooks
}

// CertReloaderHooks are functions a [CertReloader] calls on its events.
// Each nil field is not called. Hooks are called outside every lock, on the
// goroutine of the handshake concerned; they must be safe for concurrent
// use and should not block.
type CertReloaderHooks struct {
	// OnReloadError is called with the error (wrapping [ErrCertificate])
	// when a reload caused by changed files fails; the previous
	// certificate and pool stay in use. [CertReloader.Reload] returns its
	// error instead.
	OnReloadError func(error)
}

// CertReloader serves a certificate and CA pool read from PEM files and
// re-reads them when they change, so that certificates can be rotated
// without a restart. It starts no goroutine: the check rides on handshakes.
// Create it with [NewCertReloader]; the zero value is not usable. It is
// safe for concurrent use.
type CertReloader struct {
	certFile, keyFile, caFile string
	interval                  time.Duration
	onError                   func(error)
	now                       func() time.Time // time.Now; tests set it through export_test.go

	cur atomic.Pointer[loaded]

	mu        sync.Mutex // guards lastCheck and serialises reloads
	lastCheck time.Time
}

type loaded struct {
	cert   *tls.Certificate
	pool   *x509.CertPool // nil without a CA file
	stamps [3]fileStamp
	server *tls.Config // the per-generation server config
}

type fileStamp struct {
	mod  time.Time
	size int64
}

// NewCertReloader loads the files named by cfg. It fails with an error
// wrapping [ErrConfig] when CertFile or KeyFile is empty, and with one
// wrapping [ErrCertificate] when the files cannot be read or parsed, or the
// key does not match the certificate.
func NewCertReloader(cfg CertReloaderConfig) (*CertReloader, error) {
	if cfg.CertFile == "" || cfg.KeyFile == "" {
		return nil, fmt.Errorf("%w: CertFile and KeyFile are required", ErrConfig)
	}
	interval := cfg.CheckInterval
	if interval == 0 {
		interval = DefaultCheckInterval
	}
	r := &CertReloader{
		certFile: cfg.CertFile,
		keyFile:  cfg.KeyFile,
		caFile:   cfg.CAFile,
		interval: interval,
		onError:  cfg.Hooks.OnReloadError,
		now:      time.Now,
	}
	if err := r.Reload(); err != nil {
		return nil, err
	}
	r.lastCheck = r.now()
	return r, nil
}

// Reload reads the files now. If any cannot be read or parsed, or the key
// does not match the certificate, the previous certificate and pool stay
// in use and the error (wrapping [ErrCertificate]) is returned.
func (r *CertReloader) Reload() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.reloadLocked()
}

func (r *CertReloader) reloadLocked() error {
	var l loaded
	var err error
	files := [3]string{r.certFile, r.keyFile, r.caFile}
	for i, f := range files {
		if f == "" {
			continue
		}
		if l.stamps[i], err = stamp(f); err != nil {
			return fmt.Errorf("%w: %w", ErrCertificate, err)
		}
	}
	cert, err := tls.LoadX509KeyPair(r.certFile, r.keyFile)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrCertificate, err)
	}
	l.cert = &cert
	if r.caFile != "" {
		pem, err := os.ReadFile(r.caFile)
		if err != nil {
			return fmt.Errorf("%w: %w", ErrCertificate, err)
		}
		l.pool = x509.NewCertPool()
		if !l.pool.AppendCertsFromPEM(pem) {
			return fmt.Errorf("%w: no certificate in %s", ErrCertificate, r.caFile)
		}
	}
	l.server = &tls.Config{
		MinVersion:   tls.VersionTLS12,
		Certificates: []tls.Certificate{cert},
	}
	if l.pool != nil {
		l.server.ClientCAs = l.pool
		l.server.ClientAuth = tls.RequireAndVerifyClientCert
	}
	r.cur.Store(&l)
	return nil
}

func stamp(name string) (fileStamp, error) {
	fi, err := os.Stat(name)
	if err != nil {
		return fileStamp{}, err
	}
	return fileStamp{mod: fi.ModTime(), size: fi.Size()}, nil
}

// maybeReload reloads if the check interval has passed and a file changed.
func (r *CertReloader) maybeReload() {
	if r.interval < 0 {
		return
	}
	if err := r.checkFiles(); err != nil && r.onError != nil {
		r.onError(err) // outside the lock
	}
}

// checkFiles reloads if the check interval has passed and a file changed,
// and returns the reload's error.
func (r *CertReloader) checkFiles() error {
	now := r.now()
	r.mu.Lock()
	defer r.mu.Unlock()
	if now.Sub(r.lastCheck) < r.interval {
		return nil
	}
	r.lastCheck = now
	cur := r.cur.Load()
	for i, f := range [3]string{r.certFile, r.keyFile, r.caFile} {
		if f == "" {
			continue
		}
		if s, err := stamp(f); err != nil || s != cur.stamps[i] {
			return r.reloadLocked()
		}
	}
	return nil
}

// Certificate returns the certificate in use, after checking the files if
// the check interval has passed.
func (r *CertReloader) Certificate() *tls.Certificate {
	r.maybeReload()
	return r.cur.Load().cert
}

// ServerConfig returns a server TLS configuration (TLS 1.2 or later) whose
// every handshake uses the current certificate and, when a CA file was
// given, requires a client certificate that chains to the current CA pool.
// The returned config may be further adjusted (NextProtos, cipher suites)
// before use; those settings are kept.
func (r *CertReloader) ServerConfig() *tls.Config {
	base := &tls.Config{MinVersion: tls.VersionTLS12}
	base.GetConfigForClient = func(*tls.ClientHelloInfo) (*tls.Config, error) {
		r.maybeReload()
		l := r.cur.Load()
		c := base.Clone()
		c.GetConfigForClient = nil
		c.Certificates = l.server.Certificates
		if l.pool != nil {
			c.ClientCAs = l.pool
			c.ClientAuth = tls.RequireAndVerifyClientCert
		}
		return c, nil
	}
	return base
}

// ClientConfig returns a client TLS configuration (TLS 1.2 or later) that
// presents the current certificate at every handshake and, when a CA file
// was given, trusts the CA pool loaded at the time of this call (build a
// new config to trust a rotated CA). serverName, if not empty, is the name
// the server's certificate must carry; otherwise the dialled host is used.
func (r *CertReloader) ClientConfig(serverName string) *tls.Config {
	return &tls.Config{
		MinVersion: tls.VersionTLS12,
		ServerName: serverName,
		RootCAs:    r.cur.Load().pool,
		GetClientCertificate: func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
			return r.Certificate(), nil
		},
	}
}
