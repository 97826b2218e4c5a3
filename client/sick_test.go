package client_test

import (
	"context"
	"net/http"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/switchyard/switchyard/balancer"
	"github.com/switchyard/switchyard/balancer/p2c"
	"github.com/switchyard/switchyard/balancer/roundrobin"
	"github.com/switchyard/switchyard/client"
	"github.com/switchyard/switchyard/discovery"
	"github.com/switchyard/switchyard/discovery/memory"
	"github.com/switchyard/switchyard/internal/brokenreq"
	shttp "github.com/switchyard/switchyard/transport/http"
)

// TestIdempotentCallsRetry5xxElsewhere puts an instance that answers every
// request with a 5xx beside a healthy one: no idempotent call fails, since
// each 5xx is retried on the other instance and the caller gets the retry's
// answer. The same calls without the retry layer do fail, which shows the
// sick instance was really called.
func TestIdempotentCallsRetry5xxElsewhere(t *testing.T) {
	for _, status := range []int{500, 502, 503, 504} {
		t.Run(strconv.Itoa(status), func(t *testing.T) {
			sick := newBackend(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				shttp.WriteError(w, r, shttp.NewError(status, "sick"))
			}))
			healthy := newBackend(t, itemHandler())
			reg := memory.New()
			defer reg.Close()
			ctx := context.Background()
			for _, b := range []*backend{sick, healthy} {
				if err := reg.Register(ctx, b.instance("items")); err != nil {
					t.Fatal(err)
				}
			}
			newEndpoint := func(cfg client.Config) *client.Endpoint {
				cfg.Policy, cfg.Tracing.Off = roundrobin.New(), true
				ce, err := client.New(ctx, reg, "items",
					shttp.NewFactory(http.MethodGet, "/items/{id}", encodeItemPath, shttp.DecodeJSONResponse[item],
						shttp.WithHTTPClient(newTestClient(t))),
					cfg)
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { ce.Close() })
				return ce
			}

			ce := newEndpoint(client.Config{Idempotent: true})
			const calls = 100
			for i := range calls {
				resp, err := ce.Call(ctx, "7")
				if err != nil {
					t.Fatalf("call %d: %v", i, err)
				}
				if it := resp.(item); it.ID != "7" {
					t.Fatalf("call %d answered %+v", i, it)
				}
			}
			if sick.hits.Load() == 0 {
				t.Fatal("the sick instance was never called: nothing was retried")
			}

			bare := newEndpoint(client.Config{Retry: client.Retry{Off: true}})
			var failed int
			for range 10 {
				if _, err := bare.Call(ctx, "7"); err != nil {
					if shttp.StatusOf(err) < 500 {
						t.Fatalf("unexpected error %v", err)
					}
					failed++
				}
			}
			if failed == 0 {
				t.Fatal("without retries no call failed: the sick instance is not sick")
			}
		})
	}
}

// TestHungInstanceCostsOneAttemptTimeout puts an instance that accepts
// connections and never answers beside a healthy one. Every idempotent
// call succeeds, each well within the caller's 10s budget: an attempt to
// the hung instance is cut off by the per-attempt timeout and retried on
// the healthy one. The timeouts count against the hung instance, so round
// robin's outlier detection ejects it.
func TestHungInstanceCostsOneAttemptTimeout(t *testing.T) {
	for _, pc := range []struct {
		name        string
		policy      balancer.Policy
		mustEjected bool
	}{
		{"roundrobin", roundrobin.New(), true},
		// P2C prices the timeout at the failure penalty and stops picking
		// the hung instance before it fails enough times in a row to be
		// ejected.
		{"p2c", p2c.New(), false},
	} {
		t.Run(pc.name, func(t *testing.T) {
			healthy := newBackend(t, itemHandler())
			hung := brokenreq.Hung(t)
			reg := memory.New()
			defer reg.Close()
			ctx := context.Background()
			if err := reg.Register(ctx, healthy.instance("items")); err != nil {
				t.Fatal(err)
			}
			hungID := "items@" + hung
			if err := reg.Register(ctx, discovery.Instance{ID: hungID, Service: "items", Addr: hung}); err != nil {
				t.Fatal(err)
			}
			const (
				budget       = 10 * time.Second
				initial      = 300 * time.Millisecond
				mostPerCall  = 3 * time.Second // generous: one attempt timeout plus a retry
				ejectAfter   = 3
				calls        = 40
				concurrently = 4
			)
			ce, err := client.New(ctx, reg, "items",
				shttp.NewFactory(http.MethodGet, "/items/{id}", encodeItemPath, shttp.DecodeJSONResponse[item],
					shttp.WithHTTPClient(newTestClient(t))),
				client.Config{
					Policy:         pc.policy,
					Tracing:        client.Tracing{Off: true},
					Idempotent:     true,
					AttemptTimeout: client.AttemptTimeout{Floor: 50 * time.Millisecond, Initial: initial},
					Outlier:        balancer.OutlierConfig{ConsecutiveFailures: ejectAfter},
				})
			if err != nil {
				t.Fatal(err)
			}
			defer ce.Close()

			var wg sync.WaitGroup
			errs := make(chan error, calls)
			slowest := make(chan time.Duration, calls)
			for w := range concurrently {
				wg.Go(func() {
					for i := w; i < calls; i += concurrently {
						cctx, cancel := context.WithTimeout(ctx, budget)
						start := time.Now()
						_, err := ce.Call(cctx, "1")
						slowest <- time.Since(start)
						cancel()
						if err != nil {
							errs <- err
						}
					}
				})
			}
			wg.Wait()
			close(errs)
			close(slowest)
			for err := range errs {
				t.Errorf("call failed: %v", err)
			}
			var most time.Duration
			for d := range slowest {
				most = max(most, d)
			}
			if most > mostPerCall {
				t.Errorf("the slowest call took %v, want it bounded by about one attempt timeout (%v)", most, initial)
			}
			hosts, _ := ce.Balancer().Hosts()
			var hungState *balancer.HostState
			for i := range hosts {
				if hosts[i].Instance.ID == hungID {
					hungState = &hosts[i]
				}
			}
			if hungState == nil {
				t.Fatal("the hung instance is not a member")
			}
			if pc.mustEjected && !hungState.Ejected {
				t.Errorf("the hung instance was not ejected: %+v", *hungState)
			}
			if !hungState.Ejected && hungState.ConsecutiveFailures == 0 {
				t.Errorf("the attempt timeouts did not count against the hung instance: %+v", *hungState)
			}
		})
	}
}
