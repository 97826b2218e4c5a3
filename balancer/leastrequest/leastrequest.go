package leastrequest

import (
	"context"
	"math/rand/v2"

	"github.com/switchyard/switchyard/balancer"
)

// Policy is the least-request policy. The zero value is ready to use and
// safe for concurrent use.
type Policy struct{}

var _ balancer.Policy = Policy{}

// New returns the least-request policy.
func New() Policy { return Policy{} }

// Name returns "least_request".
func (Policy) Name() string { return "least_request" }

// Build returns a picker that compares the in-flight counts of two random
// hosts.
func (Policy) Build(hosts []*balancer.Host) balancer.Picker {
	if len(hosts) == 1 {
		return single{hosts[0]}
	}
	return &picker{hosts: hosts}
}

type single struct{ h *balancer.Host }

func (s single) Pick(context.Context) *balancer.Host { return s.h }

type picker struct {
	hosts []*balancer.Host // at least two
}

func (p *picker) Pick(context.Context) *balancer.Host {
	i, j := balancer.RandomPair(rand.Uint64(), len(p.hosts))
	a, b := p.hosts[i], p.hosts[j]
	// A conditional move: the comparison is a coin toss on even load.
	h := a
	if b.InFlight() < a.InFlight() {
		h = b
	}
	return h
}
