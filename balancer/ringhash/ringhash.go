package ringhash

import (
	"context"
	"errors"
	"fmt"
	"math/bits"
	"math/rand/v2"
	"sort"

	"github.com/switchyard/switchyard/balancer"
	"github.com/switchyard/switchyard/internal/xhash"
)

// Defaults for the options.
const (
	// DefaultVirtualNodes is the number of ring entries a host of average
	// weight gets when neither ring-size bound is binding.
	DefaultVirtualNodes = 256
	// DefaultMinRingSize is the default lower bound on the ring's length.
	DefaultMinRingSize = 1024
	// DefaultMaxRingSize is the default upper bound on the ring's length:
	// 2^17 entries, 1.5 MiB of ring (12 bytes an entry).
	DefaultMaxRingSize = 1 << 17
)

// MaxRingSize is the largest accepted ring-size bound: 2^24 entries,
// 192 MiB of ring.
const MaxRingSize = 1 << 24

// maxWeight caps instance weights so that weight arithmetic cannot
// overflow; larger weights count as maxWeight.
const maxWeight = 1 << 31

// ErrRingSize is returned by [New] when a ring-size option is out of range
// or the bounds are inconsistent.
var ErrRingSize = errors.New("ringhash: invalid ring size")

// Option configures a [Policy].
type Option func(*Policy)

// WithVirtualNodes sets how many ring entries a host of average weight
// gets, before the ring-size bounds apply. More entries smooth the load
// (the spread of a host's share shrinks like 1/√v) at 12 bytes each.
// Default [DefaultVirtualNodes], which zero also selects; v must not be
// negative.
func WithVirtualNodes(v int) Option { return func(p *Policy) { p.vnodes = v } }

// WithMinRingSize sets the ring's minimum length: with few hosts, each
// gets more than the configured virtual nodes so that the ring holds at
// least about n entries. Default [DefaultMinRingSize], which zero also
// selects; n must be in [1, MaxRingSize].
func WithMinRingSize(n int) Option { return func(p *Policy) { p.minRing = n } }

// WithMaxRingSize sets the ring's maximum length, which bounds memory
// (12 bytes an entry) and build time: with many hosts, each gets fewer
// than the configured virtual nodes. The ring exceeds it only when hosts
// outnumber it, since every host keeps one entry. Default
// [DefaultMaxRingSize] or the minimum ring size if that is larger, which
// zero also selects; n must be in [minimum ring size, MaxRingSize].
func WithMaxRingSize(n int) Option { return func(p *Policy) { p.maxRing = n } }

// Policy is the ring-hash policy. The zero value uses the defaults; other
// configurations come from [New], which validates them. A Policy is
// immutable and safe for concurrent use.
type Policy struct {
	vnodes, minRing, maxRing int // 0 means the default
}

var (
	_ balancer.Policy         = Policy{}
	_ balancer.AvoidingPicker = (*ring)(nil)
)

// New returns a ring-hash policy configured by opts, or an error wrapping
// [ErrRingSize] if they are out of range.
func New(opts ...Option) (Policy, error) {
	var p Policy
	for _, o := range opts {
		o(&p)
	}
	v, lo, hi := p.params()
	switch {
	case v < 1:
		return Policy{}, fmt.Errorf("%w: virtual nodes %d, want at least 1", ErrRingSize, v)
	case lo < 1 || lo > MaxRingSize:
		return Policy{}, fmt.Errorf("%w: minimum %d, want 1 to %d", ErrRingSize, lo, MaxRingSize)
	case hi < lo || hi > MaxRingSize:
		return Policy{}, fmt.Errorf("%w: maximum %d, want %d (the minimum) to %d", ErrRingSize, hi, lo, MaxRingSize)
	}
	return p, nil
}

func (p Policy) params() (vnodes, minRing, maxRing int) {
	vnodes, minRing, maxRing = p.vnodes, p.minRing, p.maxRing
	if vnodes == 0 {
		vnodes = DefaultVirtualNodes
	}
	if minRing == 0 {
		minRing = DefaultMinRingSize
	}
	if maxRing == 0 {
		maxRing = max(DefaultMaxRingSize, minRing)
	}
	return vnodes, minRing, maxRing
}

// Name returns "ring_hash".
func (Policy) Name() string { return "ring_hash" }

