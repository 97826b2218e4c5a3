package gateway

import (
	"crypto/tls"
	"fmt"
	"net/http"
	"os"
	"sync"
	"time"
)

// HSTS is the Strict-Transport-Security header the gateway sends when it
// serves HTTPS: browsers keep to HTTPS for a year. It names no
// subdomains, which the shop cannot speak for.
const HSTS = "max-age=31536000"

// publicCert serves the public listener's certificate from its files and
// reloads them when they change (a renewal by certbot or cert-manager),
// looking at most every publicCheckInterval, on the handshake path; a
// failed reload keeps the certificate in use.
type publicCert struct {
	certFile, keyFile string

	mu        sync.Mutex // guards the fields below
	cert      *tls.Certificate
	stamp     [2]time.Time
	lastCheck time.Time
}

const publicCheckInterval = 10 * time.Second

func newPublicCert(certFile, keyFile string) (*publicCert, error) {
	p := &publicCert{certFile: certFile, keyFile: keyFile}
	if err := p.load(); err != nil {
		return nil, err
	}
	p.lastCheck = time.Now()
	return p, nil
}

func (p *publicCert) load() error {
	var stamp [2]time.Time
	for i, f := range []string{p.certFile, p.keyFile} {
		fi, err := os.Stat(f)
		if err != nil {
			return fmt.Errorf("gateway: public certificate: %w", err)
		}
		stamp[i] = fi.ModTime()
	}
	cert, err := tls.LoadX509KeyPair(p.certFile, p.keyFile)
	if err != nil {
		return fmt.Errorf("gateway: public certificate: %w", err)
	}
	p.cert, p.stamp = &cert, stamp
	return nil
}

func (p *publicCert) get(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if now := time.Now(); now.Sub(p.lastCheck) >= publicCheckInterval {
		p.lastCheck = now
		for i, f := range []string{p.certFile, p.keyFile} {
			if fi, err := os.Stat(f); err == nil && !fi.ModTime().Equal(p.stamp[i]) {
				_ = p.load() // on failure the certificate in use stays
				break
			}
		}
	}
	return p.cert, nil
}

// publicTLS returns the public listener's TLS configuration: TLS 1.2 or
// later (browsers and tools that cannot do 1.3 still exist at the edge,
// unlike inside the shop), HTTP/2 and HTTP/1.1.
func publicTLS(certFile, keyFile string) (*tls.Config, error) {
	p, err := newPublicCert(certFile, keyFile)
	if err != nil {
		return nil, err
	}
	return &tls.Config{
		MinVersion:     tls.VersionTLS12,
		GetCertificate: p.get,
		NextProtos:     []string{"h2", "http/1.1"},
	}, nil
}

// withHSTS adds [HSTS] to every answer.
func withHSTS(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Strict-Transport-Security", HSTS)
		next.ServeHTTP(w, r)
	})
}
