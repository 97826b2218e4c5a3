package etcd_test

import (
	"context"
	"os"
	"sync"
	"testing"
	"time"

	"go.etcd.io/etcd/server/v3/embed"

	"github.com/switchyard/switchyard/discovery"
	"github.com/switchyard/switchyard/discovery/discoverytest"
	"github.com/switchyard/switchyard/discovery/etcd"
	"github.com/switchyard/switchyard/discovery/etcd/embedded"
)

// TestConformance runs the shared suite on a real etcd: every case gets its
// own embedded server, reached through a proxy so that an outage drops the
// clients' connections at once, as a crash or a partition would.
//
// The servers run with a 500 ms election timeout, which lets etcd grant
// 1 s leases, so that the suite's waits (several TTLs per case) stay short.
// The tests in etcd_test.go measure the same behaviour with 2 s leases on
// default server settings.
func TestConformance(t *testing.T) {
	const ttl = time.Second
	discoverytest.Run(t, discoverytest.Harness{
		TTL:   ttl,
		Slack: time.Second,
		Setup: func(t *testing.T) discoverytest.Backend {
			dir := t.TempDir()
			var mu sync.Mutex // guards srv
			srv := startUnmanaged(t, dir, "127.0.0.1:0")
			addr := srv.Addr()
			// Registered before the clients' cleanups, so it runs after
			// them: a server with open streams closes slowly.
			t.Cleanup(func() {
				mu.Lock()
				defer mu.Unlock()
				if srv != nil {
					srv.Close()
				}
			})
			p := startProxy(t, addr)
			return discoverytest.Backend{
				NewResolver: func() discovery.Resolver {
					r := newResolver(t, newClient(t, p.endpoints()), etcd.ResolverConfig{ProbeInterval: 200 * time.Millisecond, RecoveryGrace: 2 * ttl})
					t.Cleanup(r.Close)
					return r
				},
				NewRegistrar: func(ttl time.Duration) discovery.Registrar {
					g := newRegistrar(t, newClient(t, p.endpoints()), etcd.RegistrarConfig{TTL: ttl})
					t.Cleanup(func() {
						ctx, cancel := context.WithTimeout(context.Background(), time.Second)
						defer cancel()
						_ = g.Close(ctx)
					})
					return g
				},
				KillRegistrar: func(g discovery.Registrar) { g.(*etcd.Registrar).Kill() },
				Outage: func() {
					p.cut()
					mu.Lock()
					defer mu.Unlock()
					srv.Close()
					srv = nil
				},
				Recover: func(wipe bool) {
					if wipe {
						if err := os.RemoveAll(dir); err != nil {
							t.Fatal(err)
						}
					}
					s := startUnmanaged(t, dir, addr)
					mu.Lock()
					srv = s
					mu.Unlock()
					p.heal()
				},
			}
		},
	})
}

// startUnmanaged starts a server that the caller closes.
func startUnmanaged(t *testing.T, dir, addr string) *embedded.Server {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	srv, err := embedded.Start(ctx, dir, addr, embedded.Config{Adjust: func(c *embed.Config) {
		c.TickMs, c.ElectionMs = 50, 500
	}})
	if err != nil {
		t.Fatal(err)
	}
	return srv
}
