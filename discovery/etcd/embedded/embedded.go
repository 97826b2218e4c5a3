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
	"strings"
	"sync"

	"go.etcd.io/etcd/server/v3/embed"
	"go.uber.org/zap"
)

// ErrNotReady is returned by [Start] when the server did not become ready
// before the context ended.
var ErrNotReady = errors.New("embedded: etcd did not become ready")

// ErrConfig is wrapped by the error [Start] returns for an invalid argument
// or [Config] field: an empty data directory, a client or peer address
// that is not host:port with a port from 0 to 65535, an InitialCluster or
// InitialClusterState that etcd would refuse, or [TLSFiles] with a file
// missing, unreadable or not holding what it should.
var ErrConfig = errors.New("embedded: invalid configuration")

// Cluster states for [Config].InitialClusterState, as etcd names them.
const (
	// StateNew forms a new cluster with the other members of
	// InitialCluster, started at about the same time.
	StateNew = "new"
	// StateExisting joins a running cluster that already lists this
	// member (added with etcd's member API, e.g. "etcdctl member add").
	StateExisting = "existing"
)

// Config configures [Start]. Its zero value is a quiet single-node server
// named "switchyard" that fsyncs its writes, with its peer listener on a
// free port.
type Config struct {
	// Logger receives the server's logs. Nil (the default) discards them.
	Logger *zap.Logger

	// PeerAddr is the host:port of the peer (raft) listener; port 0
	// picks a free port. Empty (the default) is a free port on the client
	// address's host, or with InitialCluster the host:port of this
	// member's peer URL there. A single node never talks to peers, but
	// etcd still binds the port. In a cluster PeerAddr is where the
	// member listens (0.0.0.0:2380, say) and its URL in InitialCluster is
	// what the others dial; port 0 is then an error, since the others
	// could not know the port.
	PeerAddr string

	// InitialCluster lists the members of the cluster this server forms
	// or joins, in etcd's --initial-cluster form: name=peerURL pairs
	// separated by commas, such as
	// "a=https://10.0.0.1:2380,b=https://10.0.0.2:2380,c=https://10.0.0.3:2380".
	// It must hold this member's Name, once, with one peer URL; every URL
	// is https:// with TLS and http:// without, with a host and a
	// non-zero port. Empty (the default) is a cluster of this server
	// alone. Like etcd, a member whose data directory already holds data
	// knows its cluster and ignores InitialCluster and InitialClusterState.
	InitialCluster string

	// InitialClusterState is [StateNew] to form a new cluster from the
	// members of InitialCluster, or [StateExisting] to join a running
	// one, which must already list this member with the peer URL given
	// in InitialCluster. Empty (the default) is StateNew. StateExisting
	// needs InitialCluster.
	InitialClusterState string

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

// Server is a running etcd server (a single node or a member of a
// cluster), made by [Start]. Its methods are safe for concurrent use.
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
	scheme := "http"
	if cfg.TLS != nil {
		scheme = "https"
	}
	name := cfg.Name
	if name == "" {
		name = "switchyard"
	}
	state := cfg.InitialClusterState
	switch state {
	case "":
		state = StateNew
	case StateNew, StateExisting:
	default:
		return nil, fmt.Errorf("%w: InitialClusterState %q: want %q or %q", ErrConfig, state, StateNew, StateExisting)
	}
	// advertised is this member's peer URL in InitialCluster; empty for a
	// single node, which advertises the address it listens on.
	var advertised string
	if cfg.InitialCluster != "" {
		if advertised, err = CheckInitialCluster(cfg.InitialCluster, name, cfg.TLS != nil); err != nil {
			return nil, err
		}
	} else if state == StateExisting {
		return nil, fmt.Errorf("%w: InitialClusterState %q needs InitialCluster (the running members and this one)", ErrConfig, state)
	}
	peerAddr := cfg.PeerAddr
	switch {
	case peerAddr == "" && advertised != "":
		u, _ := url.Parse(advertised) // memberURL checked it
		peerAddr = u.Host
	case peerAddr == "":
		peerAddr = net.JoinHostPort(host, "0")
	default:
		if _, err := checkAddr("peer", peerAddr); err != nil {
			return nil, err
		}
		if _, port, _ := net.SplitHostPort(peerAddr); advertised != "" && port == "0" {
			return nil, fmt.Errorf("%w: peer address %q has port 0, but the other members of InitialCluster dial %s", ErrConfig, peerAddr, advertised)
		}
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
	clientAddr, err = concrete(clientAddr)
	if err != nil {
		return nil, err
	}
	peerAddr, err = concrete(peerAddr)
	if err != nil {
		return nil, err
	}
	curl := url.URL{Scheme: scheme, Host: clientAddr}
	purl := url.URL{Scheme: scheme, Host: peerAddr}
	apurl := purl
	if advertised != "" {
		u, _ := url.Parse(advertised)
		apurl = *u
	}

	ec := embed.NewConfig()
	ec.Name = name
	ec.Dir = dir
	ec.ListenClientUrls = []url.URL{curl}
	ec.AdvertiseClientUrls = []url.URL{curl}
	ec.ListenPeerUrls = []url.URL{purl}
	ec.AdvertisePeerUrls = []url.URL{apurl}
	ec.InitialCluster = ec.InitialClusterFromName(ec.Name)
	if cfg.InitialCluster != "" {
		ec.InitialCluster = cfg.InitialCluster
	}
	ec.ClusterState = state
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
		// Peers use the same identity both ways: a member presents its
		// certificate when it dials another and requires one, chaining
		// to the same CA, from members that dial it. (A single node never
		// dials a peer, but etcd binds the peer port and serves raft and
		// membership on it: it gets the same guard as the client port.)
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
		peerURL:   apurl.String(),
	}, nil
}