// Build returns a picker over a ring built from hosts. See the package
// documentation for how entries are placed and counted.
func (p Policy) Build(hosts []*balancer.Host) balancer.Picker {
	// Hosts sharing an ID would share every ring position, and the first
	// would win them all; only the first of each ID takes part.
	uniq := make([]uint32, 0, len(hosts))
	for i, h := range hosts {
		if i > 0 && h.Instance.ID == hosts[i-1].Instance.ID {
			continue
		}
		uniq = append(uniq, uint32(i))
	}
	if len(uniq) == 1 {
		return single{hosts[0]}
	}
	counts, total := p.entries(hosts, uniq)
	r := &ring{
		hosts:  hosts,
		hashes: make([]uint64, total),
		owners: make([]uint32, total),
	}
	r.fill(hosts, uniq, counts)
	return r
}

// entries returns how many ring entries each unique host gets, and their
// sum. A host of average weight gets the configured virtual nodes, moved
// into the ring-size bounds; others get a share in proportion to their
// weight, and at least one entry. With equal weights the count depends on
// the number of hosts only through the bounds, so a membership change
// leaves the other hosts' entries where they were.
func (p Policy) entries(hosts []*balancer.Host, uniq []uint32) (counts []uint32, total int) {
	vnodes, minRing, maxRing := p.params()
	n := len(uniq)
	v := max(vnodes, (minRing+n-1)/n)
	v = max(min(v, maxRing/n), 1)

	counts = make([]uint32, n)
	var sum uint64
	for _, i := range uniq {
		sum += weight(hosts[i])
	}
	target := uint64(v) * uint64(n) // ring length before rounding
	for k, i := range uniq {
		// round(target × w / sum) in 128 bits: target × w can pass 2^64.
		hi, lo := bits.Mul64(target, weight(hosts[i]))
		lo, carry := bits.Add64(lo, sum/2, 0)
		hi += carry
		c, _ := bits.Div64(hi, lo, sum) // quotient ≤ target + 1: hi < sum
		c = max(c, 1)
		counts[k] = uint32(c)
		total += int(c)
	}
	return counts, total
}

func weight(h *balancer.Host) uint64 {
	return uint64(min(h.Instance.EffectiveWeight(), maxWeight))
}

// golden is 2^64 divided by the golden ratio: the increment of SplitMix64,
// whose Weyl sequence the finalizer turns into well-spread positions.
const golden = 0x9e3779b97f4a7c15

// point returns the ring position of replica j of the host whose ID
// hashes to base. It depends on nothing else, so every process places the
// host at the same positions.
func point(base uint64, j uint32) uint64 {
	return xhash.Mix(base + uint64(j+1)*golden)
}

// fill places every host's entries and sorts them by position. Positions
// are uniform, so one counting pass on their top bits buckets them with
// about one entry a bucket and insertion sort finishes each bucket: linear
// time, and no scratch copy of the ring.
func (r *ring) fill(hosts []*balancer.Host, uniq []uint32, counts []uint32) {
	total := len(r.hashes)
	shift := 64 - max(bits.Len(uint(total))-1, 1)
	starts := make([]uint32, 1<<(64-shift)+1)
	bases := make([]uint64, len(uniq))
	for k, i := range uniq {
		bases[k] = xhash.String(hosts[i].Instance.ID)
		for j := range counts[k] {
			starts[point(bases[k], j)>>shift+1]++
		}
	}
	for b := 1; b < len(starts); b++ {
		starts[b] += starts[b-1]
	}
	next := starts[: len(starts)-1 : len(starts)-1]
	next = append([]uint32(nil), next...)
	for k, i := range uniq {
		for j := range counts[k] {
			x := point(bases[k], j)
			at := next[x>>shift]
			next[x>>shift]++
			r.hashes[at], r.owners[at] = x, i
		}
	}
	for b := 0; b+1 < len(starts); b++ {
		lo, hi := int(starts[b]), int(starts[b+1])
		switch {
		case hi-lo < 2:
		case hi-lo <= 32:
			insertionSort(r.hashes[lo:hi], r.owners[lo:hi])
		default:
			// Only crafted IDs can crowd a bucket like this; stay
			// O(n log n) for them.
			sort.Sort(pairs{r.hashes[lo:hi], r.owners[lo:hi]})
		}
	}

	// The pick's index has a quarter as many buckets as the sort: 4 to 8
	// entries a bucket, at most one byte an entry.
	ib := max(64-shift-2, 0)
	r.shift = uint(64 - ib)
	r.index = make([]uint32, 1<<ib+1)
	k := 0
	for i, x := range r.hashes {
		for ; uint64(k) <= x>>r.shift; k++ {
			r.index[k] = uint32(i)
		}
	}
	for ; k < len(r.index); k++ {
		r.index[k] = uint32(total)
	}
}

