package launcher

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/switchyard/switchyard/discovery/etcd"
	"github.com/switchyard/switchyard/discovery/etcd/embedded"
	"github.com/switchyard/switchyard/examples/ecommerce/internal/pki"
	"github.com/switchyard/switchyard/examples/ecommerce/internal/settings"
	"github.com/switchyard/switchyard/mtls"
)

// identities are the names the development CA issues certificates to:
// every child, the registry, the launcher itself and the loadgen.
func identities() []string {
	return append(slices.Clone(Services), GatewayService, RegistryService, ControlService, LoadgenService)
}

// IdentityFiles returns the files of name's certificate from the
// development CA of the shop whose data directory is data: the
// certificate followed by its key in DATA/PKIDir/NAME.pem, and the CA's
// certificate in DATA/PKIDir/ca.pem — the layout package internal/pki
// documents. It only builds the names; the files exist once "up" has run
// on data. The loadgen and tests use it to act as one of the shop's
// identities.
func IdentityFiles(data, name string) settings.TLSFiles {
	dir := filepath.Join(data, PKIDir)
	leaf := filepath.Join(dir, name+".pem")
	return settings.TLSFiles{Cert: leaf, Key: leaf, CA: filepath.Join(dir, pki.CAFile)}
}

// shopTLS is the shop's transport security as the launcher sets it up.
type shopTLS struct {
	authority *pki.Authority
	files     map[string]pki.Files // by identity
	// self is the launcher's own identity: its registry client and the
	// chaos control API.
	self *mtls.Source

	// publicCert and publicKey are the gateway's public certificate and
	// key files, or "" for plain HTTP.
	publicCert, publicKey string
	// publicRoots verify the gateway's public certificate during the
	// readiness wait: the self-signed certificate itself. Nil with a
	// certificate given by flag (see readinessClient).
	publicRoots *x509.CertPool
}

// setUpTLS opens (or creates) the development CA in DATA/PKIDir, makes
// sure every identity has a valid certificate, loads the launcher's own,
// and prepares the public certificate.
func (l *launcher) setUpTLS() error {
	dir := filepath.Join(l.cfg.Data, PKIDir)
	a, err := pki.Open(dir, pki.Config{Lifetime: l.cfg.CertLifetime, Logger: l.log})
	if err != nil {
		return fmt.Errorf("launcher: the development CA: %w", err)
	}
	t := &shopTLS{authority: a, files: map[string]pki.Files{}}
	for _, name := range identities() {
		f, err := a.Ensure(name)
		if err != nil {
			return fmt.Errorf("launcher: certificate of %s: %w", name, err)
		}
		t.files[name] = f
	}
	own := t.files[ControlService]
	t.self, err = mtls.New(mtls.Config{
		CertFile: own.Cert, KeyFile: own.Key, CAFile: own.CA,
		Hooks: mtls.Hooks{OnReloadError: func(err error) {
			l.log.Error("launcher: reloading its certificate failed; the previous one stays in use", "err", err)
		}},
	})
	if err != nil {
		return fmt.Errorf("launcher: its own certificate: %w", err)
	}

	switch {
	case l.cfg.PublicTLSSelfSigned:
		// The certificate names the loopback addresses and, when --addr
		// names a host, that host too, so that the readiness wait (which
		// dials it) and a browser on another machine can both check it
		// against the file.
		var hosts []string
		if host, _, _ := net.SplitHostPort(l.gateway); host != "" {
			hosts = append(hosts, host)
		}
		t.publicCert, t.publicKey, err = pki.SelfSigned(dir, hosts)
		if err != nil {
			return fmt.Errorf("launcher: --public-tls-self-signed: %w", err)
		}
		pem, err := os.ReadFile(t.publicCert)
		if err != nil {
			return fmt.Errorf("launcher: --public-tls-self-signed: %w", err)
		}
		t.publicRoots = x509.NewCertPool()
		if !t.publicRoots.AppendCertsFromPEM(pem) {
			return fmt.Errorf("launcher: --public-tls-self-signed: no certificate in %s", t.publicCert)
		}
	case l.cfg.PublicTLSCert != "":
		t.publicCert, t.publicKey = l.cfg.PublicTLSCert, l.cfg.PublicTLSKey
	}
	l.tls = t
	return nil
}

