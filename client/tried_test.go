package client_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-kit/kit/endpoint"

	"github.com/switchyard/switchyard/balancer"
	"github.com/switchyard/switchyard/balancer/p2c"
	"github.com/switchyard/switchyard/balancer/ringhash"
	"github.com/switchyard/switchyard/client"
	"github.com/switchyard/switchyard/discovery"
	"github.com/switchyard/switchyard/discovery/memory"
	"github.com/switchyard/switchyard/middleware/circuitbreaker"
	"github.com/switchyard/switchyard/middleware/retry"
	"github.com/switchyard/switchyard/outcome"
	shttp "github.com/switchyard/switchyard/transport/http"
)

// sickAmongTwo registers an instance answering 503 to everything and two
// healthy ones under "items", and returns the sick one's instance and
// the healthy backends.
func sickAmongTwo(t *testing.T, reg *memory.Registry) (discovery.Instance, []*backend) {
	t.Helper()
	sick := newBackend(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		shttp.WriteError(w, r, shttp.NewError(http.StatusServiceUnavailable, "sick"))
	}))
	healthy := []*backend{newBackend(t, itemHandler()), newBackend(t, itemHandler())}
	for _, b := range append([]*backend{sick}, healthy...) {
		if err := reg.Register(context.Background(), b.instance("items")); err != nil {
			t.Fatal(err)
		}
	}
	return sick.instance("items"), healthy
}

// retryConfig retries at once, from a budget that never runs dry, so that
// what these tests see is where the retries go, not how many are allowed.
func retryConfig(t *testing.T, refused *atomic.Int64) client.Retry {
	t.Helper()
	budget, err := retry.NewBudget(retry.BudgetConfig{Ratio: 10, MinPerSecond: 1_000_000})
	if err != nil {
		t.Fatal(err)
	}
	return client.Retry{Budget: budget, Config: retry.Config{
		Backoff: func(time.Duration, time.Duration, int) time.Duration { return 0 },
		Hooks: retry.Hooks{OnRetry: func(_ int, err error) {
			if circuitbreaker.IsRejection(err) {
				refused.Add(1)
			}
		}},
	}}
}

func itemsFactory(t *testing.T) balancer.Factory {
	return shttp.NewFactory(http.MethodGet, "/items/{id}", encodeItemPath, shttp.DecodeJSONResponse[item],
		shttp.WithHTTPClient(newTestClient(t)))
}

