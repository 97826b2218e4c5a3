package balancer

import (
	"context"
	"sort"
)

// TriedHosts is implemented by a request value that may be sent more than
// once and remembers which hosts its earlier attempts went to: a retried
// request of transport/gateway or of the client chain. [Balancer.Call]
// asks it about the host the policy picked, and when the request has
// already tried that host while an eligible host it has not tried exists,
// the call goes to one of those instead: a retry after a failure, a
// breaker's refusal or an attempt timeout lands on another instance
// whenever there is one, whatever the policy (Envoy's previous_hosts
// retry predicate). When every eligible host has been tried, the
// policy's pick stands.
//
// Call finds the interface with one type assertion on the request; a
// request that does not implement it costs nothing more. One that does
// is asked once per call, and again for each host considered instead
// only when the first pick was tried, so a first attempt costs one call
// of Tried that answers false. Tried runs on the calling goroutine and
// should neither lock nor allocate.
type TriedHosts interface {
	// Tried reports whether an earlier attempt of this request was sent
	// to h.
	Tried(h *Host) bool
}

// AvoidingPicker is implemented by a [Picker] that can choose among the
// hosts a request has not tried yet by its own rule. The balancer uses it
// for a retry whose first pick was already tried; a picker without it is
// asked to pick again, which suits policies whose picks vary (rotation,
// random draws) but not those that map a key to the same host every time.
// The consistent-hash policies implement it: ringhash walks the ring on
// from the key, maglev its lookup table.
type AvoidingPicker interface {
	Picker
	// PickAvoiding returns one of the picker's hosts that t has not tried,
	// chosen as the policy would choose among those, or nil when it finds
	// none; the balancer then looks through the eligible hosts itself. It
	// must be safe for concurrent use and should not allocate.
	PickAvoiding(ctx context.Context, t TriedHosts) *Host
}

// repicks is how many more picks a retry asks of a picker without
// PickAvoiding before it takes the next untried host in ID order. With
// three hosts of which the one tried wins every pick it is drawn into, as
// a breaker-refused host does under P2C when failures carry no penalty,
// a pick avoids it one time in three, so eight more picks leave the
// choice to the policy in 96 % of such retries.
const repicks = 8

// untried returns a host of s that t has not tried, given h, the tried
// host the picker chose: the AvoidingPicker's choice, or the first of up
// to repicks more picks that is untried, or else the first untried host
// after h in ID order. It returns h when t has tried every eligible host.
func (s *snapshot) untried(ctx context.Context, t TriedHosts, h *Host) *Host {
	if ap, ok := s.picker.(AvoidingPicker); ok {
		if a := ap.PickAvoiding(ctx, t); a != nil {
			return a
		}
	} else {
		for range repicks {
			if a := s.picker.Pick(ctx); !t.Tried(a) {
				return a
			}
		}
	}
	// The eligible hosts are sorted by ID, which is unique in a balancer.
	n := len(s.eligible)
	i := sort.Search(n, func(i int) bool { return s.eligible[i].Instance.ID >= h.Instance.ID })
	for k := 1; k <= n; k++ {
		if a := s.eligible[(i+k)%n]; !t.Tried(a) {
			return a
		}
	}
	return h
}
