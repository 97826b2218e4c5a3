// Package memory is an in-process service registry: a [Registry] that
// implements both discovery.Registrar and discovery.Resolver, with optional
// per-registration TTLs, a heartbeating [Registrar] that heals lost
// registrations, and switches to simulate a registry outage.
//
// It suits single-binary deployments and, above all, tests: every other
// package in Switchyard uses it as its fake registry. Its TTLs and
// renewals run on time.AfterFunc, so inside a testing/synctest bubble they
// run on the bubble's fake clock: a test lets a TTL pass with time.Sleep
// and synctest.Wait, in no wall-clock time.
package memory
