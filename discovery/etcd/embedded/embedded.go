package embedded

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"strconv"
	"sync"

	"go.etcd.io/etcd/server/v3/embed"
	"go.uber.org/zap"
)

// ErrNotReady is returned by [Start] when the server did not become ready
// before the context ended.
var ErrNotReady = errors.New("embedded: etcd did not become ready")

// ErrConfig is wrapped by the error [Start] returns for an invalid argument
// or [Config] field: an empty data directory, a client or peer address
// that is not host:port with a port from 0 to 65535, or [TLSFiles] with a
// file missing, unreadable or not holding what it should.
var ErrConfig = errors.New("embedded: invalid configuration")

// Config configures [Start]. Its zero value is a quiet server named
// "switchyard" that fsyncs its writes, with its peer listener on a free
// port.
type Config struct {
	// Logger receives the server's logs. Nil (the default) discards them.
	Logger *zap.Logger

	// PeerAddr is the host:port of the peer (raft) listener; port 0
	// picks a free port. Empty (the default) is a free port on the client
	// address's host. A single node never talks to peers, but etcd still
	// binds the port.
	PeerAddr string

	// Name is the member name. Empty (the default) is "switchyard". A
	// data directory remembers its member name: restart on the same
	// directory with the same name.
	Name string

	// UnsafeNoFsync turns off fsync. Writes get faster and a crash of the
	// machine may lose recent ones: suitable for throwaway test data
	// only. False (the default) keeps fsync on.
	UnsafeNoFsync bool

	// Adjust, if not nil, changes etcd's configuration after Start has
	// filled it in and before the server starts: quotas, snapshot counts,
	// TLS, or timing. For example, a TickMs of 50 and an ElectionMs of 500
	// lower etcd's minimum lease TTL (1.5 election timeouts, rounded up to
	// whole seconds) from 2 s to 1 s. Changing the URLs, the data
	// directory or the logger here is possible but bypasses Start's
	// checks. Nil (the default) changes nothing.
	Adjust func(*embed.Config)

	// TLS, if not nil, makes the server speak TLS (1.3 at least) on its
	// client and peer listeners and require a client certificate: a
	// connection without one, or with one that does not chain to
	// TLS.CAFile or has expired, is refused during the handshake, before
	// any request is read. [Server.Endpoints] then returns https:// URLs.
	// The certificate and key files are read again for every new
	// connection, so a renewed certificate written over them is served
	// without a restart (replace the file by renaming a new one over it,
	// so that no handshake reads half a file); the CA file is read once,
	// when the server starts. Nil (the default) serves plain HTTP.
	TLS *TLSFiles
}

// TLSFiles names the PEM files of the server's TLS identity, for
// [Config].TLS. Start checks that each file exists and holds what it
// should, and fails with an error wrapping [ErrConfig] otherwise.
type TLSFiles struct {
	// CertFile holds the server's certificate, followed by any
	// intermediate CA certificates. It may be the same file as KeyFile
	// (the certificates and the key in one file, which lets a renewal
	// replace both at once). The certificate needs the server's host (the
	// client address's IP or DNS name) among its subject alternative
	// names for clients that check it, and the client-auth key usage too
	// if etcd's HTTP/JSON gateway is used, because etcd presents it when
	// the gateway calls the gRPC server.
	CertFile string

	// KeyFile holds the certificate's private key.
	KeyFile string

	// CAFile holds the CA certificates that clients' certificates must
	// chain to (one or more, PEM, nothing else).
	CAFile string
}

// Server is a running single-node etcd, made by [Start]. Its methods are
// safe for concurrent use.
type Server struct {
	etcd      *embed.Etcd
	endpoints []string
	peerURL   string

	closeOnce sync.Once
}

