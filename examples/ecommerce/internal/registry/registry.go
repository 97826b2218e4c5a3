package registry

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"strings"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/switchyard/switchyard/discovery/etcd"

	"github.com/switchyard/switchyard/examples/ecommerce/internal/settings"
)

// RegistrationTTL is the lease TTL of the shop's registrations: an instance
// killed without deregistering leaves the registry within 5 s (clients'
// outlier detection usually drops it sooner).
const RegistrationTTL = 5 * time.Second

// Conn is a connection to the shop's etcd registry: one client shared by
// a registrar (for the process's own instances) and a resolver (for the
// services it calls). Create it with [Connect] and close it with
// [Conn.Close]; its fields are safe for concurrent use.
type Conn struct {
	Client    *clientv3.Client
	Registrar *etcd.Registrar
	Resolver  *etcd.Resolver
}

// Connect returns a Conn on the etcd named by url (etcd://host:port, see
// [settings.RegistryEndpoints]; a bad url fails with an error wrapping settings.ErrConfig that
// names --registry), over plain HTTP unless [WithTLS] is given. It does
// not wait for etcd: a service may start before the registry, and its
// registration heals once etcd answers, which readiness reports meanwhile.
// ctx is not retained.
func Connect(ctx context.Context, url string, opts ...Option) (*Conn, error) {
	var o options
	for _, opt := range opts {
		opt(&o)
	}
	eps, err := settings.RegistryEndpoints("registry", url)
	if err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	var cli *clientv3.Client
	if o.tls != nil {
		// RegistryEndpoints writes http://host:port, the plaintext
		// form; the TLS client takes host:port and makes it https.
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
// stops the resolver's watches and closes the client.
func (r *Conn) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err := r.Registrar.Close(ctx)
	r.Resolver.Close()
	return errors.Join(err, r.Client.Close())
}
