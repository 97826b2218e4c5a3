// Package balancer spreads calls over the instances of a service and learns
// from every answer.
//
// A [Balancer] follows a discovery.Watch (or is fed with [Balancer.Update]),
// keeps one [Host] per instance, and on each membership or health change
// builds an immutable snapshot that it publishes through an atomic pointer.
// Picking reads that snapshot: no lock, no allocation. Every call reports
// its outcome back to its Host, whose lock-free statistics (in-flight
// count, consecutive failures, successes and failures) feed the policy and
// outlier detection (consecutive failures, success rate, failure
// percentage), which ejects misbehaving hosts from the snapshot for a
// growing time. A policy that learns from answers implements [Observer]
// and keeps its own per-host state (p2c's peak-EWMA latency) with
// [Host.SetPolicyData]; [RandomPair] is the two-choice draw that
// leastrequest and p2c share.
//
// Policies are subpackages, each implementing [Policy]:
//
//	balancer/roundrobin   strict rotation
//	balancer/random       uniform random choice
//	balancer/weighted     smooth weighted round robin, alias table when large
//	balancer/leastrequest power of two choices on in-flight requests
//	balancer/p2c          peak-EWMA power of two choices (Finagle, Linkerd)
//	balancer/ringhash     consistent hashing on a ring (Ketama)
//	balancer/maglev       consistent hashing with Maglev's lookup table
//
// A Balancer is built by [New] from a policy and a [Config] whose zero
// value is a working default. It satisfies go-kit's lb.Balancer, and its
// [Balancer.Call] method is an endpoint.Endpoint that picks, calls and
// reports. Consistent-hash policies read the key that
// [ContextWithKey] puts in the call's context.
//
// # Retries go elsewhere
//
// A request value that implements [TriedHosts] tells Call which hosts
// its earlier attempts went to. When the policy picks one of those and
// an eligible host the request has not tried exists, Call sends it there
// instead, as Envoy's previous_hosts retry predicate does: a retry after
// a failure or a breaker's refusal never returns to the instance that
// just failed while another is up, whatever the policy, even when that
// instance looks best to it (a breaker that refuses at once with nothing
// in flight, or the owner of a key). The policy still chooses among the
// hosts left: a picker that implements [AvoidingPicker] chooses itself
// (ringhash and maglev walk on from the key, so a key's second choice is
// the same everywhere); any other is asked to pick again, up to eight
// times, and if every pick is a tried host the call takes the next
// untried host in ID order. When every eligible host has been tried, the
// policy's pick stands. transport/gateway and the client chain mark
// their retried requests; a request that does not implement TriedHosts
// costs Call one failed type assertion and nothing else.
//
// Avoidance works within one request. Across requests, a call that a
// local guard refused (outcome.Skipped: an open breaker) teaches an
// [Observer] policy a failure — P2C records its failure penalty as the
// call's latency — while outlier detection ignores it, so first attempts
// also steer away from a refusing instance. Neither is enough alone: the
// penalty is one latency among others, which a busy healthy instance's
// latency × in-flight can outweigh, and policies without a load signal
// have none; avoidance without the penalty would spend a retry on every
// request the refusing instance was picked for.
package balancer
