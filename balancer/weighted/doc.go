// Package weighted is the weighted [balancer.Policy]: each host receives a
// share of picks proportional to its instance's
// [discovery.Instance.EffectiveWeight] (weight 0 counts as 1; weights above
// [discovery.MaxWeight] count as MaxWeight).
//
// Build chooses one of three structures for each snapshot:
//
//   - Equal weights: plain rotation through the hosts in ID order, which
//     is exactly what smooth weighted round robin yields in that case.
//   - Smooth weighted round robin, as in nginx, when the schedule is short:
//     after dividing the weights by their greatest common divisor, one
//     period of the schedule has sum(weights) entries. When that is at most
//     [MaxScheduleLen] (4096) entries, and building it takes at most 2^18
//     steps (hosts × entries, which keeps a rebuild well under a
//     millisecond), the whole period is computed once and picks walk it
//     with an atomic counter. Every host gets exactly its share in each
//     period, spread out rather than in bursts: weights 5, 1, 1 give
//     a a b a c a a.
//   - Otherwise, Vose's alias table: one column per host, each column
//     holding a threshold and an alias, built in exact integer arithmetic.
//     A pick draws one 64-bit random number, whose high part chooses the
//     column and low part decides between the column's host and its alias,
//     so the shares are exact in expectation (to within about n/2^64) but
//     random in any window.
//
// Each snapshot starts its schedule or rotation at a random offset, so that
// many clients rebuilt at the same moment do not send their first calls to
// the same host. Picks neither lock nor allocate.
package weighted
