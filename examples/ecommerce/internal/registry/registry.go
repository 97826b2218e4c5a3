package registry

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"strings"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/switchyard/switchyard/discovery"
	"github.com/switchyard/switchyard/discovery/etcd"

	"github.com/switchyard/switchyard/examples/ecommerce/internal/settings"
)

// RegistrationTTL is the lease TTL of the shop's registrations: an instance
// killed without deregistering leaves the registry within 5 s (clients'
// outlier detection usually drops it sooner).
const RegistrationTTL = 5 * time.Second

// Registrar is what a [Conn] registers the process's instances with.
type Registrar interface {
	discovery.Registrar
	// Close deregisters whatever is still registered, bounded by ctx.
	Close(ctx context.Context) error
}

// Resolver is what a [Conn] finds the services it calls with.
type Resolver interface {
	discovery.Resolver
	// Close stops every watch.
	Close()
}

// Conn is a connection to the shop's registry: a registrar for the
// process's own instances and a resolver for the services it calls. Create
// it with [Connect] and close it with [Conn.Close]; its fields are safe for
// concurrent use.
//
// On etcd both share one client, Client; the registrar is an
// *etcd.Registrar (its lease state is part of /readyz) and the resolver an
// *etcd.Resolver. On DNS, Client is nil, the resolver is a
// *dns.Resolver and the registrar does nothing: the platform publishes
// the instances (Kubernetes lists a pod in its headless Service's records
// once its readiness probe passes and removes it when the pod
// terminates), so readiness is the service's own checks alone. Its
// records name instances by address, never by the ID an instance
// registered under, so a drain that waits for the resolver to confirm the
// removal (instance.Config.Resolver) is satisfied by the first answer: on
// DNS the drain rests on the drain delay and the pod's preStop.
type Conn struct {
	Client    *clientv3.Client
	Registrar Registrar
	Resolver  Resolver
}

// Connect returns a Conn on the registry named by url (see
// [settings.ParseRegistry]; a bad url fails with an error wrapping
// settings.ErrConfig that names --registry). An etcd registry is reached
// over plain HTTP unless [WithTLS] is given; Connect does not wait for it:
// a service may start before the registry, and its registration heals once
// etcd answers, which readiness reports meanwhile. A DNS registry is
// queried by the resolver's watches only, every
// [dns.DefaultInterval]; [WithTLS] does not apply to it (the services'
// own connections are mutual TLS either way). ctx is not retained.
func Connect(ctx context.Context, url string, opts ...Option) (*Conn, error) {
	var o options
	for _, opt := range opts {
		opt(&o)
	}
	r, err := settings.ParseRegistry("registry", url)
	if err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if r.DNSName != "" {
		return connectDNS(r)
	}
	eps := r.Etcd
	var cli *clientv3.Client
	if o.tls != nil {
		// ParseRegistry writes http://host:port, the plaintext form;
		// the TLS client takes host:port and makes it https.
		for i, ep := range eps {
			eps[i] = strings.TrimPrefix(ep, "http://")
		}
		cli, err = etcd.NewClientTLS(o.tls, eps...)
	} else {
		cli, err = etcd.NewClient(eps...)
	}
	if err != nil {
		return nil, fmt.Errorf("registry: etcd client for %s: %w", url, err)
	}
	reg, err := etcd.NewRegistrar(cli, etcd.RegistrarConfig{TTL: RegistrationTTL})
	if err != nil {
		cli.Close()
		return nil, fmt.Errorf("registry: etcd registrar: %w", err)
	}
	res, err := etcd.NewResolver(cli, etcd.ResolverConfig{RecoveryGrace: 2 * RegistrationTTL})
	if err != nil {
		cli.Close()
		return nil, fmt.Errorf("registry: etcd resolver: %w", err)
	}
	return &Conn{Client: cli, Registrar: reg, Resolver: res}, nil
}

// Option configures [Connect].
type Option func(*options)

type options struct {
	tls *tls.Config
}

// WithTLS makes Connect reach etcd over TLS with cfg, which presents the
// process's certificate (etcd started with --tls-cert, --tls-key and
// --tls-ca requires one) and verifies etcd's: for the shop,
// mtls.Source.ClientConfig with the registry's identity. A nil cfg leaves
// the connection in plain HTTP.
func WithTLS(cfg *tls.Config) Option { return func(o *options) { o.tls = cfg } }

// Close deregisters whatever the registrar still holds (bounded by 5 s),
// stops the resolver's watches and closes the etcd client, if any.
func (r *Conn) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err := r.Registrar.Close(ctx)
	r.Resolver.Close()
	if r.Client != nil {
		err = errors.Join(err, r.Client.Close())
	}
	return err
}
