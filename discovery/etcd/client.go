package etcd

import (
	"crypto/tls"
	"fmt"
	"net/url"
	"strings"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
	"google.golang.org/grpc"
	grpcbackoff "google.golang.org/grpc/backoff"
)

// ClientConfig returns a client configuration suited to service discovery
// for the given plaintext endpoints (e.g. "http://10.0.0.1:2379"). Pass it
// to clientv3.New, adding credentials as needed; for TLS use
// [ClientConfigTLS], which also puts the endpoints in the form that makes
// clientv3 use TLS.
//
// It differs from clientv3's defaults in three ways, each for a reason:
//
//   - the client logger discards everything: registrars and resolvers
//     report trouble through RegistrationErr and Update.Err instead of
//     printing retry warnings during an outage;
//   - dialing does not block (DialTimeout is zero), so a process can start
//     while etcd is down and its registrations heal once etcd is back;
//   - gRPC reconnects at least every second (the gRPC default backs off up
//     to two minutes), so registrations come back within about a second of
//     etcd's return. That bound is what lets a registrar re-register within
//     2 × TTL of an etcd restart.
func ClientConfig(endpoints ...string) clientv3.Config {
	return clientv3.Config{
		Endpoints: endpoints,
		Logger:    zap.NewNop(),
		// A dead connection (a partition that sends no RST) is noticed
		// within 13 s. etcd refuses pings more often than every 5 s.
		DialKeepAliveTime:    10 * time.Second,
		DialKeepAliveTimeout: 3 * time.Second,
		DialOptions: []grpc.DialOption{
			grpc.WithConnectParams(grpc.ConnectParams{
				Backoff: grpcbackoff.Config{
					BaseDelay:  50 * time.Millisecond,
					Multiplier: 1.6,
					Jitter:     0.2,
					MaxDelay:   time.Second,
				},
				MinConnectTimeout: 2 * time.Second,
			}),
		},
	}
}

// ClientConfigTLS returns [ClientConfig]'s settings for a cluster that
// speaks TLS: every connection is made with tlsCfg. Endpoints are
// host:port or https://host:port; a bare host:port is given the https
// scheme. An http:// endpoint, or any other scheme, is an error wrapping
// [ErrConfig], because clientv3 silently drops TLS for an http:// endpoint.
// A nil tlsCfg is an error wrapping ErrConfig too: call ClientConfig for
// plaintext.
//
// tlsCfg is used as it is; gRPC copies it when the client is built. To
// present a client certificate it sets Certificates or, so that a renewed
// certificate is used on the next connection, GetClientCertificate. When
// its ServerName is empty gRPC checks the server's certificate against the
// endpoint's host, so a certificate for a cluster reached at 127.0.0.1
// needs that IP address among its subject alternative names — unless
// tlsCfg verifies the server in a way of its own (VerifyConnection, as
// SPIFFE-style identities do).
func ClientConfigTLS(tlsCfg *tls.Config, endpoints ...string) (clientv3.Config, error) {
	if tlsCfg == nil {
		return clientv3.Config{}, fmt.Errorf("%w: nil TLS configuration (use ClientConfig for plaintext)", ErrConfig)
	}
	eps := make([]string, len(endpoints))
	for i, ep := range endpoints {
		u, err := tlsEndpoint(ep)
		if err != nil {
			return clientv3.Config{}, err
		}
		eps[i] = u
	}
	cfg := ClientConfig(eps...)
	cfg.TLS = tlsCfg
	return cfg, nil
}

// tlsEndpoint returns ep as an https:// URL, or an error if it names
// another scheme.
func tlsEndpoint(ep string) (string, error) {
	if !strings.Contains(ep, "://") {
		ep = "https://" + ep
	}
	u, err := url.Parse(ep)
	if err != nil {
		return "", fmt.Errorf("%w: endpoint %q: %w", ErrConfig, ep, err)
	}
	if u.Scheme != "https" || u.Host == "" {
		return "", fmt.Errorf("%w: endpoint %q: with TLS an endpoint is host:port or https://host:port", ErrConfig, ep)
	}
	return ep, nil
}

// NewClient returns a plaintext client built from [ClientConfig]. It does
// not wait for a connection. Close it when done.
func NewClient(endpoints ...string) (*clientv3.Client, error) {
	return clientv3.New(ClientConfig(endpoints...))
}

// NewClientTLS returns a client built from [ClientConfigTLS]: every
// connection to the endpoints is made with tlsCfg. Invalid arguments are
// an error wrapping [ErrConfig]. It does not wait for a connection. Close
// it when done.
func NewClientTLS(tlsCfg *tls.Config, endpoints ...string) (*clientv3.Client, error) {
	cfg, err := ClientConfigTLS(tlsCfg, endpoints...)
	if err != nil {
		return nil, err
	}
	return clientv3.New(cfg)
}
