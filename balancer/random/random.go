package random

import (
	"context"
	"math/rand/v2"

	"github.com/switchyard/switchyard/balancer"
)

// Policy is the uniform random policy. The zero value is ready to use and
// safe for concurrent use.
type Policy struct{}

var _ balancer.Policy = Policy{}

// New returns the random policy.
func New() Policy { return Policy{} }

// Name returns "random".
func (Policy) Name() string { return "random" }

// Build returns a picker that chooses uniformly among hosts.
func (Policy) Build(hosts []*balancer.Host) balancer.Picker {
	if len(hosts) == 1 {
		return single{hosts[0]}
	}
	return &picker{hosts: hosts}
}

type picker struct {
	hosts []*balancer.Host
}

func (p *picker) Pick(context.Context) *balancer.Host {
	return p.hosts[rand.IntN(len(p.hosts))]
}

type single struct{ h *balancer.Host }

func (s single) Pick(context.Context) *balancer.Host { return s.h }
