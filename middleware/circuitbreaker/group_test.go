package circuitbreaker_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-kit/kit/endpoint"

	"github.com/switchyard/switchyard/balancer"
	"github.com/switchyard/switchyard/balancer/roundrobin"
	"github.com/switchyard/switchyard/discovery"
	"github.com/switchyard/switchyard/middleware/circuitbreaker"
	"github.com/switchyard/switchyard/outcome"
)

func TestGroupBoundsItsKeys(t *testing.T) {
	g := newGroup(t, circuitbreaker.GroupConfig{MaxKeys: 100})
	for i := range 10000 {
		g.Get(string(rune('a'+i%26)) + time.Duration(i).String())
		if n := g.Len(); n > 100 {
			t.Fatalf("after %d keys the group holds %d breakers, cap 100", i+1, n)
		}
	}
	if g.Len() != 100 {
		t.Fatalf("group holds %d breakers, want it full at 100", g.Len())
	}
}

func TestGroupKeepsRecentlyUsedKeys(t *testing.T) {
	g := newGroup(t, circuitbreaker.GroupConfig{MaxKeys: 50})
	hot := g.Get("hot")
	for i := range 5000 {
		g.Get(time.Duration(i).String())
		if g.Get("hot") != hot {
			t.Fatalf("a key used before every insertion was evicted after %d insertions", i)
		}
	}
}

func TestGroupSameKeySameBreaker(t *testing.T) {
	g := newGroup(t, circuitbreaker.GroupConfig{})
	a := g.Get("a")
	if g.Get("a") != a || g.Get("b") == a {
		t.Fatal("Get does not return one breaker per key")
	}
	if g.Get("a").Name() != "a" {
		t.Fatalf("breaker named %q, want its key", g.Get("a").Name())
	}
}

func TestGroupEndpointKeys(t *testing.T) {
	g := newGroup(t, circuitbreaker.GroupConfig{
		Breaker: circuitbreaker.Config{ConsecutiveFailures: 1},
		Key:     func(_ context.Context, req any) string { return req.(string) },
	})
	ep := g.Endpoint(
		func(_ context.Context, req any) (any, error) {
			if req == "bad" {
				return nil, errServer
			}
			return "ok", nil
		})
	ctx := context.Background()
	ep(ctx, "bad")
	if _, err := ep(ctx, "bad"); !errors.Is(err, circuitbreaker.ErrOpen) {
		t.Fatalf("second call to the bad key: %v, want open", err)
	}
	if resp, err := ep(ctx, "good"); err != nil || resp != "ok" {
		t.Fatalf("good key affected by bad one: %v %v", resp, err)
	}
	want := []circuitbreaker.KeyState{{Key: "bad", State: circuitbreaker.Open}, {Key: "good", State: circuitbreaker.Closed}}
	got := g.States()
	if len(got) != 2 || got[0] != want[0] || got[1] != want[1] {
		t.Fatalf("States() = %v, want %v", got, want)
	}
}

type closeCount struct{ n *int }

func (c closeCount) Close() error { *c.n++; return nil }

func TestFactoryPinsAndReleases(t *testing.T) {
	g := newGroup(t, circuitbreaker.GroupConfig{MaxKeys: 10})
	closed := 0
	f := g.Factory(func(discovery.Instance) (endpoint.Endpoint, io.Closer, error) {
		return endpoint.Nop, closeCount{&closed}, nil
	})
	var closers []io.Closer
	for _, id := range []string{"i1", "i2", "i3"} {
		_, c, err := f(discovery.Instance{ID: id})
		if err != nil {
			t.Fatal(err)
		}
		closers = append(closers, c)
	}
	for i := range 1000 {
		g.Get(time.Duration(i).String())
	}
	states := g.States()
	pinned := 0
	for _, s := range states {
		if s.Key == "i1" || s.Key == "i2" || s.Key == "i3" {
			pinned++
		}
	}
	if pinned != 3 {
		t.Fatalf("%d of 3 pinned instance breakers survived eviction", pinned)
	}
	for _, c := range closers {
		c.Close()
		c.Close() // idempotent
	}
	if closed != 3 {
		t.Fatalf("inner closers closed %d times, want 3", closed)
	}
	for _, s := range g.States() {
		if s.Key == "i1" {
			t.Fatal("breaker of a departed instance is still held")
		}
	}
}

