package dns

import (
	"net"
	"strconv"
	"strings"

	mdns "github.com/miekg/dns"

	"github.com/switchyard/switchyard/discovery"
)

// srvRecords returns the SRV records of resp's answer that carry load (the
// lowest priority value, targets other than "."), and the addresses that
// the additional section gives for their targets. Names are lower-cased,
// as DNS compares them without case.
func srvRecords(resp *mdns.Msg) ([]*mdns.SRV, map[string][]string) {
	var recs []*mdns.SRV
	for _, rr := range resp.Answer {
		srv, ok := rr.(*mdns.SRV)
		if !ok || srv.Target == "." || srv.Target == "" || srv.Port == 0 {
			continue
		}
		cp := *srv
		cp.Target = strings.ToLower(mdns.Fqdn(cp.Target))
		if len(recs) > 0 && cp.Priority < recs[0].Priority {
			recs = recs[:0]
		}
		if len(recs) == 0 || cp.Priority == recs[0].Priority {
			recs = append(recs, &cp)
		}
	}
	known := make(map[string][]string)
	for _, rr := range resp.Extra {
		name := strings.ToLower(rr.Header().Name)
		if ip := rrIP(rr); ip != "" {
			known[name] = append(known[name], ip)
		}
	}
	// A target listed in the additional section with only some of its
	// addresses would lose the others; that is the server's answer, as
	// resolvers treat it.
	return recs, known
}

// addrRecords returns the addresses that resp's answer gives for name,
// following CNAMEs within the answer.
func addrRecords(resp *mdns.Msg, name string) []string {
	want := map[string]bool{strings.ToLower(mdns.Fqdn(name)): true}
	// CNAME chains are short; a few passes settle them in any order.
	for range 8 {
		grew := false
		for _, rr := range resp.Answer {
			if c, ok := rr.(*mdns.CNAME); ok && want[strings.ToLower(c.Hdr.Name)] {
				t := strings.ToLower(mdns.Fqdn(c.Target))
				if !want[t] {
					want[t], grew = true, true
				}
			}
		}
		if !grew {
			break
		}
	}
	var ips []string
	for _, rr := range resp.Answer {
		if want[strings.ToLower(rr.Header().Name)] {
			if ip := rrIP(rr); ip != "" {
				ips = append(ips, ip)
			}
		}
	}
	return ips
}

func rrIP(rr mdns.RR) string {
	var ip net.IP
	switch a := rr.(type) {
	case *mdns.A:
		ip = a.A
	case *mdns.AAAA:
		ip = a.AAAA
	default:
		return ""
	}
	if ip == nil || ip.IsUnspecified() {
		return ""
	}
	return ip.String()
}

// srvInstances turns SRV records and their targets' addresses into
// instances of service. Instances that would not validate are dropped;
// duplicates (two records for one ip:port) keep the larger weight.
func srvInstances(service string, recs []*mdns.SRV, addrs map[string][]string) []discovery.Instance {
	byID := make(map[string]int)
	var list []discovery.Instance
	for _, rec := range recs {
		for _, ip := range addrs[rec.Target] {
			addr := net.JoinHostPort(ip, strconv.Itoa(int(rec.Port)))
			inst := discovery.Instance{
				ID:      addr,
				Service: service,
				Addr:    addr,
				Weight:  int(rec.Weight),
				Meta:    map[string]string{"target": strings.TrimSuffix(rec.Target, ".")},
			}
			if inst.Validate() != nil {
				continue
			}
			if i, ok := byID[addr]; ok {
				list[i].Weight = max(list[i].Weight, inst.Weight)
				continue
			}
			byID[addr] = len(list)
			list = append(list, inst)
		}
	}
	return list
}
