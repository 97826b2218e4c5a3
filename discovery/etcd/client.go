package etcd

import (
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
	"google.golang.org/grpc"
	grpcbackoff "google.golang.org/grpc/backoff"
)

// ClientConfig returns a client configuration suited to service discovery
// for the given endpoints (e.g. "http://10.0.0.1:2379"). Add TLS or
// credentials to it as needed and pass it to clientv3.New.
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

// NewClient returns a client built from [ClientConfig]. It does not wait
// for a connection. Close it when done.
func NewClient(endpoints ...string) (*clientv3.Client, error) {
	return clientv3.New(ClientConfig(endpoints...))
}
