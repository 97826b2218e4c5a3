package leastrequest_test

import (
	"context"
	"fmt"
	"math"
	"testing"

	"github.com/switchyard/switchyard/balancer"
	"github.com/switchyard/switchyard/balancer/balancertest"
	"github.com/switchyard/switchyard/balancer/leastrequest"
	"github.com/switchyard/switchyard/discovery"
)

func instances(n int) []discovery.Instance {
	list := make([]discovery.Instance, n)
	for i := range list {
		list[i] = discovery.Instance{
			ID:      fmt.Sprintf("i%05d", i),
			Service: "svc",
			Addr:    fmt.Sprintf("10.0.%d.%d:8080", i/250, i%250+1),
		}
	}
	return list
}

// newBalancer returns a least-request balancer over n instances and their
// hosts in ID order, found by picking (every host comes up while all are
// idle).
func newBalancer(t testing.TB, n int) (*balancer.Balancer, []*balancer.Host) {
	t.Helper()
	b, err := balancer.New(leastrequest.New(), balancer.Config{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	b.Update(instances(n))
	byID := make(map[string]*balancer.Host, n)
	for i := 0; len(byID) < n; i++ {
		if i > 1000*n {
			t.Fatalf("found %d of %d hosts by picking", len(byID), n)
		}
		h, err := b.Pick(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		byID[h.Instance.ID] = h
	}
	hosts := make([]*balancer.Host, n)
	for i := range hosts {
		hosts[i] = byID[fmt.Sprintf("i%05d", i)]
	}
	return b, hosts
}

// load puts k calls in flight on h.
func load(b *balancer.Balancer, h *balancer.Host, k int) {
	for range k {
		b.Begin(h)
	}
}

func shares(t *testing.T, b *balancer.Balancer, hosts []*balancer.Host, picks int) []float64 {
	t.Helper()
	index := make(map[*balancer.Host]int, len(hosts))
	for i, h := range hosts {
		index[h] = i
	}
	out := make([]float64, len(hosts))
	for range picks {
		h, err := b.Pick(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		out[index[h]] += 1 / float64(picks)
	}
	return out
}

func TestName(t *testing.T) {
	if got := leastrequest.New().Name(); got != "least_request" {
		t.Fatalf("Name() = %q, want %q", got, "least_request")
	}
}

func TestSingleHostIsAlwaysPicked(t *testing.T) {
	b, hosts := newBalancer(t, 1)
	load(b, hosts[0], 10)
	for range 100 {
		if h, _ := b.Pick(context.Background()); h != hosts[0] {
			t.Fatalf("picked %v, want the only host", h)
		}
	}
}

func TestTwoHostsAlwaysAvoidsTheBusier(t *testing.T) {
	for _, busy := range []int{0, 1} {
		t.Run(fmt.Sprintf("busy=%d", busy), func(t *testing.T) {
			b, hosts := newBalancer(t, 2)
			load(b, hosts[busy], 3)
			load(b, hosts[1-busy], 2)
			for range 10000 {
				if h, _ := b.Pick(context.Background()); h == hosts[busy] {
					t.Fatalf("picked %s with %d in flight over %s with %d",
						h.Instance.ID, h.InFlight(), hosts[1-busy].Instance.ID, hosts[1-busy].InFlight())
				}
			}
		})
	}
}

// TestMostLoadedNeverWins: the two hosts compared are distinct, so the
// host with strictly the most calls in flight always loses.
func TestMostLoadedNeverWins(t *testing.T) {
	for _, n := range []int{3, 10} {
		t.Run(fmt.Sprintf("n=%d", n), func(t *testing.T) {
			b, hosts := newBalancer(t, n)
			for i, h := range hosts {
				load(b, h, i%3)
			}
			worst := hosts[n/2]
			load(b, worst, 5)
			s := shares(t, b, hosts, 20000)
			if s[n/2] != 0 {
				t.Fatalf("the most loaded host got %.4f of picks, want 0", s[n/2])
			}
		})
	}
}

// TestPrefersIdleHost: with one idle host and two busy ones, the idle host
// wins every pair it is in, 2/3 of picks; the busy ones split the rest.
// Bounds are over 10σ wide for 30,000 picks.
func TestPrefersIdleHost(t *testing.T) {
	b, hosts := newBalancer(t, 3)
	load(b, hosts[0], 5)
	load(b, hosts[2], 5)
	s := shares(t, b, hosts, 30000)
	want := []float64{1.0 / 6, 2.0 / 3, 1.0 / 6}
	for i := range s {
		if math.Abs(s[i]-want[i]) > 0.03 {
			t.Errorf("host %d: share %.4f, want %.4f ± 0.03", i, s[i], want[i])
		}
	}
}

// TestTiesAreRandom: with equal loads every host gets an equal share, so
// neither the first nor the second draw is favoured.
func TestTiesAreRandom(t *testing.T) {
	for _, n := range []int{2, 3} {
		t.Run(fmt.Sprintf("n=%d", n), func(t *testing.T) {
			b, hosts := newBalancer(t, n)
			for _, h := range hosts {
				load(b, h, 1)
			}
			for i, s := range shares(t, b, hosts, 30000) {
				if math.Abs(s-1/float64(n)) > 0.03 {
					t.Errorf("host %d: share %.4f, want %.4f ± 0.03", i, s, 1/float64(n))
				}
			}
		})
	}
}

func TestPickDoesNotAllocate(t *testing.T) {
	for _, n := range []int{1, 2, 100} {
		b, _ := newBalancer(t, n)
		ctx := context.Background()
		allocs := testing.AllocsPerRun(1000, func() {
			if _, err := b.Pick(ctx); err != nil {
				t.Fatal(err)
			}
		})
		if allocs != 0 {
			t.Errorf("n=%d: %v allocs per pick, want 0", n, allocs)
		}
	}
}

func benchmarkPick(b *testing.B, parallel bool) {
	balancertest.BenchmarkPick(b, parallel, func(b *testing.B, list []discovery.Instance) (*balancer.Balancer, []context.Context) {
		bal, hosts := newBalancer(b, len(list))
		for i, h := range hosts {
			load(bal, h, i%4)
		}
		return bal, nil
	})
}

func BenchmarkPickLeastRequest(b *testing.B)         { benchmarkPick(b, false) }
func BenchmarkPickLeastRequestParallel(b *testing.B) { benchmarkPick(b, true) }