// Start runs an etcd server that keeps its data in dir (created if missing;
// an existing directory is reused, so a restart keeps the registry's
// contents) and serves clients on clientAddr (host:port, over plain HTTP
// or, with cfg.TLS, over TLS with client certificates required; port 0
// picks a free port), configured by cfg (its zero value is the
// defaults documented on [Config]). An empty dir or a malformed address is
// an error wrapping [ErrConfig]. Start returns once the server is ready to
// serve or ctx ends, in which case the server is shut down and the error
// wraps [ErrNotReady].
//
// Close the returned server to stop it; Close blocks until every listener
// and goroutine of etcd has stopped.
func Start(ctx context.Context, dir, clientAddr string, cfg Config) (*Server, error) {
	if dir == "" {
		return nil, fmt.Errorf("embedded: %w: empty data directory", ErrConfig)
	}
	host, err := checkAddr("client", clientAddr)
	if err != nil {
		return nil, err
	}
	peerAddr := cfg.PeerAddr
	if peerAddr == "" {
		peerAddr = net.JoinHostPort(host, "0")
	} else if _, err := checkAddr("peer", peerAddr); err != nil {
		return nil, err
	}
	if cfg.TLS != nil {
		if err := cfg.TLS.check(); err != nil {
			return nil, err
		}
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrNotReady, err)
	}
	logger := cfg.Logger
	if logger == nil {
		logger = zap.NewNop()
	}
	name := cfg.Name
	if name == "" {
		name = "switchyard"
	}
	clientAddr, err = concrete(clientAddr)
	if err != nil {
		return nil, err
	}
	peerAddr, err = concrete(peerAddr)
	if err != nil {
		return nil, err
	}
	scheme := "http"
	if cfg.TLS != nil {
		scheme = "https"
	}
	curl := url.URL{Scheme: scheme, Host: clientAddr}
	purl := url.URL{Scheme: scheme, Host: peerAddr}

	ec := embed.NewConfig()
	ec.Name = name
	ec.Dir = dir
	ec.ListenClientUrls = []url.URL{curl}
	ec.AdvertiseClientUrls = []url.URL{curl}
	ec.ListenPeerUrls = []url.URL{purl}
	ec.AdvertisePeerUrls = []url.URL{purl}
	ec.InitialCluster = ec.InitialClusterFromName(ec.Name)
	ec.Logger = "zap"
	ec.LogLevel = "error"
	ec.ZapLoggerBuilder = embed.NewZapLoggerBuilder(logger)
	ec.UnsafeNoFsync = cfg.UnsafeNoFsync
	// Restarting on the same ports right after Close must not fail on
	// sockets still in TIME_WAIT.
	ec.SocketOpts.ReuseAddress = true
	ec.Metrics = "basic"
	if t := cfg.TLS; t != nil {
		// etcd reads CertFile and KeyFile at every handshake (its
		// GetCertificate) and TrustedCAFile once, when a listener starts.
		ec.ClientTLSInfo.CertFile = t.CertFile
		ec.ClientTLSInfo.KeyFile = t.KeyFile
		ec.ClientTLSInfo.TrustedCAFile = t.CAFile
		ec.ClientTLSInfo.ClientCertAuth = true
		// A single node never dials a peer, but etcd binds the peer
		// port and serves raft and membership on it: it gets the same
		// guard as the client port.
		ec.PeerTLSInfo = ec.ClientTLSInfo
		ec.TlsMinVersion = "TLS1.3"
	}
	if cfg.Adjust != nil {
		cfg.Adjust(ec)
	}

	e, err := embed.StartEtcd(ec)
	if err != nil {
		return nil, fmt.Errorf("embedded: start etcd in %s: %w", dir, err)
	}
	select {
	case <-e.Server.ReadyNotify():
	case err := <-e.Err():
		e.Close()
		return nil, fmt.Errorf("embedded: etcd failed while starting: %w", err)
	case <-ctx.Done():
		e.Close()
		return nil, fmt.Errorf("%w: %w", ErrNotReady, ctx.Err())
	}
	return &Server{
		etcd:      e,
		endpoints: []string{curl.String()},
		peerURL:   purl.String(),
	}, nil
}

// Endpoints returns the client URLs to give to an etcd client, e.g.
// ["http://127.0.0.1:2379"], or ["https://127.0.0.1:2379"] with
// [Config].TLS: the scheme that makes clientv3 use the TLS configuration
// it is given (it drops TLS for an http:// endpoint). The slice is a copy.
func (s *Server) Endpoints() []string {
	return append([]string(nil), s.endpoints...)
}

// Addr returns the client address as host:port.
func (s *Server) Addr() string {
	u, _ := url.Parse(s.endpoints[0])
	return u.Host
}

// Err returns a channel that receives an error if the server fails after
// it started. It is never closed by a clean Close.
func (s *Server) Err() <-chan error { return s.etcd.Err() }

// Close stops the server and waits until it has released its ports, its
// data directory and its goroutines. It is safe to call more than once.
func (s *Server) Close() error {
	s.closeOnce.Do(s.etcd.Close)
	return nil
}

// checkAddr checks that addr, the named listener's address, is host:port
// with a port from 0 to 65535, and returns its host.
func checkAddr(which, addr string) (string, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "", fmt.Errorf("embedded: %w: %s address %q: %w", ErrConfig, which, addr, err)
	}
	if p, err := strconv.Atoi(port); err != nil || p < 0 || p > 65535 {
		return "", fmt.Errorf("embedded: %w: %s address %q: bad port", ErrConfig, which, addr)
	}
	return host, nil
}

// concrete replaces a zero port in addr, already checked by checkAddr, with
// a free one, because etcd advertises the URLs it listens on and must know
// the real port up front.
func concrete(addr string) (string, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "", fmt.Errorf("embedded: address %q: %w", addr, err)
	}
	if p, _ := strconv.Atoi(port); p != 0 {
		return addr, nil
	}
	l, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
	if err != nil {
		return "", fmt.Errorf("embedded: find a free port on %s: %w", host, err)
	}
	defer l.Close()
	return l.Addr().String(), nil
}

// check reads the files and returns an error wrapping ErrConfig, naming
// the field at fault, if one is missing or does not parse.
func (f *TLSFiles) check() error {
	for _, v := range []struct{ field, file string }{{"CertFile", f.CertFile}, {"KeyFile", f.KeyFile}, {"CAFile", f.CAFile}} {
		if v.file == "" {
			return fmt.Errorf("embedded: %w: TLS.%s is empty", ErrConfig, v.field)
		}
	}
	if _, err := tls.LoadX509KeyPair(f.CertFile, f.KeyFile); err != nil {
		return fmt.Errorf("embedded: %w: TLS.CertFile %s with TLS.KeyFile %s: %w", ErrConfig, f.CertFile, f.KeyFile, err)
	}
	if err := checkCAs(f.CAFile); err != nil {
		return fmt.Errorf("embedded: %w: TLS.CAFile %s: %w", ErrConfig, f.CAFile, err)
	}
	return nil
}

// checkCAs reports whether file holds one or more PEM certificates and
// nothing else, which is what etcd's loader accepts.
func checkCAs(file string) error {
	rest, err := os.ReadFile(file)
	if err != nil {
		return err
	}
	n := 0
	for {
		var b *pem.Block
		b, rest = pem.Decode(rest)
		if b == nil {
			break
		}
		if b.Type != "CERTIFICATE" {
			return fmt.Errorf("holds a %s block; it must hold certificates only", b.Type)
		}
		if _, err := x509.ParseCertificate(b.Bytes); err != nil {
			return err
		}
		n++
	}
	if n == 0 {
		return errors.New("holds no PEM certificate")
	}
	return nil
}
