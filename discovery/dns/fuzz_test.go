package dns_test

import (
	"net"
	"testing"

	mdns "github.com/miekg/dns"

	"github.com/switchyard/switchyard/discovery/dns"
)

func packed(f *testing.F, answer, extra []string) []byte {
	f.Helper()
	m := new(mdns.Msg)
	m.SetQuestion("_http._tcp.svc.test.", mdns.TypeSRV)
	m.Response = true
	for _, s := range answer {
		rr, err := mdns.NewRR(s)
		if err != nil {
			f.Fatal(err)
		}
		m.Answer = append(m.Answer, rr)
	}
	for _, s := range extra {
		rr, err := mdns.NewRR(s)
		if err != nil {
			f.Fatal(err)
		}
		m.Extra = append(m.Extra, rr)
	}
	b, err := m.Pack()
	if err != nil {
		f.Fatal(err)
	}
	return b
}

// FuzzSRVToInstances decodes arbitrary DNS messages and turns their SRV
// answers into instances: it must never panic, and every instance it
// produces must be valid, unique, and carry a port and weight that SRV can
// express.
func FuzzSRVToInstances(f *testing.F) {
	f.Add(packed(f,
		[]string{"_http._tcp.svc.test. 5 IN SRV 0 10 8080 a.test.", "_http._tcp.svc.test. 5 IN SRV 0 65535 1 B.test."},
		[]string{"a.test. 5 IN A 10.0.0.1", "b.test. 5 IN AAAA fd00::1", "a.test. 5 IN A 0.0.0.0"}))
	f.Add(packed(f,
		[]string{"_http._tcp.svc.test. 5 IN SRV 2 1 1 a.test.", "_http._tcp.svc.test. 5 IN SRV 1 1 0 a.test.", "_http._tcp.svc.test. 5 IN SRV 0 1 1 ."},
		[]string{"a.test. 5 IN A 10.0.0.1", "a.test. 5 IN A 10.0.0.1"}))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, wire []byte) {
		m := new(mdns.Msg)
		if err := m.Unpack(wire); err != nil {
			return
		}
		list := dns.InstancesFromAnswer("svc", m)
		seen := make(map[string]bool)
		for _, in := range list {
			if err := in.Validate(); err != nil {
				t.Fatalf("invalid instance %+v: %v", in, err)
			}
			if seen[in.ID] {
				t.Fatalf("duplicate instance %s", in.ID)
			}
			seen[in.ID] = true
			if in.ID != in.Addr || in.Service != "svc" {
				t.Fatalf("instance %+v: want ID = Addr and service svc", in)
			}
			if in.Weight < 0 || in.Weight > 65535 {
				t.Fatalf("weight %d outside SRV's range", in.Weight)
			}
			host, _, err := net.SplitHostPort(in.Addr)
			if err != nil || net.ParseIP(host) == nil {
				t.Fatalf("address %q is not ip:port", in.Addr)
			}
		}
	})
}

// FuzzAddrsFromAnswer: whatever the message, the addresses found for a
// name are IP literals.
func FuzzAddrsFromAnswer(f *testing.F) {
	m := new(mdns.Msg)
	m.SetQuestion("alias.test.", mdns.TypeA)
	for _, s := range []string{"alias.test. 5 IN CNAME real.test.", "real.test. 5 IN A 10.0.0.1", "REAL.test. 5 IN AAAA ::1"} {
		rr, _ := mdns.NewRR(s)
		m.Answer = append(m.Answer, rr)
	}
	b, _ := m.Pack()
	f.Add(b, "alias.test")
	f.Add([]byte{0, 1, 2}, "")
	f.Fuzz(func(t *testing.T, wire []byte, name string) {
		m := new(mdns.Msg)
		if err := m.Unpack(wire); err != nil {
			return
		}
		for _, ip := range dns.AddrsFromAnswer(m, name) {
			if net.ParseIP(ip) == nil {
				t.Fatalf("%q is not an IP address", ip)
			}
		}
	})
}
