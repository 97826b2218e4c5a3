package balancer

import "math/bits"

// RandomPair maps r, a uniformly random word (math/rand/v2's Uint64()), to
// two distinct indices below n that form a uniformly random ordered pair:
// the two choices of a power-of-two-choices picker (balancer/leastrequest,
// balancer/p2c). Because the pair is ordered at random, a picker that
// keeps the first on a tie breaks ties at random. n must be at least 2.
//
// r is an argument, not drawn inside, so that RandomPair is a pure
// computation: small enough to be inlined into a picker, and testable
// with chosen words.
func RandomPair(r uint64, n int) (i, j int) {
	// The high half of r·n picks the first, and the low half, itself
	// uniform, picks the second among the n-1 others, skipping the first.
	// The skip is arithmetic ((i-k-1)>>63 is 1 exactly when k ≥ i, both
	// being below 2^63) rather than a branch that a predictor would miss
	// half the time.
	hi, lo := bits.Mul64(r, uint64(n))
	k, _ := bits.Mul64(lo, uint64(n-1))
	return int(hi), int(k + (hi-k-1)>>63)
}
