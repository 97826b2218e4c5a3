package maglev

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"math/bits"
	"math/rand/v2"
	"slices"

	"github.com/switchyard/switchyard/balancer"
	"github.com/switchyard/switchyard/internal/xhash"
)

// DefaultTableSize is the default lookup-table size: a prime, 256 KiB of
// table (4 bytes a slot). It keeps shares within about 1% of each other up
// to about 650 hosts of equal weight.
const DefaultTableSize = 65537

// MaxTableSize bounds [WithTableSize]: 2^24 slots, 64 MiB of table.
const MaxTableSize = 1 << 24

// maxWeight caps instance weights so that turn arithmetic cannot
// overflow; larger weights count as maxWeight.
const maxWeight = 1 << 31

// ErrTableSize is returned by [New] when the table size is not a prime in
// [2, MaxTableSize].
var ErrTableSize = errors.New("maglev: table size must be a prime")

// Option configures a [Policy].
type Option func(*Policy)

// WithTableSize sets the number of slots in the lookup table. m must be a
// prime between 2 and [MaxTableSize]; choose m ≥ 100 × the number of
// hosts to keep each host's share within 1% of its due. Default
// [DefaultTableSize], which zero also selects. The table grows on its own only when hosts outnumber
// its slots; see the package documentation.
func WithTableSize(m int) Option { return func(p *Policy) { p.size = m } }

// Policy is the Maglev policy. The zero value uses the defaults; other
// configurations come from [New], which validates them. A Policy is
// immutable and safe for concurrent use.
type Policy struct {
	size int // 0 means DefaultTableSize
}

var (
	_ balancer.Policy         = Policy{}
	_ balancer.AvoidingPicker = (*table)(nil)
)

// New returns a Maglev policy configured by opts, or an error wrapping
// [ErrTableSize].
func New(opts ...Option) (Policy, error) {
	var p Policy
	for _, o := range opts {
		o(&p)
	}
	if m := p.tableSize(); m < 2 || m > MaxTableSize || !isPrime(uint64(m)) {
		return Policy{}, fmt.Errorf("%w in [2, %d], got %d", ErrTableSize, MaxTableSize, m)
	}
	return p, nil
}

func (p Policy) tableSize() int {
	if p.size == 0 {
		return DefaultTableSize
	}
	return p.size
}

// Name returns "maglev".
func (Policy) Name() string { return "maglev" }

// Build returns a picker over a lookup table filled from hosts. See the
// package documentation for how the table is filled.
func (p Policy) Build(hosts []*balancer.Host) balancer.Picker {
	// Hosts sharing an ID share a permutation; letting both take turns
	// would give that ID two shares. Only the first of each ID takes part.
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
	m := uint64(p.tableSize())
	for m < uint64(len(uniq)) {
		m = nextPrime(2 * m)
	}
	t := &table{slots: make([]uint32, m), m: m, hosts: hosts}
	t.fill(hosts, uniq)
	return t
}

// cursor walks one host's permutation of the slots: offset, offset+skip,
// offset+2·skip, … modulo m. m is prime and 1 ≤ skip < m, so the walk
// visits every slot once before it repeats.
type cursor struct {
	pos, skip, w uint64
	host         uint32
}

func (c *cursor) advance(m uint64) {
	c.pos += c.skip
	if c.pos >= m {
		c.pos -= m
	}
}

// fill runs Maglev's population: hosts take turns, and on its turn a host
// claims the next slot of its permutation that nobody holds yet. A host of
// weight w takes a turn in round r when ⌊(r+1)·w/wmax⌋ > ⌊r·w/wmax⌋: every
// round for the heaviest hosts, proportionally less often for the rest.
// Within a round, heavier hosts go first, and hosts of equal weight go in
// ID order; with equal weights this is Maglev's plain round robin.
//
// Hosts of equal weight share a schedule, so the turns are kept per
// weight: a min-heap of weight groups ordered by their next round, with
// one heap step per group and round rather than per turn.
func (t *table) fill(hosts []*balancer.Host, uniq []uint32) {
	m := t.m
	cur := make([]cursor, len(uniq))
	var wmax uint64
	equal := true
	for k, i := range uniq {
		h1 := xhash.String(hosts[i].Instance.ID)
		h2 := xhash.Mix(h1 + golden)
		w := weight(hosts[i])
		cur[k] = cursor{pos: h1 % m, skip: h2%(m-1) + 1, host: i, w: w}
		if k > 0 && w != cur[0].w {
			equal = false
		}
		wmax = max(wmax, w)
	}
	if !equal {
		slices.SortFunc(cur, func(a, b cursor) int {
			if c := cmp.Compare(b.w, a.w); c != 0 {
				return c
			}
			return cmp.Compare(a.host, b.host)
		})
	}
	var q groups
	for lo := 0; lo < len(cur); {
		hi := lo + 1
		for hi < len(cur) && cur[hi].w == cur[lo].w {
			hi++
		}
		q = append(q, group{round: nextRound(0, cur[lo].w, wmax), w: cur[lo].w, lo: lo, hi: hi})
		lo = hi
	}
	q.init()

	// taken is a bitmap of claimed slots: m/8 bytes, which stays in cache
	// while the walks probe it, unlike the 4-byte slots themselves.
	taken := make([]uint64, (m+63)/64)
	for filled := uint64(0); ; {
		g := &q[0]
		for k := g.lo; k < g.hi; k++ {
			c := &cur[k]
			for taken[c.pos>>6]&(1<<(c.pos&63)) != 0 {
				c.advance(m)
			}
			taken[c.pos>>6] |= 1 << (c.pos & 63)
			t.slots[c.pos] = c.host
			c.advance(m)
			if filled++; filled == m {
				return
			}
		}
		g.turns++
		g.round = nextRound(g.turns, g.w, wmax)
		q.down(0)
	}
}

