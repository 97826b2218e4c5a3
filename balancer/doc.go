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
package balancer
