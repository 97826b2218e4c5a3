// Package dnstest runs an in-process DNS server on 127.0.0.1 for tests:
// authoritative answers from records the test sets in zone-file syntax,
// over UDP and TCP on one port, with failure modes (SERVFAIL, REFUSED, no
// answer, truncation) switched on at run time. The dns package's tests and
// the shop's DNS registry tests use it, so that discovery over DNS is tested
// against a real server rather than a fake resolver.
package dnstest
