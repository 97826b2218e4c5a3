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
	// Two distinct indices from one random word: the high half of r·n
	// picks the first, and the low half, itself uniform, picks the second
	// among the n-1 others, skipping the first. The skip is arithmetic
	// ((i-j-1)>>63 is 1 exactly when j ≥ i, both being below 2^63) and the
	// final choice a conditional move, because both outcomes are coin
	// tosses that a branch predictor would miss half the time.
	n := uint64(len(p.hosts))
	i, lo := bits.Mul64(rand.Uint64(), n)
	j, _ := bits.Mul64(lo, n-1)
	j += (i - j - 1) >> 63
	a, b := p.hosts[i], p.hosts[j]
	// (a, b) is a uniformly random ordered pair, so keeping a on a tie
	// breaks ties at random.
	h := a
	if b.InFlight() < a.InFlight() {
		h = b
	}
	return h
}