// nextRound returns the round of the turn after a host of weight w has
// had turns turns: the least r with ⌊(r+1)·w/wmax⌋ > turns.
func nextRound(turns, w, wmax uint64) uint64 {
	// (turns+1)·wmax < 2^64: turns ≤ m ≤ 2^32 and wmax ≤ 2^31.
	return ((turns+1)*wmax+w-1)/w - 1
}

// group is the hosts of one weight, cur[lo:hi], and their schedule.
type group struct {
	round, turns, w uint64
	lo, hi          int
}

// groups is a min-heap ordered by next round, then weight (heaviest
// first, which is lowest lo).
type groups []group

func (q groups) less(i, j int) bool {
	return q[i].round < q[j].round || q[i].round == q[j].round && q[i].lo < q[j].lo
}

func (q groups) init() {
	for i := len(q)/2 - 1; i >= 0; i-- {
		q.down(i)
	}
}

func (q groups) down(i int) {
	for {
		l := 2*i + 1
		if l >= len(q) {
			return
		}
		c := l
		if r := l + 1; r < len(q) && q.less(r, l) {
			c = r
		}
		if !q.less(c, i) {
			return
		}
		q[i], q[c] = q[c], q[i]
		i = c
	}
}

func weight(h *balancer.Host) uint64 {
	return uint64(min(h.Instance.EffectiveWeight(), maxWeight))
}

// golden is 2^64 divided by the golden ratio; it derives the second hash
// (the skip) from the first.
const golden = 0x9e3779b97f4a7c15

// table is an immutable picker: slots[s] indexes the host that owns slot s.
type table struct {
	slots []uint32
	m     uint64
	hosts []*balancer.Host
}

// Pick returns the owner of the key's slot. The 64-bit hash is reduced to a
// slot by a multiply-high, (hash × m) / 2^64, which like hash mod m spreads
// uniform hashes evenly over the slots but costs a multiplication instead
// of a division. Without a key it returns the owner of a random slot.
func (t *table) Pick(ctx context.Context) *balancer.Host {
	key, ok := balancer.KeyFromContext(ctx)
	var x uint64
	if ok {
		x = xhash.String(key)
	} else {
		x = rand.Uint64()
	}
	s, _ := bits.Mul64(x, t.m)
	return t.hosts[t.slots[s]]
}

// maxWalk bounds how many slots PickAvoiding looks at. Every host tried
// means few hosts (a request makes a handful of attempts), so the walk
// meets an untried owner within a few slots whenever there is one; the
// bound only caps a TriedHosts that claims every host, and past it the
// balancer looks through its hosts itself.
const maxWalk = 1024

// PickAvoiding returns the owner of the first slot at or after the key's
// slot, wrapping around, that t has not tried, or nil when none is within
// maxWalk slots. Without a key the walk starts at a random slot. The table
// interleaves its owners, so the keys of a tried host spread over all the
// others, and each key's second choice is the same in every process. It implements [balancer.AvoidingPicker].
func (t *table) PickAvoiding(ctx context.Context, tried balancer.TriedHosts) *balancer.Host {
	key, ok := balancer.KeyFromContext(ctx)
	var x uint64
	if ok {
		x = xhash.String(key)
	} else {
		x = rand.Uint64()
	}
	s, _ := bits.Mul64(x, t.m)
	last := uint32(len(t.hosts)) // no owner yet
	for range min(t.m, maxWalk) {
		if o := t.slots[s]; o != last {
			if h := t.hosts[o]; !tried.Tried(h) {
				return h
			}
			last = o
		}
		if s++; s == t.m {
			s = 0
		}
	}
	return nil
}

// single is the picker for one host.
type single struct{ h *balancer.Host }

func (s single) Pick(context.Context) *balancer.Host { return s.h }

// isPrime reports whether x is prime, by trial division: x ≤ 2^24 here
// and in nextPrime's practical range, so at most a few thousand divisions.
func isPrime(x uint64) bool {
	if x < 2 {
		return false
	}
	if x%2 == 0 {
		return x == 2
	}
	for d := uint64(3); d*d <= x; d += 2 {
		if x%d == 0 {
			return false
		}
	}
	return true
}

// nextPrime returns the least prime ≥ x.
func nextPrime(x uint64) uint64 {
	for !isPrime(x) {
		x++
	}
	return x
}
