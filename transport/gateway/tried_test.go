package gateway_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/switchyard/switchyard/balancer"
	"github.com/switchyard/switchyard/balancer/p2c"
	"github.com/switchyard/switchyard/balancer/ringhash"
	"github.com/switchyard/switchyard/discovery"
	"github.com/switchyard/switchyard/discovery/memory"
	"github.com/switchyard/switchyard/middleware/circuitbreaker"
	"github.com/switchyard/switchyard/transport/gateway"
)

// countRejections counts the attempts an open breaker refused, to show
// that the sick instance was picked: a test it never reached would prove
// nothing.
type countRejections struct {
	next http.RoundTripper
	n    *atomic.Int64
}

func (c countRejections) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := c.next.RoundTrip(r)
	if circuitbreaker.IsRejection(err) {
		c.n.Add(1)
	}
	return resp, err
}

// sickBeside registers, under service "svc", a server that answers 500
// to everything and two healthy backends, and returns the sick one's
// instance and the healthy backends by ID.
func sickBeside(t *testing.T, reg *memory.Registry) (discovery.Instance, map[string]*backend) {
	t.Helper()
	sick := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "always broken", http.StatusInternalServerError)
	}))
	t.Cleanup(sick.Close)
	live := map[string]*backend{"a-live": newBackend(t, "a-live"), "b-live": newBackend(t, "b-live")}
	for id, b := range live {
		register(t, reg, "svc", id, addr(b.Server))
	}
	return register(t, reg, "svc", "c-sick", addr(sick)), live
}

// TestRetryAvoidsTheInstanceWhoseBreakerIsOpen is the shop's
// SickCatalogInstance in miniature, with the shop's layering: a breaker
// per instance in WrapTransport, its refusals neutral to outlier
// detection (circuitbreaker.SkipRejections), P2C. The sick instance's
// breaker is open, so every attempt sent to it is refused at once and it
// is never ejected. Failures carry no P2C penalty here
// (WithFailurePenalty off), so the instance that refuses in microseconds
// with nothing in flight is the cheapest of the three and wins every pick
// it is drawn into: without avoidance, a read's three attempts all go to
// it about one time in three, and the read is answered 503
// no_healthy_upstream. With it, a retry goes to an instance the read has
// not tried, and every read succeeds.
func TestRetryAvoidsTheInstanceWhoseBreakerIsOpen(t *testing.T) {
	reg := memory.New()
	defer reg.Close()
	sick, _ := sickBeside(t, reg)
	breakers, err := circuitbreaker.NewGroup(circuitbreaker.GroupConfig{Breaker: circuitbreaker.Config{Timeout: time.Hour}})
	if err != nil {
		t.Fatal(err)
	}
	// Open the sick instance's breaker before any read: its failures were
	// counted earlier, as they had been when the shop's reads began.
	down := errors.New("connection refused")
	for range circuitbreaker.DefaultConsecutiveFailures {
		breakers.Get(sick.Addr).Execute(context.Background(), func(context.Context) error { return down })
	}
	if s := breakers.Get(sick.Addr).State(); s != circuitbreaker.Open {
		t.Fatalf("the sick instance's breaker is %v, want open", s)
	}
	var refused atomic.Int64
	g, url := startGateway(t, reg, []gateway.Route{{Pattern: "/", Service: "svc"}}, nil, gateway.Config{
		Policy:     func(string) balancer.Policy { return p2c.New(p2c.WithFailurePenalty(-1)) },
		Classifier: circuitbreaker.SkipRejections(nil),
		WrapTransport: func(_ string, next http.RoundTripper) http.RoundTripper {
			return countRejections{next: breakers.Transport(next), n: &refused}
		},
	})
	failed := 0
	const reads = 150
	for i := range reads {
		code, _, _ := status(t, mustGet(t, url+"/products/1"))
		if code != http.StatusOK {
			failed++
			t.Errorf("read %d: status %d, want 200", i, code)
		}
	}
	if refused.Load() == 0 {
		t.Fatal("no attempt went to the sick instance: the scenario did not take place")
	}
	t.Logf("%d of %d reads failed; %d attempts refused by the open breaker; sick instance %+v", failed, reads, refused.Load(), hostByID(t, g, sick.ID))
	if hostByID(t, g, sick.ID).Ejected {
		t.Fatal("the sick instance was ejected; the scenario needs it among the eligible hosts")
	}
}

