package dns

import (
	"time"

	"github.com/switchyard/switchyard/internal/clock"

	mdns "github.com/miekg/dns"

	"github.com/switchyard/switchyard/discovery"
)

// InstancesFromAnswer exposes the conversion of an SRV answer (with its
// additional section, no further queries) to the fuzz tests.
func InstancesFromAnswer(service string, resp *mdns.Msg) []discovery.Instance {
	recs, known := srvRecords(resp)
	return srvInstances(service, recs, known)
}

// AddrsFromAnswer exposes addrRecords to the fuzz tests.
var AddrsFromAnswer = addrRecords

// Pause exposes the jittered pause between polls.
func Pause(r *Resolver) time.Duration { return r.pause() }

// SetClock replaces the clock that schedules r's polls. The tests query a
// real DNS server over UDP, which rules out a testing/synctest bubble. Call
// it before the first Watch.
func SetClock(r *Resolver, c clock.Clock) { r.clock = c }
