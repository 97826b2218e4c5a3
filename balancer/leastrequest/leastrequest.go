package leastrequest

import (
	"context"
	"math/bits"
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
	a, b := two(p.hosts)
	// (a, b) is a uniformly random ordered pair, so keeping a on a tie
	// breaks ties at random.
	if b.InFlight() < a.InFlight() {
		return b
	}
	return a
}

// two returns two distinct hosts, uniformly at random, from one random
// word: the high half of r·n picks the first index, and the low half,
// itself uniform, picks the second among the n-1 others.
func two(hosts []*balancer.Host) (a, b *balancer.Host) {
	n := uint64(len(hosts))
	i, lo := bits.Mul64(rand.Uint64(), n)
	j, _ := bits.Mul64(lo, n-1)
	if j >= i {
		j++
	}
	return hosts[i], hosts[j]
}