// registryTLS returns the embedded etcd's files: the registry's identity,
// client certificates from the shop's CA required.
func (t *shopTLS) registryTLS() *embedded.TLSFiles {
	f := t.files[RegistryService]
	return &embedded.TLSFiles{CertFile: f.Cert, KeyFile: f.Key, CAFile: f.CA}
}

// registryClient returns the launcher's etcd client: its own certificate
// presented, and the server accepted only if it holds the registry's
// identity.
func (t *shopTLS) registryClient(endpoints []string) (*clientv3.Client, error) {
	want, err := t.self.ServiceID(RegistryService)
	if err != nil {
		return nil, err
	}
	return etcd.NewClientTLS(t.self.ClientConfig(want), endpoints...)
}

// args returns the TLS flags of a child of service: its identity's files
// and, for the gateway, the public certificate.
func (t *shopTLS) args(service string) []string {
	f := t.files[service]
	args := []string{"--tls-cert", f.Cert, "--tls-key", f.Key, "--tls-ca", f.CA}
	if service == GatewayService && t.publicCert != "" {
		args = append(args, "--public-tls-cert", t.publicCert, "--public-tls-key", t.publicKey)
	}
	return args
}

// scheme is the gateway's URL scheme.
func (t *shopTLS) scheme() string {
	if t.publicCert != "" {
		return "https"
	}
	return "http"
}

// readinessClient returns the client of the readiness wait on the
// gateway's public listener.
func (t *shopTLS) readinessClient() *http.Client {
	tr := &http.Transport{Proxy: nil, DisableKeepAlives: true}
	switch {
	case t.publicRoots != nil:
		tr.TLSClientConfig = &tls.Config{RootCAs: t.publicRoots, MinVersion: tls.VersionTLS12}
	case t.publicCert != "":
		// A certificate given by flag is made for the names the shop is
		// reached by from outside, which the address dialled here (the
		// gateway child's own listener, on this machine) need not be,
		// and it may chain to a CA this process does not trust. The
		// wait only asks our own child whether it is ready — no secret
		// is sent, and the answer decides nothing but when to print the
		// banner — so it does not verify the certificate.
		tr.TLSClientConfig = &tls.Config{InsecureSkipVerify: true, MinVersion: tls.VersionTLS12}
	}
	return &http.Client{Timeout: time.Second, Transport: tr}
}

// renew runs the development CA's renewal loop for every identity until
// ctx ends, on a goroutine of its own; the returned function cancels it
// and waits for it. Children notice a renewed file at a later handshake
// (package mtls compares the files at most every 10 s) and etcd reads its
// certificate at every handshake, so nobody restarts.
func (t *shopTLS) renew(ctx context.Context) (stop func()) {
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Go(func() {
		_ = t.authority.Run(ctx, identities(), 0) // the names were checked by Ensure
	})
	return func() {
		cancel()
		wg.Wait()
	}
}

// tlsEnv are the environment variables of the TLS flags the launcher
// passes to its children itself: a child must not take another value
// from the launcher's environment when the launcher passes none.
var tlsEnv = func() []string {
	var vars []string
	for _, f := range []string{"tls-cert", "tls-key", "tls-ca", "public-tls-cert", "public-tls-key"} {
		vars = append(vars, settings.EnvName(f)+"=")
	}
	return vars
}()

// isTLSEnv reports whether kv sets one of tlsEnv.
func isTLSEnv(kv string) bool {
	return slices.ContainsFunc(tlsEnv, func(prefix string) bool { return strings.HasPrefix(kv, prefix) })
}