// less orders entries by position and, for equal positions, by host index,
// so that the ring is the same whatever order entries were placed in.
func less(h1 uint64, o1 uint32, h2 uint64, o2 uint32) bool {
	return h1 < h2 || h1 == h2 && o1 < o2
}

func insertionSort(h []uint64, o []uint32) {
	for i := 1; i < len(h); i++ {
		x, y := h[i], o[i]
		j := i
		for ; j > 0 && less(x, y, h[j-1], o[j-1]); j-- {
			h[j], o[j] = h[j-1], o[j-1]
		}
		h[j], o[j] = x, y
	}
}

type pairs struct {
	h []uint64
	o []uint32
}

func (p pairs) Len() int           { return len(p.h) }
func (p pairs) Less(i, j int) bool { return less(p.h[i], p.o[i], p.h[j], p.o[j]) }
func (p pairs) Swap(i, j int) {
	p.h[i], p.h[j] = p.h[j], p.h[i]
	p.o[i], p.o[j] = p.o[j], p.o[i]
}

// ring is an immutable picker: hashes is sorted, and owners[i] indexes the
// host at hashes[i]. The entries whose positions have top bits b (the
// position shifted right by shift) are hashes[index[b]:index[b+1]].
type ring struct {
	hashes []uint64
	owners []uint32
	index  []uint32
	shift  uint
	hosts  []*balancer.Host
}

// Pick returns the owner of the first ring entry at or after the key's
// hash, wrapping around. Without a key it returns the owner of a random
// entry.
func (r *ring) Pick(ctx context.Context) *balancer.Host {
	key, ok := balancer.KeyFromContext(ctx)
	if !ok {
		return r.hosts[r.owners[rand.IntN(len(r.owners))]]
	}
	return r.hosts[r.owners[r.search(xhash.String(key))]]
}

// maxWalk bounds how many ring entries PickAvoiding looks at. Every host
// tried means few hosts (a request makes a handful of attempts), so the
// walk meets an untried owner within a few entries whenever there is one;
// the bound only caps a TriedHosts that claims every host, and past it the
// balancer looks through its hosts itself.
const maxWalk = 1024

// PickAvoiding returns the owner of the first ring entry at or after the
// key's hash, wrapping around, that t has not tried — the key goes where
// it would go if the hosts tried had left the ring (exactly so while the
// ring-size bounds leave the other hosts' entries as they are) — or nil
// when none is within maxWalk entries. Without a key the walk starts at a random
// entry. It implements [balancer.AvoidingPicker].
func (r *ring) PickAvoiding(ctx context.Context, t balancer.TriedHosts) *balancer.Host {
	n := len(r.owners)
	var i int
	if key, ok := balancer.KeyFromContext(ctx); ok {
		i = r.search(xhash.String(key))
	} else {
		i = rand.IntN(n)
	}
	last := uint32(len(r.hosts)) // no owner yet
	for range min(n, maxWalk) {
		// Entries of one host often follow each other; ask about each
		// run once.
		if o := r.owners[i]; o != last {
			if h := r.hosts[o]; !t.Tried(h) {
				return h
			}
			last = o
		}
		if i++; i == n {
			i = 0
		}
	}
	return nil
}

// search returns the index of the first entry ≥ x, or 0 past the end.
// The top bits of x select a bucket of a few entries, all in a cache line
// or two, and a binary search finishes within it; if every entry of the
// bucket is below x, the answer is the first entry after it.
func (r *ring) search(x uint64) int {
	b := x >> r.shift
	lo, hi := int(r.index[b]), int(r.index[b+1])
	h := r.hashes[:hi]
	for lo < hi {
		mid := int(uint(lo+hi) >> 1)
		if h[mid] < x {
			lo = mid + 1
		} else {
			hi = mid
		}
	}
	if lo == len(r.hashes) {
		return 0
	}
	return lo
}

// single is the picker for one host.
type single struct{ h *balancer.Host }

func (s single) Pick(context.Context) *balancer.Host { return s.h }
