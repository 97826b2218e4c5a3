package mtls_test

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"io"
	"log"
	"net"
	"net/http"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/switchyard/switchyard/identity"
	"github.com/switchyard/switchyard/mtls"
	"github.com/switchyard/switchyard/mtls/mtlstest"
)

const td = "shop.internal"

// svcID returns the ID of service in the trust domain td.
func svcID(t testing.TB, service string) identity.ID {
	t.Helper()
	id, err := identity.ForService(td, service)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// files names one workload's PEM files.
type files struct{ cert, key, ca string }

// writeFiles puts leaf and bundle into a directory of their own: the chain
// and key in one file when combined, in two otherwise.
func writeFiles(t testing.TB, leaf *mtlstest.Leaf, bundle []byte, combined bool) files {
	t.Helper()
	dir := t.TempDir()
	f := files{cert: filepath.Join(dir, "tls.crt"), key: filepath.Join(dir, "tls.key"), ca: filepath.Join(dir, "ca.pem")}
	if combined {
		f.cert = filepath.Join(dir, "tls.pem")
		f.key = f.cert
	}
	leaf.Write(f.cert, f.key)
	mtlstest.WriteFile(f.ca, bundle)
	return f
}

// newSource builds a Source on f, cfg's file names filled in, or fails.
func newSource(t testing.TB, f files, cfg mtls.Config) *mtls.Source {
	t.Helper()
	cfg.CertFile, cfg.KeyFile, cfg.CAFile = f.cert, f.key, f.ca
	s, err := mtls.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// workload issues ca's certificate for id and returns a Source on it that
// trusts bundle (ca's alone when nil).
func workload(t testing.TB, ca *mtlstest.CA, id identity.ID, bundle []byte, cfg mtls.Config) *mtls.Source {
	t.Helper()
	if bundle == nil {
		bundle = ca.PEM
	}
	return newSource(t, writeFiles(t, ca.Issue(id), bundle, true), cfg)
}

// seen is what the test server's handler saw of its caller.
type seen struct {
	ID     string `json:"id"`     // identity.FromRequest, "" for none
	Serial string `json:"serial"` // the client certificate's serial, "" for none
}

// server is a real HTTPS server on 127.0.0.1 whose handler counts its
// calls and answers with what it saw of the caller.
type server struct {
	URL   string
	calls atomic.Int64
}

func serve(t testing.TB, cfg *tls.Config) *server {
	t.Helper()
	s := &server{}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s.URL = "https://" + ln.Addr().String()
	srv := &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			s.calls.Add(1)
			var v seen
			if id, ok := identity.FromRequest(r); ok {
				v.ID = id.String()
			}
			if len(r.TLS.PeerCertificates) > 0 {
				v.Serial = r.TLS.PeerCertificates[0].SerialNumber.String()
			}
			json.NewEncoder(w).Encode(v)
		}),
		TLSConfig:         cfg,
		ReadHeaderTimeout: 5 * time.Second,
		ErrorLog:          log.New(io.Discard, "", 0), // refused handshakes are the point
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		srv.ServeTLS(ln, "", "")
	}()
	t.Cleanup(func() {
		srv.Shutdown(context.Background())
		<-done
	})
	return s
}

// answer is one request's outcome as the client saw it.
type answer struct {
	seen
	ServerSerial string // the server certificate's serial
	Proto        int
}

// get makes one request and returns what both sides saw, or the error.
func get(c *http.Client, url string) (answer, error) {
	resp, err := c.Get(url)
	if err != nil {
		return answer{}, err
	}
	defer resp.Body.Close()
	var a answer
	if err := json.NewDecoder(resp.Body).Decode(&a.seen); err != nil {
		return answer{}, err
	}
	a.ServerSerial = resp.TLS.PeerCertificates[0].SerialNumber.String()
	a.Proto = resp.ProtoMajor
	return a, nil
}

// newClient returns an HTTP client on a transport of its own with cfg,
// closed when the test ends. fresh makes every request shake hands anew.
func newClient(t testing.TB, cfg *tls.Config, fresh bool) *http.Client {
	t.Helper()
	tr := &http.Transport{TLSClientConfig: cfg, DisableKeepAlives: fresh}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr, Timeout: 10 * time.Second}
}

// presenting returns the TLS configuration of a client made by hand: it
// trusts servers of ca and presents leaf (none when nil) whatever the
// server asks for — crypto/tls would otherwise withhold a certificate
// whose issuer is not among the CAs the server names, and the server
// would only ever see an anonymous client.
func presenting(ca *mtlstest.CA, leaf *mtlstest.Leaf) *tls.Config {
	cfg := &tls.Config{RootCAs: mtlstest.Pool(ca)}
	if leaf != nil {
		cert := leaf.TLSCertificate()
		cfg.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return &cert, nil }
	}
	return cfg
}

// fakeClock is a settable clock for the check interval.
type fakeClock struct {
	mu sync.Mutex // guards t
	t  time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}
