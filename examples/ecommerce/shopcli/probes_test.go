package shopcli_test

import (
	"context"
	"log/slog"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/switchyard/switchyard/discovery/dns/dnstest"
	"github.com/switchyard/switchyard/examples/ecommerce/gateway"
	"github.com/switchyard/switchyard/examples/ecommerce/internal/settings"
	"github.com/switchyard/switchyard/examples/ecommerce/shopcli"
	"github.com/switchyard/switchyard/examples/ecommerce/users"
)

// ProbePaths are what a real serve process answers on its --listen
// address: users and the gateway, run from command lines Parse accepts,
// answer each with 200, except the gateway's /readyz, which answers 503
// while it has no upstream to send anything to (none here), and an
// unknown path with 404.
func TestProbePathsAreServed(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	ns := dnstest.Start(t) // no records: neither needs to find anyone here
	registry := "dns://{service}.shop.test:8080?server=" + ns.Addr()
	for _, service := range []string{"users", "gateway"} {
		t.Run(service, func(t *testing.T) {
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			listen := ln.Addr().String()
			ln.Close()
			s, err := shopcli.Parse([]string{"serve", service, "--listen", listen, "--registry", registry, "--data", t.TempDir()})
			if err != nil {
				t.Fatal(err)
			}
			cfg := settings.Service{Registry: registry, Listen: s.Listen, Data: s.Data,
				Logger: slog.New(slog.DiscardHandler), DrainDelay: -1}
			rctx, stop := context.WithCancel(ctx)
			done := make(chan error, 1)
			go func() {
				if service == "gateway" {
					var g gateway.Config
					g.Service = cfg
					g.Login, g.Signup = gateway.Limit{Rate: 1, Burst: 1}, gateway.Limit{Rate: 1, Burst: 1}
					done <- gateway.Run(rctx, g)
					return
				}
				done <- users.Run(rctx, cfg)
			}()
			defer func() {
				stop()
				if err := <-done; err != nil {
					t.Errorf("Run: %v", err)
				}
			}()
			for _, path := range shopcli.ProbePaths {
				for {
					resp, err := http.Get("http://" + s.Listen + path)
					if err == nil {
						resp.Body.Close()
						if resp.StatusCode == http.StatusOK ||
							service == "gateway" && path == "/readyz" && resp.StatusCode == http.StatusServiceUnavailable {
							break
						}
					}
					select {
					case err := <-done:
						t.Fatalf("Run: %v", err)
					case <-ctx.Done():
						t.Fatalf("GET %s on %s never answered 200 (last: %v)", path, s.Listen, err)
					case <-time.After(20 * time.Millisecond):
					}
				}
			}
			// A path nobody serves is not mistaken for one.
			resp, err := http.Get("http://" + s.Listen + "/ready")
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusNotFound {
				t.Errorf("GET /ready: %d, want 404: the check above would prove nothing", resp.StatusCode)
			}
		})
	}
}
