package roundrobin

import (
	"context"
	"math/rand/v2"
	"sync/atomic"

	"github.com/switchyard/switchyard/balancer"
)

// Policy is the round-robin policy. The zero value is ready to use and
// safe for concurrent use.
type Policy struct{}

var _ balancer.Policy = Policy{}

// New returns the round-robin policy.
func New() Policy { return Policy{} }

// Name returns "round_robin".
func (Policy) Name() string { return "round_robin" }

// Build returns a picker that rotates through hosts.
func (Policy) Build(hosts []*balancer.Host) balancer.Picker {
	p := &picker{hosts: hosts}
	p.next.Store(rand.Uint64())
	return p
}

type picker struct {
	next  atomic.Uint64
	hosts []*balancer.Host
}

func (p *picker) Pick(context.Context) *balancer.Host {
	n := p.next.Add(1)
	return p.hosts[n%uint64(len(p.hosts))]
}
