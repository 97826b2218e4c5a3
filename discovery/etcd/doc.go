// Package etcd is a discovery backend on etcd v3: a [Registrar] that keeps
// each registration under a lease and heals it on its own, and a
// [Resolver] whose watches follow etcd's revisions.
//
// # Layout
//
// Each registration is one key, <prefix><service>/<id> (prefix
// [DefaultPrefix] = "/switchyard/services/" by default), whose value is
// the instance as JSON (see [Encode] and [Decode]) and which is attached
// to a lease with the registrar's TTL. Service names must not contain '/'.
// Anything that writes the same layout — another language, a script — is
// found by the resolver; values that do not decode into a valid instance
// stored under its own key are skipped and logged.
//
// # Failure behaviour
//
// The registrar never gives up: when a lease is lost (etcd restarted,
// restored from an empty data directory, or unreachable for longer than
// the TTL) it grants a new one and puts the key again, with backoff, until
// Deregister. [Registrar.RegistrationErr] implements
// discovery.StateReporter for readiness probes. Each attempt to register
// is bounded by one second and asks for a member that has a leader, so a
// registration begun while a cluster elects a new leader goes through
// about a second after the election rather than when a long timeout ends.
//
// The resolver keeps serving the last known good list while etcd does not
// answer, reporting the error beside it, and re-reads the service when
// etcd returns, when the watch is compacted away, or when the server was
// replaced. After an outage it keeps instances that etcd has lost for a
// grace period ([ResolverConfig].RecoveryGrace) so that registrars have time to put
// them back before any watcher sees them go.
//
// # Clients
//
// Both types take a *clientv3.Client owned by the caller. [ClientConfig]
// returns settings that suit discovery: a quiet logger, a non-blocking
// dial and a reconnect backoff capped at one second. [ClientConfigTLS] and
// [NewClientTLS] add a *tls.Config for a cluster that requires TLS, from a
// real PKI or any other source, and put the endpoints in the https:// form
// under which clientv3 uses it. For development and tests, package
// discovery/etcd/embedded runs a single-node etcd in process, with
// client-certificate authentication if asked.
package etcd
