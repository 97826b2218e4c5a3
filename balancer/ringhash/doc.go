// Package ringhash is the consistent-hashing [balancer.Policy] on a hash
// ring, in the manner of Ketama and Envoy's ring_hash: calls that carry
// the same key go to the same instance, and when instances come and go
// only the keys of the instances concerned move.
//
// # Keys
//
// The key comes from the call's context, set with [balancer.ContextWithKey] (a
// user, cart or session ID). It is hashed with xhash.String, which gives
// the same 64-bit value in every process, so separate clients with the
// same membership send a key to the same instance without talking to each
// other. A call without a key goes to the owner of a ring entry chosen
// uniformly at random (math/rand/v2), so keyless calls spread over the
// hosts in proportion to their weights: uniformly when weights are equal.
//
// # The ring
//
// Each host gets c entries on a ring of 64-bit positions. Entry j of a
// host sits at a position derived from the hash of its instance ID (not
// its address, which may change) and j, so a host's positions are the
// same in every process and in every snapshot. A pick hashes the key and
// takes the first entry at or after it, wrapping round at the end. An
// index on the positions' top bits narrows the search to a bucket of
// about four to eight entries, so a pick costs two or three cache misses
// whatever the ring's size, with no lock and no allocation.
//
// A host of average weight gets [DefaultVirtualNodes] (256) entries,
// raised so that the ring holds at least the minimum ring size (1,024) and
// cut so that it holds at most the maximum (2^17); see [WithVirtualNodes],
// [WithMinRingSize] and [WithMaxRingSize]. Other hosts get entries in
// proportion to their weight (Instance.EffectiveWeight, capped at 2^31)
// over the mean weight, and every host gets at least one.
//
// Envoy instead scales the ring so that the lightest host gets just
// enough entries for the minimum ring size. Then every host's count
// depends on how many hosts there are, and removing one host adds entries
// to all the others, which takes keys from their neighbours: removing one
// of ten hosts moves 17% of keys instead of 10%, one of five 29% instead
// of 20% (measured with this package's hash). Here, with equal
// weights, a host's count changes only while a ring-size bound binds (by
// default below four hosts and above 512), so a removal moves exactly the
// removed host's keys and an addition moves keys only to the newcomer.
// With unequal weights the mean weight shifts with the membership, and
// with it every count a little.
//
// # Retries
//
// A retried call whose request has already tried the key's owner
// ([balancer.TriedHosts]: the gateway's and the client chain's retries)
// walks the ring on from the key's position to the first entry of a host
// it has not tried. Affinity bends rather than breaks: the key goes where
// it would go if the hosts tried left the ring (exactly so while the
// ring-size bounds leave the other hosts' entries alone), so every caller
// sends it to the same second host, whose cache warms for it, and the
// keys of a failing host spread over the others as they would on its
// removal instead of piling onto one neighbour. Keys whose owner was not
// tried stay with it, and avoidance lasts for one request only: the next
// request for the key goes to its owner again, until outlier detection
// ejects it.
//
// # Balance
//
// A ring is lumpy. A host's share is the sum of the arcs in front of its
// c entries, whose relative spread is about 1/√c: 6% at 256 entries, so
// among ten hosts the busiest typically gets 10–15% more than its due
// (12% in this package's tests, which allow 4/√c). More entries smooth
// the load at 12 bytes each. The maximum ring size trades balance for
// memory at scale: 10,000 hosts get 13 entries each, a spread near 30%.
// For large pools, or where balance matters more than the ring's
// simplicity, use balancer/maglev, whose shares are within one table slot
// of due.
//
// # Cost
//
// An entry takes 12 bytes, an 8-byte position and a 4-byte host index in
// parallel slices, plus at most one byte of the search index (4 bytes a
// bucket). With the defaults the ring holds 1,026 entries for 3 hosts (13
// kB), 25,600 for 100 (320 kB) and 130,000 for 10,000 (1.6 MB, 163 bytes
// a host). Building sorts the positions with one counting
// pass on their top bits, linear in the ring size. Hosts that share an
// instance ID count as one, and the first of them takes the share.
//
// Build returns an immutable picker, safe for concurrent use.
package ringhash
