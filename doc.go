// Package switchyard is a library for building Go microservices that keep
// working when their neighbours fail.
//
// It supplies the pieces between "I have a handler" and "I have a fleet":
// registering an instance and finding the others, spreading calls over
// them, and failing well. Every piece is a go-kit endpoint, middleware,
// sd.Instancer or lb.Balancer, so a team already on go-kit adopts it one
// package at a time and pays only for what it imports.
//
// # Package map
//
// Imports point one way, from the top of this list to the bottom:
//
//	examples/ecommerce    a complete shop composed from everything below
//	transport/...         HTTP server, client factory, codec, health; gateway
//	client                the client chain as one value (client.New)
//	middleware/...        circuitbreaker, ratelimit, concurrency, retry, hedge,
//	                      deadline, tracing, metrics, logging, auth, fault
//	balancer/...          roundrobin, random, weighted, leastrequest, p2c,
//	                      ringhash, maglev (each implements balancer.Policy)
//	balancer              snapshots, outcome feedback, outlier detection
//	discovery/...         memory, static, etcd, dns backends
//	discovery             Instance, Registrar, Resolver, Watch, Feed
//	outcome               the one rule for "was this the server's fault?"
//	internal/...          clock, hashing; not importable by users
//
// # The life of one call
//
// A Resolver's Watch pushes complete snapshots of a service's instances to
// a balancer.Balancer, which keeps one Host per instance and publishes an
// immutable picker through an atomic pointer. A call picks a host without
// locking, runs through the host's endpoint, and reports its latency and
// outcome; the outcome package classifies the error, the policy learns the
// latency, and outlier detection ejects a host that keeps failing. See
// docs/architecture.md for the full picture.
//
// # Service lifecycle
//
// This package's [App] runs a service process: it listens, registers the
// real address, serves, and on SIGTERM drains without dropping a request
// (readiness fails, the instance is deregistered, clients are given time
// to notice, in-flight requests finish). See docs/transport.md.
package switchyard
