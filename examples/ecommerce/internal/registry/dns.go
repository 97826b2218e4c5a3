package registry

import (
	"context"
	"fmt"

	"github.com/switchyard/switchyard/discovery"
	"github.com/switchyard/switchyard/discovery/dns"

	"github.com/switchyard/switchyard/examples/ecommerce/internal/settings"
)

// connectDNS returns a Conn that resolves services through the DNS names
// of r and registers nothing.
func connectDNS(r settings.Registry) (*Conn, error) {
	res, err := dns.New(dns.Config{Port: r.DNSPort, Server: r.DNSServer, Name: r.Name})
	if err != nil {
		return nil, fmt.Errorf("registry: dns resolver: %w", err)
	}
	return &Conn{Registrar: platform{}, Resolver: res}, nil
}

// platform is the registrar of a DNS registry: the platform that publishes
// the DNS records (Kubernetes' endpoints controller) registers the
// instances, following the pods' readiness, so Register and Deregister
// succeed at once and change nothing. It does not implement
// discovery.StateReporter: no registration can be in trouble, and /readyz
// reports the service's own checks alone.
type platform struct{}

func (platform) Register(context.Context, discovery.Instance) error   { return nil }
func (platform) Deregister(context.Context, discovery.Instance) error { return nil }
func (platform) Close(context.Context) error                          { return nil }
