// Package maglev is the consistent-hashing [balancer.Policy] of Google's
// Maglev load balancer (Eisenbud et al., NSDI 2016), as in Envoy's maglev
// policy: calls that carry the same key go to the same instance, through a
// lookup table that gives every host its due share to within one slot.
//
// # Keys
//
// The key comes from the call's context, set with [balancer.ContextWithKey] (a
// user, cart or session ID). It is hashed with xhash.String, which gives
// the same 64-bit value in every process, so separate clients with the
// same membership send a key to the same instance without talking to each
// other. A pick reduces the hash to a slot, s = ⌊hash·m / 2^64⌋, and
// returns the slot's owner: constant time, no lock, no allocation. A call
// without a key goes to the owner of a slot chosen uniformly at random
// (math/rand/v2), so keyless calls spread over the hosts in proportion to
// their weights: uniformly when weights are equal.
//
// # The table
//
// The table has m slots, m prime ([DefaultTableSize] 65,537; see
// [WithTableSize]). Each host walks its own permutation of the slots,
// offset, offset+skip, offset+2·skip, … mod m, where offset and skip come
// from two hashes of its instance ID (not its address, which may change),
// so the walk is the same in every process. Hosts take turns; on its turn
// a host claims the next slot on its walk that nobody holds. With equal
// weights the turns go round robin, and every host ends with ⌊m/n⌋ or
// ⌈m/n⌉ slots. With weights (Instance.EffectiveWeight, capped at 2^31),
// the heaviest hosts take a turn every round and a host of weight w one
// in every wmax/w rounds, as in Envoy, so shares follow weights to within
// a slot or so.
//
// When a host leaves, its slots go to the hosts that rank them next, and a
// few other slots change hands as the walks shift: removing one of ten
// hosts moves its 10% of keys plus about 0.2% more; one of fifty, its 2%
// plus about 0.5% (measured in this package's tests with 100,000 keys).
// With unequal weights, a change in the heaviest weight changes every
// host's turn rate, and more keys move.
//
// # Retries
//
// A retried call whose request has already tried the key's owner
// ([balancer.TriedHosts]: the gateway's and the client chain's retries)
// takes the owner of the next slot that it has not tried. The slots
// interleave their owners, so that second choice is one fixed host for
// the key in every process, and the keys of a failing host spread over
// all the others. Keys whose owner was not tried stay with it, and
// avoidance lasts for one request only.
//
// # Table size
//
// A host's share is off its due by at most one slot, n/m relative with n
// equal hosts, so choose m ≥ 100·n for shares within 1%. The table does
// not grow as hosts join, because a new m reshuffles almost every key. The
// exception is a pool with more hosts than slots, where some hosts would
// get no slot at all: then the table doubles to the next prime until it
// has a slot for every host, and keys move as they would between
// unrelated tables.
//
// # Cost
//
// The table takes 4 bytes a slot, 256 KiB at the default size, whatever
// the number of hosts. Building it takes about m·ln m probes of a bitmap
// of claimed slots (m/8 bytes, which stays in cache): 1 to 3 ms at the
// default size from 3 to 10,000 hosts, with or without weights (hosts of
// one weight share a schedule, so weights cost a step per distinct weight
// and round). Hosts that share an instance ID count as one, and the first
// of them takes the share.
//
// Build returns an immutable picker, safe for concurrent use.
package maglev
