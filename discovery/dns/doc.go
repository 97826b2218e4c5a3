// Package dns is a discovery backend that reads instances from DNS, the
// way Kubernetes headless services publish them: SRV records (each
// target's port and weight taken from the record) or A/AAAA records with a
// fixed port. It has no registrar: whatever manages the zone (Kubernetes'
// endpoints controller, an operator, a zone file) is the registry.
//
// A [Resolver] polls each watched name at an interval, with jitter so that
// a fleet of clients does not query in lockstep. A poll that fails (a
// timeout, SERVFAIL, REFUSED, a network error) keeps the last known good
// list and reports the error beside it; an authoritative "no such name"
// (NXDOMAIN) or an empty answer is an empty list.
//
// Queries go to one DNS server over UDP, retried over TCP when the answer
// is truncated. The server is the first nameserver of /etc/resolv.conf
// unless [Config] names one in Server. Names are used as given, fully qualified:
// no search domains are applied, so give the whole name
// (_http._tcp.catalog.shop.svc.cluster.local) or use [KubernetesSRV].
package dns
