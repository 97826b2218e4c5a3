// Package roundrobin is the round-robin [balancer.Policy]: each pick takes
// the next host in ID order, so every host receives exactly its share.
//
// Each snapshot starts its rotation at a random offset, so that many
// clients rebuilt at the same moment do not all send their first call to
// the same host.
package roundrobin