// TestRetryWithRingHashTakesTheKeysNextInstance: with ring hash, every
// attempt of a read whose key the sick instance owns would go to the sick
// instance — the same key, the same owner — so without avoidance each
// such read fails, first with the held-back 500s, then with the breaker's
// refusals once it opens. Outlier detection is off, as when its cap on
// ejections is reached. With avoidance the retry walks the ring to the
// key's next instance, the same one for every read of the key, and reads
// of a key a healthy instance owns keep going to that instance.
func TestRetryWithRingHashTakesTheKeysNextInstance(t *testing.T) {
	reg := memory.New()
	defer reg.Close()
	sick, live := sickBeside(t, reg)
	breakers, err := circuitbreaker.NewGroup(circuitbreaker.GroupConfig{Breaker: circuitbreaker.Config{ConsecutiveFailures: 2, Timeout: time.Hour}})
	if err != nil {
		t.Fatal(err)
	}
	var refused atomic.Int64
	withKey := func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			next.ServeHTTP(w, r.WithContext(balancer.ContextWithKey(r.Context(), r.Header.Get("X-Cart"))))
		})
	}
	_, url := startGateway(t, reg, []gateway.Route{{Pattern: "/", Service: "svc", Middleware: []func(http.Handler) http.Handler{withKey}}}, nil, gateway.Config{
		Policy:     func(string) balancer.Policy { return ringhash.Policy{} },
		Outlier:    ptr(balancerConfigNoEjection()),
		Classifier: circuitbreaker.SkipRejections(nil),
		WrapTransport: func(_ string, next http.RoundTripper) http.RoundTripper {
			return countRejections{next: breakers.Transport(next), n: &refused}
		},
	})
	sickKey, liveKey, liveOwner := keysOwnedBy(t, reg, sick.ID)
	servedBy := map[string]int{}
	for i := range 20 {
		resp, err := http.DefaultClient.Do(mustGet(t, url+"/cart", "X-Cart", sickKey))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("read %d of a key the sick instance owns: status %d, want 200", i, resp.StatusCode)
		}
		servedBy[resp.Header.Get("X-Backend")]++
	}
	if len(servedBy) != 1 {
		t.Errorf("the sick instance's key was served by %v; every retry should take the key's one next instance", servedBy)
	}
	if refused.Load() == 0 {
		t.Error("the sick instance's breaker refused nothing: the scenario did not take place")
	}
	before := live[liveOwner].hits.Load()
	for range 10 {
		if code, _, _ := status(t, mustGet(t, url+"/cart", "X-Cart", liveKey)); code != http.StatusOK {
			t.Fatalf("read of a key %s owns: status %d", liveOwner, code)
		}
	}
	if got := live[liveOwner].hits.Load() - before; got != 10 {
		t.Errorf("%s served %d of the 10 reads of a key it owns", liveOwner, got)
	}
	t.Logf("key %q (owner %s) served by %v; %d attempts refused by the open breaker", sickKey, sick.ID, servedBy, refused.Load())
}

// keysOwnedBy returns a key the ring of reg's "svc" instances gives to
// id, and one it gives to another instance, with that instance's ID. The
// ring depends only on the instances' IDs and weights, so a balancer of
// its own gives the gateway's mapping.
func keysOwnedBy(t *testing.T, reg *memory.Registry, id string) (owned, other, otherOwner string) {
	t.Helper()
	b, err := balancer.New(ringhash.Policy{}, balancer.Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	w, err := reg.Watch(context.Background(), "svc")
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	b.Update((<-w.Updates()).Instances)
	for i := 0; owned == "" || other == ""; i++ {
		key := fmt.Sprintf("cart-%d", i)
		h, err := b.Pick(balancer.ContextWithKey(context.Background(), key))
		if err != nil {
			t.Fatal(err)
		}
		switch {
		case h.Instance.ID == id && owned == "":
			owned = key
		case h.Instance.ID != id && other == "":
			other, otherOwner = key, h.Instance.ID
		}
	}
	return owned, other, otherOwner
}
