package memory_test

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/switchyard/switchyard/discovery"
	"github.com/switchyard/switchyard/discovery/discoverytest"
	"github.com/switchyard/switchyard/discovery/memory"
)

// backend drives one memory Registry for the conformance suite.
func backend(t *testing.T) discoverytest.Backend {
	reg := memory.New()
	t.Cleanup(reg.Close)
	return discoverytest.Backend{
		// Hide Registry.Close: the suite must not be able to close the
		// shared registry through one of its resolvers.
		NewResolver: func() discovery.Resolver { return resolverOnly{reg} },
		NewRegistrar: func(ttl time.Duration) discovery.Registrar {
			g, err := memory.NewRegistrar(reg, ttl)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = g.Close(context.Background()) })
			return g
		},
		KillRegistrar: func(g discovery.Registrar) { g.(*memory.Registrar).Kill() },
		Outage:        func() { reg.SetUnavailable(memory.ErrUnavailable) },
		Recover: func(wipe bool) {
			if wipe {
				reg.Wipe()
			}
			reg.SetUnavailable(nil)
		},
	}
}

type resolverOnly struct{ r *memory.Registry }

func (r resolverOnly) Watch(ctx context.Context, service string) (discovery.Watch, error) {
	return r.r.Watch(ctx, service)
}

// TestConformance runs the suite with every case in a testing/synctest
// bubble: TTLs pass in no wall-clock time and expire exactly.
func TestConformance(t *testing.T) {
	discoverytest.Run(t, discoverytest.Harness{
		TTL:    3 * time.Second,
		Slack:  10 * time.Millisecond, // expiry is exact in a bubble
		Bubble: true,
		Setup:  backend,
	})
}

// TestConformanceRealClock runs the suite in its real-time mode, the one
// that engines such as etcd use. With TTLs short enough to keep it fast,
// a machine loaded enough to stall a goroutine for a few hundred
// milliseconds makes it fail, so it runs only when asked:
// DISCOVERYTEST_REALTIME=1 go test -run RealClock ./discovery/memory.
// (discovery/etcd runs the real-time mode on every test run.)
func TestConformanceRealClock(t *testing.T) {
	if os.Getenv("DISCOVERYTEST_REALTIME") == "" {
		t.Skip("set DISCOVERYTEST_REALTIME=1 to run the suite on the real clock")
	}
	discoverytest.Run(t, discoverytest.Harness{
		TTL:   300 * time.Millisecond,
		Slack: 300 * time.Millisecond,
		Wait:  2 * time.Second,
		Setup: backend,
	})
}
