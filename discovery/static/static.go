package static

import (
	"context"
	"fmt"
	"strings"

	"github.com/switchyard/switchyard/discovery"
)

// Resolver resolves services from a fixed list. It is safe for concurrent
// use and starts no goroutines. The zero value resolves every service to
// an empty list.
type Resolver struct {
	byService map[string][]discovery.Instance
}

var _ discovery.Resolver = (*Resolver)(nil)

// New returns a resolver over list. Every instance must pass
// discovery.Instance.Validate. Of several instances of one service with
// the same ID, the last one wins.
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
// its address. Spaces around elements and empty elements are skipped. An
// address that fails discovery.Instance.Validate makes Parse fail with an
// error wrapping discovery.ErrBadAddr; an empty service name fails with
// discovery.ErrNoService.
func Parse(service, addrs string) ([]discovery.Instance, error) {
	if service == "" {
		return nil, fmt.Errorf("static: %w", discovery.ErrNoService)
	}
	var list []discovery.Instance
	for a := range strings.SplitSeq(addrs, ",") {
		a = strings.TrimSpace(a)
		if a == "" {
			continue
		}
		inst := discovery.Instance{ID: a, Service: service, Addr: a}
		if err := inst.Validate(); err != nil {
			return nil, fmt.Errorf("static: %w", err)
		}
		list = append(list, inst)
	}
	return list, nil
}

// Watch returns a watch that delivers the service's instances once, sorted
// by ID. An unknown service yields an empty list; an empty service name
// fails with discovery.ErrNoService.
func (r *Resolver) Watch(ctx context.Context, service string) (discovery.Watch, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if service == "" {
		return nil, discovery.ErrNoService
	}
	f := new(discovery.Feed)
	f.Publish(r.byService[service])
	return f.Watch(f.Close), nil
}
