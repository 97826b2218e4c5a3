// Package leastrequest is the least-request [balancer.Policy]: each pick
// draws two distinct hosts at random and takes the one with fewer calls in
// flight ([balancer.Host.InFlight]), the "power of two choices".
//
// Comparing two random hosts instead of scanning for the global minimum
// keeps a pick O(1) and lock-free, and avoids the herd behaviour of always
// choosing the least loaded host, which every client sees at once; yet it
// shortens the longest queue exponentially compared with a random choice.
//
// Ties go to either host with equal probability. With a single host the
// picker returns it; with two, the less loaded of the two always wins.
// Both indices come from one call to math/rand/v2's top-level Uint64.
package leastrequest
