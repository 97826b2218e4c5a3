package weighted

import (
	"context"
	"math"
	"math/bits"
	"math/rand/v2"
	"sync/atomic"

	"github.com/switchyard/switchyard/balancer"
	"github.com/switchyard/switchyard/discovery"
)

// MaxScheduleLen is the longest smooth weighted round-robin schedule that
// Build precomputes, in entries (one entry per pick in a period). A longer
// period is served by an alias table instead. Entries are 2 bytes, so a
// schedule costs at most 8 KiB per snapshot.
const MaxScheduleLen = 4096

// maxBuildSteps bounds hosts × schedule length, the cost of computing a
// smooth schedule.
const maxBuildSteps = 1 << 18

// Policy is the weighted policy. The zero value is ready to use and safe
// for concurrent use.
type Policy struct{}

var _ balancer.Policy = Policy{}

// New returns the weighted policy.
func New() Policy { return Policy{} }

// Name returns "weighted".
func (Policy) Name() string { return "weighted" }

// Build returns a picker that gives each host a share of picks
// proportional to its effective weight; see the package documentation for
// how.
func (Policy) Build(hosts []*balancer.Host) balancer.Picker {
	if len(hosts) == 1 {
		return single{hosts[0]}
	}
	w := make([]int64, len(hosts))
	var g int64
	for i, h := range hosts {
		w[i] = int64(min(h.Instance.EffectiveWeight(), discovery.MaxWeight))
		g = gcd(g, w[i])
	}
	var total int64
	for i := range w {
		w[i] /= g
		total += w[i]
	}
	n := int64(len(hosts))
	switch {
	case total == n: // every reduced weight is 1
		p := &rotation{hosts: hosts}
		p.next.Store(rand.Uint64())
		return p
	case total <= MaxScheduleLen && n*total <= maxBuildSteps:
		return newSchedule(hosts, w, total)
	default:
		return newAlias(hosts, w, total)
	}
}

func gcd(a, b int64) int64 {
	for b != 0 {
		a, b = b, a%b
	}
	return a
}

type single struct{ h *balancer.Host }

func (s single) Pick(context.Context) *balancer.Host { return s.h }

// rotation serves equal weights.
type rotation struct {
	next  atomic.Uint64
	hosts []*balancer.Host
}

func (p *rotation) Pick(context.Context) *balancer.Host {
	return p.hosts[p.next.Add(1)%uint64(len(p.hosts))]
}

// schedule is one period of smooth weighted round robin.
type schedule struct {
	next  atomic.Uint64
	order []uint16 // indices into hosts; len(hosts) ≤ MaxScheduleLen
	hosts []*balancer.Host
}

// newSchedule runs nginx's smooth weighted round robin for one period of
// total picks: every step each host's current value grows by its weight,
// the largest (first in ID order on ties) is picked and loses total. Each
// host is picked exactly w[i] times per period.
func newSchedule(hosts []*balancer.Host, w []int64, total int64) *schedule {
	order := make([]uint16, total)
	cur := make([]int64, len(w))
	for k := range order {
		best := 0
		for i, wi := range w {
			cur[i] += wi
			if cur[i] > cur[best] {
				best = i
			}
		}
		cur[best] -= total
		order[k] = uint16(best)
	}
	p := &schedule{order: order, hosts: hosts}
	p.next.Store(rand.Uint64())
	return p
}

func (p *schedule) Pick(context.Context) *balancer.Host {
	return p.hosts[p.order[p.next.Add(1)%uint64(len(p.order))]]
}

// alias is Vose's alias table: column i keeps its own host with
// probability stay/2^64 and gives the pick to its alias otherwise.
type alias struct {
	cols []column
}

type column struct {
	stay        uint64
	host, alias *balancer.Host
}

// newAlias builds the table in integer arithmetic. Column i starts with
// mass w[i]·n against a full column of total, so that no rounding creeps
// in: the columns left over when one of the two work lists empties are
// exactly full.
func newAlias(hosts []*balancer.Host, w []int64, total int64) *alias {
	n := int64(len(hosts))
	mass := make([]int64, n)
	var small, large []int
	for i := range hosts {
		mass[i] = w[i] * n
		if mass[i] < total {
			small = append(small, i)
		} else {
			large = append(large, i)
		}
	}
	cols := make([]column, n)
	for len(small) > 0 && len(large) > 0 {
		s := small[len(small)-1]
		small = small[:len(small)-1]
		l := large[len(large)-1]
		// mass[s] < total, so the quotient fits in 64 bits.
		q, _ := bits.Div64(uint64(mass[s]), 0, uint64(total))
		cols[s] = column{stay: q, host: hosts[s], alias: hosts[l]}
		mass[l] -= total - mass[s]
		if mass[l] < total {
			large = large[:len(large)-1]
			small = append(small, l)
		}
	}
	// What is left is full: the column always keeps its host. A threshold
	// of 2^64 does not fit, so the alias is the host itself.
	for _, i := range large {
		cols[i] = column{stay: math.MaxUint64, host: hosts[i], alias: hosts[i]}
	}
	for _, i := range small { // empty in exact arithmetic; kept for safety
		cols[i] = column{stay: math.MaxUint64, host: hosts[i], alias: hosts[i]}
	}
	return &alias{cols: cols}
}

func (p *alias) Pick(context.Context) *balancer.Host {
	// The high word of r·n is a uniform column; the low word is uniform
	// within it (in steps of n) and decides between host and alias.
	i, frac := bits.Mul64(rand.Uint64(), uint64(len(p.cols)))
	c := &p.cols[i]
	// Both hosts are loaded before the comparison so that the choice
	// compiles to a conditional move: the outcome is random, and a branch
	// would be mispredicted often.
	h, other := c.alias, c.host
	if frac < c.stay {
		h = other
	}
	return h
}
