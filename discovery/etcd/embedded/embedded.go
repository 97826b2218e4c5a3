package embedded

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"sync"

	"go.etcd.io/etcd/server/v3/embed"
	"go.uber.org/zap"
)

// ErrNotReady is returned by [Start] when the server did not become ready
// before the context ended.
var ErrNotReady = errors.New("embedded: etcd did not become ready")

// Option configures [Start].
type Option func(*settings)

type settings struct {
	tweak    func(*embed.Config)
	logger   *zap.Logger
	peerAddr string
	noFsync  bool
	name     string
}

// WithLogger sends the server's logs to l. The default discards them.
func WithLogger(l *zap.Logger) Option {
	return func(s *settings) {
		if l != nil {
			s.logger = l
		}
	}
}

// WithPeerAddr sets the host:port of the peer (raft) listener. The default
// is a free port on the client address's host. A single node never talks to
// peers, but etcd still binds the port.
func WithPeerAddr(addr string) Option {
	return func(s *settings) { s.peerAddr = addr }
}

// WithName sets the member name. The default is "switchyard". A data
// directory remembers its member name: restart on the same directory with
// the same name.
func WithName(name string) Option {
	return func(s *settings) {
		if name != "" {
			s.name = name
		}
	}
}

// WithUnsafeNoFsync turns off fsync. Writes get faster and a crash of the
// machine may lose recent ones: suitable for throwaway test data only. The
// default keeps fsync on.
func WithUnsafeNoFsync() Option {
	return func(s *settings) { s.noFsync = true }
}

// WithConfig lets f adjust etcd's configuration after Start has filled it
// in and before the server starts: quotas, snapshot counts, TLS, or timing.
// For example, a TickMs of 50 and an ElectionMs of 500 lower etcd's
// minimum lease TTL (1.5 election timeouts, rounded up to whole seconds)
// from 2 s to 1 s. Changing the URLs, the data directory or the logger
// here is possible but bypasses Start's checks.
func WithConfig(f func(*embed.Config)) Option {
	return func(s *settings) { s.tweak = f }
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
// contents) and serves clients on clientAddr (host:port over plain HTTP;
// port 0 picks a free port). It returns once the server is ready to serve
// or ctx ends, in which case the server is shut down and the error wraps
// [ErrNotReady].
//
// Close the returned server to stop it; Close blocks until every listener
// and goroutine of etcd has stopped.
func Start(ctx context.Context, dir, clientAddr string, opts ...Option) (*Server, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrNotReady, err)
	}
	s := settings{logger: zap.NewNop(), name: "switchyard"}
	for _, o := range opts {
		o(&s)
	}
	host, _, err := net.SplitHostPort(clientAddr)
	if err != nil {
		return nil, fmt.Errorf("embedded: client address %q: %w", clientAddr, err)
	}
	clientAddr, err = concrete(clientAddr)
	if err != nil {
		return nil, err
	}
	if s.peerAddr == "" {
		s.peerAddr = net.JoinHostPort(host, "0")
	}
	peerAddr, err := concrete(s.peerAddr)
	if err != nil {
		return nil, err
	}
	curl := url.URL{Scheme: "http", Host: clientAddr}
	purl := url.URL{Scheme: "http", Host: peerAddr}

	cfg := embed.NewConfig()
	cfg.Name = s.name
	cfg.Dir = dir
	cfg.ListenClientUrls = []url.URL{curl}
	cfg.AdvertiseClientUrls = []url.URL{curl}
	cfg.ListenPeerUrls = []url.URL{purl}
	cfg.AdvertisePeerUrls = []url.URL{purl}
	cfg.InitialCluster = cfg.InitialClusterFromName(cfg.Name)
	cfg.Logger = "zap"
	cfg.LogLevel = "error"
	cfg.ZapLoggerBuilder = embed.NewZapLoggerBuilder(s.logger)
	cfg.UnsafeNoFsync = s.noFsync
	// Restarting on the same ports right after Close must not fail on
	// sockets still in TIME_WAIT.
	cfg.SocketOpts.ReuseAddress = true
	cfg.Metrics = "basic"
	if s.tweak != nil {
		s.tweak(cfg)
	}

	e, err := embed.StartEtcd(cfg)
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
// ["http://127.0.0.1:2379"]. The slice is a copy.
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

// concrete replaces a zero port in addr with a free one, because etcd
// advertises the URLs it listens on and must know the real port up front.
func concrete(addr string) (string, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "", fmt.Errorf("embedded: address %q: %w", addr, err)
	}
	if p, err := strconv.Atoi(port); err != nil || p < 0 || p > 65535 {
		return "", fmt.Errorf("embedded: address %q: bad port", addr)
	} else if p != 0 {
		return addr, nil
	}
	l, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
	if err != nil {
		return "", fmt.Errorf("embedded: find a free port on %s: %w", host, err)
	}
	defer l.Close()
	return l.Addr().String(), nil
}
