package client_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-kit/kit/endpoint"

	"github.com/switchyard/switchyard/balancer"
	"github.com/switchyard/switchyard/balancer/p2c"
	"github.com/switchyard/switchyard/balancer/roundrobin"
	"github.com/switchyard/switchyard/client"
	"github.com/switchyard/switchyard/discovery"
	"github.com/switchyard/switchyard/discovery/memory"
	"github.com/switchyard/switchyard/middleware/circuitbreaker"
	"github.com/switchyard/switchyard/middleware/deadline"
	"github.com/switchyard/switchyard/middleware/retry"
	shttp "github.com/switchyard/switchyard/transport/http"
)

// loadResult is what a steady load saw.
type loadResult struct {
	calls, errs int64
	firstErrs   []error
}

// runLoad calls call from workers goroutines, each pausing pause between
// calls, until stop is closed.
func runLoad(workers int, pause time.Duration, stop <-chan struct{}, call func() error) func() loadResult {
	var (
		wg          sync.WaitGroup
		calls, errs atomic.Int64
		mu          sync.Mutex // guards firstErrs
		firstErrs   []error
	)
	for range workers {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				calls.Add(1)
				if err := call(); err != nil {
					errs.Add(1)
					mu.Lock()
					if len(firstErrs) < 5 {
						firstErrs = append(firstErrs, err)
					}
					mu.Unlock()
				}
				time.Sleep(pause)
			}
		})
	}
	return func() loadResult {
		wg.Wait()
		return loadResult{calls.Load(), errs.Load(), firstErrs}
	}
}

// countingFactory counts the attempts made to each instance.
func countingFactory(f balancer.Factory, counts *sync.Map) balancer.Factory {
	return func(inst discovery.Instance) (endpoint.Endpoint, io.Closer, error) {
		ep, c, err := f(inst)
		if err != nil {
			return nil, nil, err
		}
		n, _ := counts.LoadOrStore(inst.ID, new(atomic.Int64))
		ctr := n.(*atomic.Int64)
		return func(ctx context.Context, req any) (any, error) {
			ctr.Add(1)
			return ep(ctx, req)
		}, c, nil
	}
}

func attemptsTo(counts *sync.Map, id string) int64 {
	n, ok := counts.Load(id)
	if !ok {
		return 0
	}
	return n.(*atomic.Int64).Load()
}