// TestRetryAvoidsTheInstanceWhoseBreakerIsOpen: the chain's retries go to
// an instance the call has not tried. One instance of three has its
// breaker open, so an attempt sent to it is refused at once and it is
// never ejected; with P2C's failure penalty off it is the cheapest
// instance and wins every pick it is drawn into. Without avoidance about
// one call in three would have all three attempts refused; with it every
// call succeeds, its retry on a healthy instance.
func TestRetryAvoidsTheInstanceWhoseBreakerIsOpen(t *testing.T) {
	reg := memory.New()
	defer reg.Close()
	sick, _ := sickAmongTwo(t, reg)
	group, err := circuitbreaker.NewGroup(circuitbreaker.GroupConfig{Breaker: circuitbreaker.Config{Timeout: time.Hour}})
	if err != nil {
		t.Fatal(err)
	}
	down := errors.New("connection refused")
	for range circuitbreaker.DefaultConsecutiveFailures {
		group.Get(sick.ID).Execute(context.Background(), func(context.Context) error { return down })
	}
	if s := group.Get(sick.ID).State(); s != circuitbreaker.Open {
		t.Fatalf("the sick instance's breaker is %v, want open", s)
	}
	var refused atomic.Int64
	ce, err := client.New(context.Background(), reg, "items", itemsFactory(t), client.Config{
		Idempotent: true,
		Policy:     p2c.New(p2c.WithFailurePenalty(-1)),
		Breakers:   client.Breakers{Group: group},
		Retry:      retryConfig(t, &refused),
		Tracing:    client.Tracing{Off: true},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer ce.Close()
	const calls = 150
	failed := 0
	for i := range calls {
		if _, err := ce.Call(context.Background(), "7"); err != nil {
			failed++
			t.Errorf("call %d: %v", i, err)
		}
	}
	if refused.Load() == 0 {
		t.Fatal("no attempt was refused by the open breaker: the scenario did not take place")
	}
	t.Logf("%d of %d calls failed; %d retries after a refusal by the open breaker", failed, calls, refused.Load())
}

// TestRetryWithRingHashTakesTheKeysNextInstance: every attempt of a call
// whose key a sick instance owns would go to that instance; with
// avoidance the retry takes the key's next instance on the ring, the same
// one for every call.
func TestRetryWithRingHashTakesTheKeysNextInstance(t *testing.T) {
	reg := memory.New()
	defer reg.Close()
	sick, healthy := sickAmongTwo(t, reg)
	var refused atomic.Int64
	ce, err := client.New(context.Background(), reg, "items", itemsFactory(t), client.Config{
		Idempotent: true,
		Policy:     ringhash.Policy{},
		// As when outlier detection's cap on ejections is reached.
		Outlier:  balancer.OutlierConfig{DisableConsecutive: true, DisableSuccessRate: true, DisableFailurePercentage: true},
		Breakers: client.Breakers{Config: circuitbreaker.Config{ConsecutiveFailures: 2, Timeout: time.Hour}},
		Retry:    retryConfig(t, &refused),
		Tracing:  client.Tracing{Off: true},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer ce.Close()
	var key string
	for i := 0; key == ""; i++ {
		k := fmt.Sprintf("cart-%d", i)
		if h, err := ce.Balancer().Pick(balancer.ContextWithKey(context.Background(), k)); err != nil {
			t.Fatal(err)
		} else if h.Instance.ID == sick.ID {
			key = k
		}
	}
	ctx := balancer.ContextWithKey(context.Background(), key)
	for i := range 20 {
		if _, err := ce.Call(ctx, "7"); err != nil {
			t.Fatalf("call %d for a key the sick instance owns: %v", i, err)
		}
	}
	served := []int64{healthy[0].hits.Load(), healthy[1].hits.Load()}
	if served[0]*served[1] != 0 || served[0]+served[1] != 20 {
		t.Errorf("the healthy instances served %v of the key's 20 calls; one of them should serve all", served)
	}
	if refused.Load() == 0 {
		t.Error("the sick instance's breaker never opened: the scenario did not take place")
	}
}

// idemRequest is a request that says itself whether it is idempotent.
type idemRequest struct{ idempotent bool }

func (r idemRequest) Idempotent() bool { return r.idempotent }

// TestLayersSeeTheCallersRequest: while the chain carries each retryable
// call's request with the instances it tried, the caller's CheckRetry,
// the idempotency test of the attempt timeout and retry layers, and the
// instance's endpoint all see the request the caller gave. A request that
// says it is idempotent is retried on another instance; one that says
// it is not is made once. A later call starts with nothing tried.
func TestLayersSeeTheCallersRequest(t *testing.T) {
	reg := memory.New()
	defer reg.Close()
	for _, id := range []string{"a", "b", "c"} {
		if err := reg.Register(context.Background(), discovery.Instance{ID: id, Service: "svc", Addr: id + ":1"}); err != nil {
			t.Fatal(err)
		}
	}
	var (
		calls    atomic.Int64
		aHealthy atomic.Bool
	)
	factory := func(inst discovery.Instance) (endpoint.Endpoint, io.Closer, error) {
		return func(_ context.Context, req any) (any, error) {
			calls.Add(1)
			if _, ok := req.(idemRequest); !ok {
				t.Errorf("the endpoint of %s got a %T", inst.ID, req)
			}
			if inst.ID == "a" && !aHealthy.Load() {
				return nil, &outcome.StatusError{Status: http.StatusServiceUnavailable}
			}
			return inst.ID, nil
		}, nil, nil
	}
	var refused atomic.Int64
	rc := retryConfig(t, &refused)
	rc.Config.CheckRetry = func(ctx context.Context, req any, attempts int, class outcome.Class, err error) bool {
		if _, ok := req.(idemRequest); !ok {
			t.Errorf("CheckRetry got a %T", req)
		}
		return retry.DefaultCheckRetry(ctx, req, attempts, class, err)
	}
	ce, err := client.New(context.Background(), reg, "svc", factory, client.Config{
		Policy:  firstOf{},
		Outlier: balancer.OutlierConfig{DisableConsecutive: true, DisableSuccessRate: true, DisableFailurePercentage: true},
		Retry:   rc,
		Tracing: client.Tracing{Off: true},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer ce.Close()
	// The policy always picks a: only avoidance sends the retry to b.
	if resp, err := ce.Call(context.Background(), idemRequest{idempotent: true}); err != nil || resp != "b" {
		t.Fatalf("idempotent call = %v, %v; want b's answer after a's 503", resp, err)
	}
	if n := calls.Swap(0); n != 2 {
		t.Fatalf("the idempotent call made %d attempts, want 2", n)
	}
	if _, err := ce.Call(context.Background(), idemRequest{}); err == nil {
		t.Fatal("a non-idempotent call was retried past a's 503")
	}
	if n := calls.Load(); n != 1 {
		t.Fatalf("the non-idempotent call made %d attempts, want 1", n)
	}
	// Records are reused: a new call has tried nothing, so once a
	// answers again, calls go to it.
	aHealthy.Store(true)
	for i := range 5 {
		if resp, err := ce.Call(context.Background(), idemRequest{idempotent: true}); err != nil || resp != "a" {
			t.Fatalf("call %d after a recovered = %v, %v; want a's answer", i, resp, err)
		}
	}
}

// firstOf is a policy that always picks the first host in ID order.
type firstOf struct{}

func (firstOf) Name() string { return "first" }
func (firstOf) Build(hosts []*balancer.Host) balancer.Picker {
	return balancer.PickerFunc(func(context.Context) *balancer.Host { return hosts[0] })
}
