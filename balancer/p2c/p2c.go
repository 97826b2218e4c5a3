package p2c

import (
	"context"
	"math"
	"math/rand/v2"
	"time"

	"github.com/switchyard/switchyard/balancer"
)

// DefaultHalfLife is the default half-life of the latency estimate.
const DefaultHalfLife = 10 * time.Second

// DefaultFailurePenalty is the least latency recorded for a failed call by
// default.
const DefaultFailurePenalty = time.Second

// pendingCost is the cost of a host with no latency sample and a call in
// flight, per call in flight: larger than any measured host's cost
// (10^30 ns is 3·10^13 years), small enough to keep in-flight counts
// apart in float64.
const pendingCost = 1e30

// Policy is the peak-EWMA power-of-two-choices policy. It implements
// [balancer.Observer], so a [balancer.Balancer] reports every call's
// latency to it. It keeps each host's latency estimate itself, attached to
// the host at Build (see [balancer.Host.SetPolicyData]), so the estimate
// lives as long as the host and is never shared with another policy.
//
// The zero value uses the defaults ([DefaultHalfLife],
// [DefaultFailurePenalty]). A Policy is immutable and safe for concurrent
// use.
type Policy struct {
	halfLife time.Duration // zero means DefaultHalfLife
	penalty  time.Duration // zero means DefaultFailurePenalty; negative means none
}

var (
	_ balancer.Policy   = Policy{}
	_ balancer.Observer = Policy{}
)

// Option configures a [Policy].
type Option func(*Policy)

// WithHalfLife sets how long the latency estimate takes to halve without
// samples, and how quickly samples below the estimate pull it down. The
// EWMA's time constant is tau = d / ln 2. Zero or negative d means
// [DefaultHalfLife] (10s). A shorter half-life forgets slowness sooner and
// probes avoided hosts more often; a longer one is steadier. Keep it to
// minutes at most: the balancer's EWMA reads ages correctly only up to
// about 36 minutes.
func WithHalfLife(d time.Duration) Option {
	return func(p *Policy) {
		if d <= 0 {
			d = 0
		}
		p.halfLife = d
	}
}

// WithFailurePenalty sets the least latency recorded for a call that ended
// in a server-health failure: such a call counts as max(latency, d). Zero
// or negative d turns the penalty off, so failures count at their measured
// latency. The default is [DefaultFailurePenalty] (1s); services whose
// normal latency approaches it should raise it.
func WithFailurePenalty(d time.Duration) Option {
	return func(p *Policy) {
		if d <= 0 {
			d = -1
		}
		p.penalty = d
	}
}

// New returns a peak-EWMA policy with opts applied.
func New(opts ...Option) Policy {
	var p Policy
	for _, o := range opts {
		o(&p)
	}
	return p
}

// Name returns "p2c".
func (Policy) Name() string { return "p2c" }

// tau returns the EWMA time constant in nanoseconds.
func (p Policy) tau() int64 {
	h := p.halfLife
	if h <= 0 {
		h = DefaultHalfLife
	}
	return int64(float64(h) / math.Ln2)
}

// hostState is the policy's own state for one host.
type hostState struct {
	latency ewma // peak-EWMA latency in ns
}

// stateOf returns the state Build attached to h, or nil.
func stateOf(h *balancer.Host) *hostState {
	st, _ := h.PolicyData().(*hostState)
	return st
}

// Build returns a picker that compares the costs of two random hosts. It
// attaches a latency estimate to every host that has none yet.
func (p Policy) Build(hosts []*balancer.Host) balancer.Picker {
	states := make([]*hostState, len(hosts))
	for i, h := range hosts {
		st := stateOf(h)
		if st == nil {
			st = new(hostState)
			h.SetPolicyData(st)
		}
		states[i] = st
	}
	if len(hosts) == 1 {
		return single{hosts[0]}
	}
	return &picker{hosts: hosts, states: states, tau: p.tau()}
}

// Observe records one call's latency in h's estimate, raised to the
// failure penalty when the call failed. It is called by the balancer
// after every call that was not cancelled; a host that this policy never
// built a picker on is ignored.
func (p Policy) Observe(h *balancer.Host, latency time.Duration, now int64, failed bool) {
	st := stateOf(h)
	if st == nil {
		return
	}
	if failed {
		switch {
		case p.penalty == 0:
			latency = max(latency, DefaultFailurePenalty)
		case p.penalty > 0:
			latency = max(latency, p.penalty)
		}
	}
	st.latency.observe(max(int64(latency), 0), now, p.tau())
}

type single struct{ h *balancer.Host }

func (s single) Pick(context.Context) *balancer.Host { return s.h }

type picker struct {
	hosts  []*balancer.Host // at least two
	states []*hostState     // states[i] is hosts[i]'s
	tau    int64
}

func (p *picker) Pick(context.Context) *balancer.Host {
	i, j := balancer.RandomPair(rand.Uint64(), len(p.hosts))
	a, b := p.hosts[i], p.hosts[j]
	now := a.Now()
	// (a, b) is a uniformly random ordered pair, so keeping a on a tie
	// breaks ties at random; the choice is a conditional move, the
	// comparison being a coin toss between similar hosts.
	h := a
	if p.cost(b, p.states[j], now) < p.cost(a, p.states[i], now) {
		h = b
	}
	return h
}

// cost is (latency + 1ns) × (in-flight + 1); see the package
// documentation for hosts without a sample.
func (p *picker) cost(h *balancer.Host, st *hostState, now int64) float64 {
	n := float64(h.InFlight())
	v, ok := st.latency.value(now, p.tau)
	if !ok {
		if n == 0 {
			return 0
		}
		return pendingCost * (n + 1)
	}
	return (v + 1) * (n + 1)
}