// TestInstanceCrashUnderLoad kills one of three instances abruptly (its
// listener and every connection closed, no deregistration) under a steady
// load of idempotent calls through the client chain. No call may fail:
// calls caught on the dead instance are retried on another within the
// budget, and the dead instance stops receiving traffic — ejected by
// outlier detection under round robin, avoided at once by peak-EWMA P2C.
func TestInstanceCrashUnderLoad(t *testing.T) {
	policies := []struct {
		name        string
		policy      balancer.Policy
		mustEjected bool
	}{
		// Round robin keeps picking the dead instance in turn until
		// outlier detection ejects it.
		{"roundrobin", roundrobin.New(), true},
		// P2C prices a failure at 1s of latency, so after its first
		// failures the dead instance loses every comparison; it may not
		// fail five times in a row to be ejected.
		{"p2c", p2c.New(), false},
	}
	for _, pc := range policies {
		t.Run(pc.name, func(t *testing.T) {
			const workers = 8
			reg := memory.New()
			defer reg.Close()
			slow := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				time.Sleep(2 * time.Millisecond) // keep calls in flight at the crash
				itemHandler().ServeHTTP(w, r)
			})
			var backends []*backend
			ctx := context.Background()
			for range 3 {
				b := newBackend(t, slow)
				backends = append(backends, b)
				if err := reg.Register(ctx, b.instance("items")); err != nil {
					t.Fatal(err)
				}
			}
			dead := backends[0].instance("items").ID

			var (
				counts     sync.Map
				retries    atomic.Int64
				ejectedAt  = make(chan time.Time, 1)
				ejectedOne atomic.Value
			)
			factory := countingFactory(shttp.NewFactory(http.MethodGet, "/items/", encodeItemPath,
				shttp.DecodeJSONResponse[item], shttp.WithHTTPClient(newTestClient(t))), &counts)
			ce, err := client.New(ctx, reg, "items", factory, client.Config{
				Policy:     pc.policy,
				Idempotent: true,
				Outlier: balancer.OutlierConfig{
					OnEject: func(inst discovery.Instance, _ string, _ time.Duration) {
						ejectedOne.Store(inst.ID)
						select {
						case ejectedAt <- time.Now():
						default:
						}
					},
				},
				Retry: client.Retry{Config: retry.Config{Hooks: retry.Hooks{
					OnRetry: func(int, error) { retries.Add(1) },
				}}},
			})
			if err != nil {
				t.Fatal(err)
			}
			defer ce.Close()

			start := time.Now()
			stop := make(chan struct{})
			wait := runLoad(workers, time.Millisecond, stop, func() error {
				resp, err := ce.Call(ctx, "42")
				if err == nil && resp.(item).ID != "42" {
					err = fmt.Errorf("wrong answer %v", resp)
				}
				return err
			})
			time.Sleep(400 * time.Millisecond)
			before := attemptsTo(&counts, dead)
			backends[0].close() // crash: no deregistration, connections reset
			crashed := time.Now()

			var atEject int64 = -1
			if pc.mustEjected {
				select {
				case <-ejectedAt:
					atEject = attemptsTo(&counts, dead)
				case <-time.After(3 * time.Second):
					close(stop)
					wait()
					t.Fatal("the dead instance was not ejected")
				}
				if got := ejectedOne.Load(); got != dead {
					t.Fatalf("ejected %v, want %s", got, dead)
				}
			}
			// Let calls that were in flight at the crash (or at the
			// ejection) finish, then watch the dead instance get nothing.
			time.Sleep(300 * time.Millisecond)
			settled := attemptsTo(&counts, dead)
			time.Sleep(500 * time.Millisecond)
			close(stop)
			res := wait()
			elapsed := time.Since(start)
			final := attemptsTo(&counts, dead)

			ejection := "not ejected"
			if id, ok := ejectedOne.Load().(string); ok {
				ejection = "ejected " + id
				if atEject >= 0 {
					ejection += fmt.Sprintf(" after %d attempts", atEject-before)
				}
			}
			t.Logf("%d calls in %v, %d errors, %d retries; dead instance: %d attempts before the crash, %d after, %d in the last 500ms; %s",
				res.calls, elapsed.Round(time.Millisecond), res.errs, retries.Load(), before, final-before, final-settled, ejection)
			if res.errs != 0 {
				t.Errorf("%d calls failed, want 0; first: %v", res.errs, res.firstErrs)
			}
			if final != settled {
				t.Errorf("the dead instance got %d attempts after it stopped being picked", final-settled)
			}
			if pc.mustEjected && atEject-before > 5+workers {
				t.Errorf("%d attempts reached the dead instance before its ejection, want ≤ %d", atEject-before, 5+workers)
			}
			// The budget's promise: retries ≤ ratio × calls + min/s × T,
			// T rounded up to a tenth of the TTL.
			tenths := math.Ceil(elapsed.Seconds() / (retry.DefaultTTL.Seconds() / 10))
			allowed := retry.DefaultRatio*float64(res.calls) + retry.DefaultMinPerSecond*tenths*retry.DefaultTTL.Seconds()/10
			if r := float64(retries.Load()); r > allowed {
				t.Errorf("%v retries, budget allows %v", r, allowed)
			}
			if retries.Load() == 0 {
				t.Error("no retries: the crash was not exercised")
			}
			if crashed.Sub(start) < 300*time.Millisecond || res.calls < 100 {
				t.Errorf("load too thin: %d calls", res.calls)
			}
		})
	}
}

