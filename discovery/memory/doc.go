// Package memory is an in-process service registry: a [Registry] that
// implements both discovery.Registrar and discovery.Resolver, with optional
// per-registration TTLs, a heartbeating [Registrar] that heals lost
// registrations, and switches to simulate a registry outage.
//
// It suits single-binary deployments and, above all, tests: every other
// package in Switchyard uses it as its fake registry. All timing runs on an
// injectable clock, so TTL expiry is tested by advancing a fake clock.
package memory
