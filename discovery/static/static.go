package static

import (
	"context"
	"fmt"
	"net"
	"strconv"
	"strings"

	"github.com/switchyard/switchyard/discovery"
)

// Resolver resolves services from a fixed list. It is safe for concurrent
// use and starts no goroutines.
type Resolver struct {
	byService map[string][]discovery.Instance
}

var _ discovery.Resolver = (*Resolver)(nil)

// New returns a resolver over list. Every instance must pass
// discovery.Instance.Validate.
func New(list ...discovery.Instance) (*Resolver, error) {
	r := &Resolver{byService: make(map[string][]discovery.Instance)}
	for _, inst := range list {
		if err := inst.Validate(); err != nil {
			return nil, fmt.Errorf("static: %w", err)
		}
		r.byService[inst.Service] = append(r.byService[inst.Service], inst)
	}
	return r, nil
}

// Parse builds the instances of service from a comma-separated list of
// host:port addresses, as a flag would carry them. Each instance's ID is
// its address. Empty elements are skipped.
func Parse(service, addrs string) ([]discovery.Instance, error) {
	var list []discovery.Instance
	for a := range strings.SplitSeq(addrs, ",") {
		a = strings.TrimSpace(a)
		if a == "" {
			continue
		}
		host, port, err := net.SplitHostPort(a)
		if err != nil {
			return nil, fmt.Errorf("static: %q: %w", a, err)
		}
		if _, err := strconv.ParseUint(port, 10, 16); err != nil || host == "" {
			return nil, fmt.Errorf("static: %q: %w", a, discovery.ErrBadAddr)
		}
		inst := discovery.Instance{ID: a, Service: service, Addr: a}
		if err := inst.Validate(); err != nil {
			return nil, fmt.Errorf("static: %w", err)
		}
		list = append(list, inst)
	}
	return list, nil
}

// Watch returns a watch that delivers the service's instances once. An
// unknown service yields an empty list.
func (r *Resolver) Watch(ctx context.Context, service string) (discovery.Watch, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	f := new(discovery.Feed)
	f.Publish(r.byService[service])
	return f.Watch(f.Close), nil
}
