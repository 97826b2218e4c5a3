package ratelimit

import (
	"strings"
	"sync"

	"golang.org/x/time/rate"
)

// A per-key [Limiter] has up to maxShards shards of at least minShardKeys
// keys each: small shards would make eviction too eager.
const (
	maxShards    = 64
	minShardKeys = 64
)

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

// bucket returns key's bucket, creating it (and evicting another key if
// the shard is full). Called with s.mu held.
func (s *keyShard) bucket(key string, p *Limiter) *rate.Limiter {
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
