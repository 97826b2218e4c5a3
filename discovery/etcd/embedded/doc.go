// Package embedded runs a single-node etcd server inside the current
// process, for development, for tests and for the example shop's registry:
// code that talks to etcd (discovery/etcd) gets a real server with no
// install step.
//
// It lives apart from discovery/etcd so that a service which only talks to
// an etcd cluster does not link the whole etcd server into its binary.
//
// The server is quiet by default: its zap logger discards everything, so
// tests and launchers print nothing when it starts or stops. A single node
// has no redundancy; run a real cluster in production (see docs/discovery.md).
package embedded
