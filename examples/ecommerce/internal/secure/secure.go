// Package secure puts a shop process on its mutual TLS: the certificate
// named by --tls-cert, --tls-key and --tls-ca (settings.TLSFiles) becomes
// an mtls.Source, and from it come the listener's configuration, the
// registry connection's and one client configuration per called service,
// each expecting that service's SPIFFE ID.
//
// Without the flags a process runs in plain HTTP, as before, and says so
// in its log: the nil *Identity is valid and means exactly that.
package secure

import (
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/switchyard/switchyard/identity"
	"github.com/switchyard/switchyard/mtls"

	"github.com/switchyard/switchyard/examples/ecommerce/internal/call"
	"github.com/switchyard/switchyard/examples/ecommerce/internal/registry"
	"github.com/switchyard/switchyard/examples/ecommerce/internal/settings"
)

// The names of the shop's services in their SPIFFE IDs
// (spiffe://shop.internal/<name>), for policies.
const (
	Gateway = "gateway"
	Users   = "users"
	Catalog = "catalog"
	Orders  = "orders"
)

// Services are the shop's own services: those that may reach an unknown
// path and get its JSON 404 rather than a 403.
var Services = []string{Gateway, Users, Catalog, Orders}

// RegistryService is the name in the registry's SPIFFE ID
// (spiffe://<trust domain>/registry): the shop's processes accept an etcd
// only if its certificate carries it.
const RegistryService = "registry"

// ErrIdentity reports a certificate that does not name the service the
// process is started as: a catalog given orders' certificate would be
// admitted to orders' routes.
var ErrIdentity = errors.New("secure: the certificate names another service")

// Identity is a process's certificate and what is built on it. The nil
// *Identity means plain HTTP: every method works on it and returns the
// plaintext setting.
type Identity struct {
	src   *mtls.Source
	peers *call.Peers
}

// Load returns the Identity of service from files, or nil when files
// names nothing (plain HTTP; logged as a warning on logger). The leaf must
// carry spiffe://<trust domain>/<service>; the trust domain is the leaf's
// own. The certificate and bundle are re-read when their files change,
// so a renewal needs no restart; each renewal is logged at Info, a failed
// one at Error (the previous certificate stays in use).
func Load(files settings.TLSFiles, service string, logger *slog.Logger) (*Identity, error) {
	if logger == nil {
		logger = slog.Default()
	}
	if !files.Enabled() {
		logger.Warn("mutual TLS is off: this process speaks plain HTTP and admits every caller (give --tls-cert, --tls-key and --tls-ca)",
			"service", service)
		return nil, nil
	}
	if err := files.Check(); err != nil {
		return nil, err
	}
	src, err := mtls.New(mtls.Config{
		CertFile: files.Cert,
		KeyFile:  files.Key,
		CAFile:   files.CA,
		// Probes and scrapers hold no certificate: the handshake admits
		// them, and every API route is behind middleware/authz, which
		// refuses a caller without an identity.
		OptionalClientCert: true,
		Hooks: mtls.Hooks{
			OnReload: func(id identity.ID, notAfter time.Time) {
				logger.Info("certificate loaded", "id", id.String(), "not_after", notAfter.UTC().Format(time.RFC3339))
			},
			OnReloadError: func(err error) {
				logger.Error("certificate reload failed; the previous one stays in use", "err", err)
			},
		},
	})
	if err != nil {
		return nil, fmt.Errorf("secure: %s: %w", service, err)
	}
	want, err := src.ServiceID(service)
	if err != nil {
		return nil, fmt.Errorf("secure: %w", err)
	}
	if src.ID() != want {
		return nil, fmt.Errorf("%w: %s runs with a certificate for %s", ErrIdentity, service, src.ID())
	}
	id := &Identity{src: src}
	id.peers = call.NewPeers(id.Upstream)
	return id, nil
}

// Source returns the mtls.Source, nil for plain HTTP.
func (i *Identity) Source() *mtls.Source {
	if i == nil {
		return nil
	}
	return i.src
}

// Server returns the listener's TLS configuration (instance.Config.TLS):
// a client certificate from the shop's CA is verified when presented and
// may be absent (probes), nil for plain HTTP.
func (i *Identity) Server() *tls.Config {
	if i == nil {
		return nil
	}
	return i.src.ServerConfig()
}

// Caller returns the SPIFFE ID of service in this process's trust domain,
// for authorization rules; the zero ID for plain HTTP. It fails only for a
// name that cannot be a path segment of an ID.
func (i *Identity) Caller(service string) (identity.ID, error) {
	if i == nil {
		return identity.ID{}, nil
	}
	return i.src.ServiceID(service)
}

// Upstream returns the client configuration for calls to service: our
// certificate presented, and the instance refused at the handshake unless
// its certificate carries service's ID; nil for plain HTTP. Give each
// service its own transport (see mtls.Source.ClientConfig). It fails only
// for a name that cannot be a path segment of an ID.
func (i *Identity) Upstream(service string) (*tls.Config, error) {
	if i == nil {
		return nil, nil
	}
	id, err := i.src.ServiceID(service)
	if err != nil {
		return nil, err
	}
	return i.src.ClientConfig(id), nil
}

// Peers returns the per-service HTTP clients of the shop's call package
// over Upstream's configurations; nil for plain HTTP.
func (i *Identity) Peers() *call.Peers {
	if i == nil {
		return nil
	}
	return i.peers
}

// Registry returns the registry.Connect option for this identity: TLS to
// an etcd holding [RegistryService]'s identity, or plaintext.
func (i *Identity) Registry() registry.Option {
	cfg, err := i.Upstream(RegistryService)
	if err != nil {
		panic(err) // RegistryService is a valid path segment
	}
	return registry.WithTLS(cfg)
}