// TestClientEndpointSpreadsAndFollows checks the chain's plumbing: calls
// spread over the registered instances, follow registrations, and fail
// with ErrNoHosts (a 503 for a server) when there are none.
func TestClientEndpointSpreadsAndFollows(t *testing.T) {
	reg := memory.New()
	defer reg.Close()
	ctx := context.Background()
	var backends []*backend
	for range 3 {
		b := newBackend(t, itemHandler())
		backends = append(backends, b)
		_ = reg.Register(ctx, b.instance("items"))
	}
	ce, err := client.New(ctx, reg, "items",
		shttp.NewFactory(http.MethodGet, "/items/", encodeItemPath, shttp.DecodeJSONResponse[item],
			shttp.WithHTTPClient(newTestClient(t))),
		client.Config{Policy: roundrobin.New()})
	if err != nil {
		t.Fatal(err)
	}
	defer ce.Close()
	for range 30 {
		if _, err := ce.Call(ctx, "1"); err != nil {
			t.Fatal(err)
		}
	}
	for i, b := range backends {
		if b.hits.Load() != 10 {
			t.Errorf("backend %d: %d hits, want 10", i, b.hits.Load())
		}
	}
	// A 404 is returned as it is, not retried.
	if _, err := ce.Call(ctx, "missing"); shttp.StatusOf(err) != 502 {
		t.Errorf("a dependency's 404 unhandled: %v (status %d)", err, shttp.StatusOf(err))
	}
	for _, b := range backends {
		_ = reg.Deregister(ctx, b.instance("items"))
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		if m, _ := ce.Balancer().Len(); m == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the balancer did not follow the deregistrations")
		}
		time.Sleep(time.Millisecond)
	}
	_, err = ce.Call(ctx, "1")
	if shttp.StatusOf(err) != 503 {
		t.Fatalf("no instances: %v", err)
	}
}

func TestNewValidates(t *testing.T) {
	reg := memory.New()
	defer reg.Close()
	f := shttp.NewFactory(http.MethodGet, "/", shttp.EncodeJSONRequest, shttp.DecodeJSONResponse[item])
	group, err := circuitbreaker.NewGroup(circuitbreaker.GroupConfig{})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for _, c := range []struct {
		name    string
		r       discovery.Resolver
		service string
		f       balancer.Factory
		cfg     client.Config
	}{
		{"no resolver", nil, "s", f, client.Config{}},
		{"no service", reg, "", f, client.Config{}},
		{"no factory", reg, "s", nil, client.Config{}},
		{"negative timeout", reg, "s", f, client.Config{Timeout: -time.Second}},
		{"group and config", reg, "s", f, client.Config{Breakers: client.Breakers{Group: group, Config: circuitbreaker.Config{ConsecutiveFailures: 2}}}},
		{"breaker config", reg, "s", f, client.Config{Breakers: client.Breakers{Config: circuitbreaker.Config{Timeout: -time.Second}}}},
		{"retry config", reg, "s", f, client.Config{Retry: client.Retry{Config: retry.Config{MaxAttempts: 99}}}},
		{"attempt factor", reg, "s", f, client.Config{AttemptTimeout: client.AttemptTimeout{Factor: 0.5}}},
		{"attempt percentile", reg, "s", f, client.Config{AttemptTimeout: client.AttemptTimeout{Percentile: 1}}},
		{"deadline config", reg, "s", f, client.Config{Deadline: client.Deadline{Config: deadline.Config{MinBudget: -time.Second}}}},
	} {
		t.Run(c.name, func(t *testing.T) {
			ep, err := client.New(ctx, c.r, c.service, c.f, c.cfg)
			if !errors.Is(err, client.ErrConfig) {
				t.Fatalf("err = %v, want client.ErrConfig", err)
			}
			if ep != nil {
				t.Fatal("an endpoint beside the error")
			}
		})
	}
	// A layer switched off ignores its configuration.
	ep, err := client.New(ctx, reg, "s", f, client.Config{
		AttemptTimeout: client.AttemptTimeout{Factor: 0.5, Off: true},
		Retry:          client.Retry{Off: true},
		Breakers:       client.Breakers{Off: true},
		Deadline:       client.Deadline{Off: true},
		Tracing:        client.Tracing{Off: true},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer ep.Close()
	if ep.Breakers() != nil || ep.Budget() != nil {
		t.Fatal("breakers or a budget with their layers off")
	}
}