// A per-instance breaker's rejections must not count as fresh failures of
// the instance in the balancer's outlier detection: the rejected calls
// never reached it. SkipRejections makes the balancer see them as neutral.
func TestFactoryRejectionsDoNotFeedOutlierDetection(t *testing.T) {
	for _, tc := range []struct {
		name        string
		classifier  outcome.Classifier
		wantEjected bool
	}{
		{"with SkipRejections", circuitbreaker.SkipRejections(nil), false},
		{"plain outcome.Default (the mistake SkipRejections prevents)", nil, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := newGroup(t, circuitbreaker.GroupConfig{Breaker: circuitbreaker.Config{ConsecutiveFailures: 2}})
			upstreamCalls := 0
			factory := g.Factory(func(discovery.Instance) (endpoint.Endpoint, io.Closer, error) {
				return func(context.Context, any) (any, error) {
					upstreamCalls++
					return nil, errServer
				}, nil, nil
			})
			b, err := balancer.New(roundrobin.New(), balancer.Config{
				Factory:    factory,
				Classifier: tc.classifier, // nil: outcome.Default
				Outlier:    &balancer.OutlierConfig{ConsecutiveFailures: 5},
			})
			if err != nil {
				t.Fatal(err)
			}
			defer b.Close()
			b.Update([]discovery.Instance{{ID: "a", Service: "s", Addr: "127.0.0.1:1"}})
			ctx := context.Background()
			for range 10 {
				b.Call(ctx, nil)
			}
			if upstreamCalls != 2 {
				t.Fatalf("instance called %d times, want 2 (then the breaker opens)", upstreamCalls)
			}
			hosts, _ := b.Hosts()
			if hosts[0].Ejected != tc.wantEjected {
				t.Fatalf("ejected = %v, want %v", hosts[0].Ejected, tc.wantEjected)
			}
		})
	}
}

// TestGroupTransport: each host gets its own breaker; a host answering
// 5xx opens its breaker (its answers still reach the caller until then)
// and is then refused without a request, while another host is untouched.
func TestGroupTransport(t *testing.T) {
	var sickHits atomic.Int64
	sick := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sickHits.Add(1)
		w.WriteHeader(http.StatusServiceUnavailable)
	}))
	defer sick.Close()
	healthy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	defer healthy.Close()
	g, err := circuitbreaker.NewGroup(circuitbreaker.GroupConfig{Breaker: circuitbreaker.Config{ConsecutiveFailures: 2}})
	if err != nil {
		t.Fatal(err)
	}
	base := &http.Transport{}
	defer base.CloseIdleConnections()
	c := &http.Client{Transport: g.Transport(base)}
	get := func(url string) (int, error) {
		resp, err := c.Get(url)
		if err != nil {
			return 0, err
		}
		resp.Body.Close()
		return resp.StatusCode, nil
	}
	for range 2 {
		if code, err := get(sick.URL); err != nil || code != http.StatusServiceUnavailable {
			t.Fatalf("sick host before its breaker opens: %d, %v", code, err)
		}
	}
	if _, err := get(sick.URL); !circuitbreaker.IsRejection(err) {
		t.Fatalf("sick host after two 503s: %v, want a rejection", err)
	}
	if sickHits.Load() != 2 {
		t.Fatalf("the sick host got %d requests, want 2 (none once open)", sickHits.Load())
	}
	if code, err := get(healthy.URL); err != nil || code != http.StatusOK {
		t.Fatalf("healthy host: %d, %v", code, err)
	}
}
