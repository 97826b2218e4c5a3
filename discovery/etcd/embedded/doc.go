// Package embedded runs an etcd server inside the current process, for
// development, for tests and for the example shop's registry: code that
// talks to etcd (discovery/etcd) gets a real server with no install step.
// By default the server is a single node; with [Config].InitialCluster it
// is one member of a cluster, which it forms with the other members
// ([StateNew]) or joins once the members API has added it
// ([StateExisting]), as etcd's own --initial-cluster flags do.
//
// It lives apart from discovery/etcd so that a service which only talks to
// an etcd cluster does not link the whole etcd server into its binary.
//
// With [Config].TLS the server speaks TLS and admits only clients whose
// certificate chains to a given CA; it reads its own certificate file at
// every new connection, so a renewed certificate needs no restart.
//
// The server is quiet by default: its zap logger discards everything, so
// tests and launchers print nothing when it starts or stops. A single node
// has no redundancy: in production run three or five members, embedded or
// etcd's own binary (see docs/discovery.md).
package embedded
