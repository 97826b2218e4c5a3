// Package p2c is the peak-EWMA power-of-two-choices [balancer.Policy], the
// latency-aware balancer of Finagle and Linkerd.
//
// Each pick draws two distinct hosts at random ([balancer.RandomPair], as
// balancer/leastrequest does) and takes the cheaper one,
// where a host's cost is its latency estimate multiplied by one more than
// its calls in flight:
//
//	cost = (latency + 1ns) × (in-flight + 1)
//
// The latency estimate is a peak-EWMA that the policy keeps for each host
// itself (attached with [balancer.Host.SetPolicyData] when a picker is
// built, and fed by the balancer through [balancer.Observer] as each call
// ends): a sample above the average replaces it at once,
// so a host that slows down is avoided after its first slow answer, while
// samples below it, and the passing of time without samples, pull it down
// exponentially. The decay is set by a half-life (default 10s, see
// [WithHalfLife]): after one half-life without samples the estimate has
// halved, so a host that was avoided becomes cheap enough to be probed
// again after a few half-lives, and recovers if it answers quickly. The
// added nanosecond keeps in-flight counts decisive once estimates have
// decayed to nothing.
//
// Rules for hosts the policy knows little about:
//
//   - A host with no latency sample yet costs 0 while it has no call in
//     flight, so a new host is tried at once; while its first call is in
//     flight it costs more than any measured host (Finagle's penalty), so
//     it receives one call at a time until its first answer.
//   - A call that fails with a server-health failure is recorded as taking
//     at least the failure penalty (default 1s, see [WithFailurePenalty]):
//     otherwise a host that fails fast would look like the fastest host and
//     draw traffic into a black hole. Calls the caller cancelled teach the
//     policy nothing (the balancer does not report them).
//
// Picks neither lock nor allocate and do not read the system clock: they
// read the balancer's coarse clock ([balancer.Host.Now], one atomic load)
// and one random word from math/rand/v2.
package p2c