// PeerURL returns the URL other members dial to reach this one: its URL
// in [Config].InitialCluster, or for a single node the peer address it
// listens on, e.g. "http://127.0.0.1:2380".
func (s *Server) PeerURL() string { return s.peerURL }

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
// data directory and its goroutines. A leader of a cluster first hands its
// leadership to the follower it has been connected to longest, so the
// cluster has a new leader within milliseconds rather than after an
// election. It is safe to call more than once.
func (s *Server) Close() error {
	s.closeOnce.Do(func() {
		// etcd's own Close hands the leadership over too, but only after
		// its client listeners have drained, which open watch and
		// keep-alive streams make last up to its request timeout (7 s):
		// meanwhile the leader is a process on its way out. Hand it over
		// first. A single node, or a follower, skips this at once; an
		// error leaves etcd's Close to try again.
		_ = s.etcd.Server.TryTransferLeadershipOnShutdown()
		s.etcd.Close()
	})
	return nil
}

// CheckInitialCluster checks cluster, a [Config].InitialCluster, as
// [Start] does for the member called name (with TLS when useTLS is set),
// and returns that member's peer URL. An error wraps [ErrConfig] and
// names the fault. Programs that take the list from a flag can check it
// before they start anything.
func CheckInitialCluster(cluster, name string, useTLS bool) (string, error) {
	scheme := "http"
	if useTLS {
		scheme = "https"
	}
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: InitialCluster %q: %s", ErrConfig, cluster, fmt.Sprintf(format, args...))
	}
	var own []string
	seen := make(map[string]bool)
	for _, pair := range strings.Split(cluster, ",") {
		n, raw, ok := strings.Cut(pair, "=")
		if !ok || n == "" {
			return "", bad("%q is not name=URL", pair)
		}
		u, err := url.Parse(raw)
		if err != nil {
			return "", bad("member %s: %v", n, err)
		}
		if u.Scheme != scheme {
			return "", bad("member %s has a %s:// URL; this server speaks %s (%s:// URLs) to its peers", n, u.Scheme, scheme, scheme)
		}
		if u.Path != "" || u.RawQuery != "" || u.User != nil {
			return "", bad("member %s: %q must be %s://host:port and nothing more", n, raw, scheme)
		}
		if _, port, err := net.SplitHostPort(u.Host); err != nil || port == "0" {
			return "", bad("member %s: %q needs a host and a non-zero port", n, raw)
		}
		if seen[u.Host] {
			return "", bad("%s is listed twice", u.Host)
		}
		seen[u.Host] = true
		if n == name {
			own = append(own, u.String())
		}
	}
	switch len(own) {
	case 0:
		return "", bad("it does not list this member, %q", name)
	case 1:
		return own[0], nil
	default:
		return "", bad("it gives this member, %q, %d URLs; give it one", name, len(own))
	}
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
