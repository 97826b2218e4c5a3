package dns_test

import (
	"fmt"
	"net"
	"testing"
	"time"

	"github.com/switchyard/switchyard/discovery"
	"github.com/switchyard/switchyard/discovery/discoverytest"
	"github.com/switchyard/switchyard/discovery/dns"
)

// TestConformance runs the shared suite's resolver cases: DNS has no
// registrar, so the registry is the in-process server's zone, written by
// NewFixedResolver as SRV records (one target per instance).
func TestConformance(t *testing.T) {
	discoverytest.Run(t, discoverytest.Harness{
		// DNS carries an address and a weight, nothing else.
		Match: func(want, got discovery.Instance) bool {
			return want.Addr == got.Addr && want.EffectiveWeight() == got.EffectiveWeight()
		},
		Setup: func(t *testing.T) discoverytest.Backend {
			srv := startServer(t)
			resolver := func() *dns.Resolver {
				r := newResolver(t, dns.Config{Server: srv.addr, Interval: 50 * time.Millisecond, Name: func(s string) string { return "_http._tcp." + s + ".test" }})
				t.Cleanup(r.Close)
				return r
			}
			return discoverytest.Backend{
				NewResolver: func() discovery.Resolver { return resolver() },
				NewFixedResolver: func(list []discovery.Instance) discovery.Resolver {
					var recs []string
					for _, in := range list {
						host, port, err := net.SplitHostPort(in.Addr)
						if err != nil {
							t.Fatal(err)
						}
						target := in.ID + "." + in.Service + ".test."
						recs = append(recs,
							fmt.Sprintf("_http._tcp.%s.test. 5 IN SRV 0 %d %s %s", in.Service, in.Weight, port, target),
							fmt.Sprintf("%s 5 IN A %s", target, host))
					}
					srv.set(t, recs...)
					return resolver()
				},
			}
		},
	})
}
