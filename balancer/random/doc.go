// Package random is the uniform random [balancer.Policy]: each pick takes
// a host chosen uniformly at random, independently of every other pick.
//
// Random needs no shared state at all, so it scales perfectly across
// goroutines, and over many picks every host receives the same share. Its
// weakness is variance: over short windows some hosts see more calls than
// others, and it ignores load and latency. Prefer
// balancer/leastrequest or balancer/p2c when hosts differ.
//
// Random numbers come from the top-level functions of math/rand/v2, whose
// per-thread generators need no lock; no *rand.Rand is shared.
package random
