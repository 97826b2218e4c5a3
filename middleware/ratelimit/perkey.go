package ratelimit

import (
	"context"
	"hash/maphash"
	"strings"
	"sync"

	"golang.org/x/time/rate"
)

// A [PerKey] limiter has up to maxShards shards of at least minShardKeys
// keys each: small shards would make eviction too eager.
const (
	maxShards    = 64
	minShardKeys = 64
)

// PerKey keeps one token bucket per key, all with the same rate and burst,
// and at most a fixed number of keys (see [WithMaxKeys]). Create it with
// [NewPerKey]; it is safe for concurrent use.
//
// Keys are spread over up to 64 shards (of at least 64 keys), each with its own mutex, map and
// slot array. A shard that is full makes room with a clock sweep: a new
// key starts unmarked, every later use marks it, and the sweep hand clears
// marks as it passes and evicts the first unmarked key it meets. So a key
// used once (a scan, a flood of made-up keys) goes first, and a key used
// again before the hand comes round survives.
type PerKey struct {
	r      rate.Limit
	burst  int
	cfg    config
	seed   maphash.Seed
	shards []keyShard
}

var _ Limiter = (*PerKey)(nil)

type keyShard struct {
	mu    sync.Mutex // guards every field below and the buckets in slots
	idx   map[string]int32
	slots []keySlot
	hand  int
	max   int
	_     [24]byte // keep neighbouring shards' mutexes off one cache line
}

type keySlot struct {
	key  string
	lim  *rate.Limiter
	used bool
}

// NewPerKey returns a per-key limiter: each key may make r requests per
// second on average and bursts of up to burst requests. It panics if r is
// not positive or burst is below 1.
func NewPerKey(r rate.Limit, burst int, opts ...Option) *PerKey {
	validate(r, burst)
	p := &PerKey{r: r, burst: burst, cfg: newConfig(opts), seed: maphash.MakeSeed()}
	n := min(maxShards, max(1, p.cfg.maxKeys/minShardKeys))
	p.shards = make([]keyShard, n)
	for i := range p.shards {
		s := &p.shards[i]
		s.max = p.cfg.maxKeys / n
		if i < p.cfg.maxKeys%n {
			s.max++
		}
		s.idx = make(map[string]int32)
	}
	return p
}

// Acquire implements [Limiter] for key.
func (p *PerKey) Acquire(ctx context.Context, key string) error {
	s := &p.shards[maphash.String(p.seed, key)%uint64(len(p.shards))]
	now := p.cfg.clock.Now()
	s.mu.Lock()
	lim := s.bucket(key, p)
	if lim.AllowN(now, 1) {
		s.mu.Unlock()
		return nil
	}
	if !p.cfg.wait {
		d := retryAfter(lim, now)
		s.mu.Unlock()
		return p.cfg.refuse(ctx, key, d, "rate_exceeded")
	}
	r := lim.ReserveN(now, 1)
	s.mu.Unlock()
	return p.cfg.wait1(ctx, key, r, now)
}

// bucket returns key's bucket, creating it (and evicting another key if
// the shard is full). Called with s.mu held.
func (s *keyShard) bucket(key string, p *PerKey) *rate.Limiter {
	if i, ok := s.idx[key]; ok {
		sl := &s.slots[i]
		sl.used = true
		return sl.lim
	}
	key = strings.Clone(key) // do not pin a larger string the key was cut from
	lim := rate.NewLimiter(p.r, p.burst)
	if len(s.slots) < s.max {
		if len(s.slots) == cap(s.slots) {
			grown := make([]keySlot, len(s.slots), min(max(2*cap(s.slots), 8), s.max))
			copy(grown, s.slots)
			s.slots = grown
		}
		s.idx[key] = int32(len(s.slots))
		s.slots = append(s.slots, keySlot{key: key, lim: lim})
		return lim
	}
	for {
		sl := &s.slots[s.hand]
		if !sl.used {
			break
		}
		sl.used = false
		s.hand = (s.hand + 1) % len(s.slots)
	}
	sl := &s.slots[s.hand]
	delete(s.idx, sl.key)
	*sl = keySlot{key: key, lim: lim}
	s.idx[key] = int32(s.hand)
	s.hand = (s.hand + 1) % len(s.slots)
	return lim
}

// Len returns the number of keys held.
func (p *PerKey) Len() int {
	n := 0
	for i := range p.shards {
		s := &p.shards[i]
		s.mu.Lock()
		n += len(s.slots)
		s.mu.Unlock()
	}
	return n
}
