package pki_test

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"log/slog"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/switchyard/switchyard/examples/ecommerce/internal/pki"
)

// logBuffer collects log lines written from any goroutine.
type logBuffer struct {
	mu sync.Mutex // guards b
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func (l *logBuffer) logger() *slog.Logger { return slog.New(slog.NewTextHandler(l, nil)) }

var quiet = slog.New(slog.DiscardHandler)

// fakeClock is a settable clock for pki.WithNow.
type fakeClock struct {
	mu  sync.Mutex // guards now
	now time.Time
}

func newClock() *fakeClock {
	return &fakeClock{now: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = t
}

func open(t *testing.T, dir string, cfg pki.Config) *pki.Authority {
	t.Helper()
	if cfg.Logger == nil {
		cfg.Logger = quiet
	}
	a, err := pki.Open(dir, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func issue(t *testing.T, a *pki.Authority, service string) pki.Files {
	t.Helper()
	f, err := a.Issue(service)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// leafOf loads the certificate and key in path and returns the leaf.
func leafOf(t *testing.T, path string) *x509.Certificate {
	t.Helper()
	pair, err := tls.LoadX509KeyPair(path, path)
	if err != nil {
		t.Fatal(err)
	}
	return pair.Leaf
}

func roots(t *testing.T, caFile string) *x509.CertPool {
	t.Helper()
	b, err := os.ReadFile(caFile)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(b) {
		t.Fatalf("no certificate in %s", caFile)
	}
	return pool
}

func needsRenewal(t *testing.T, a *pki.Authority, service string) bool {
	t.Helper()
	renew, err := a.NeedsRenewal(service)
	if err != nil {
		t.Fatal(err)
	}
	return renew
}

func readFile(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
