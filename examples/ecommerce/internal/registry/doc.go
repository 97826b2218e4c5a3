// Package registry connects a process to the shop's etcd registry: [Connect]
// takes an etcd://host:port URL and returns one etcd client shared by a
// registrar (for the process's own instances) and a resolver (for the
// services it calls), over mutual TLS when given a TLS configuration
// ([WithTLS]).
package registry
