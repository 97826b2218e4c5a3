package roundrobin_test

import (
	"context"
	"fmt"
	"io"
	"testing"

	"github.com/go-kit/kit/endpoint"

	"github.com/switchyard/switchyard/balancer"
	"github.com/switchyard/switchyard/balancer/balancertest"
	"github.com/switchyard/switchyard/balancer/roundrobin"
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

func newBalancer(t testing.TB, list []discovery.Instance) *balancer.Balancer {
	t.Helper()
	b, err := balancer.New(roundrobin.New(), balancer.Config{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	b.Update(list)
	return b
}

func pickIndex(t *testing.T, b *balancer.Balancer) int {
	t.Helper()
	h, err := b.Pick(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var i int
	if _, err := fmt.Sscanf(h.Instance.ID, "i%05d", &i); err != nil {
		t.Fatal(err)
	}
	return i
}

func TestName(t *testing.T) {
	if got := roundrobin.New().Name(); got != "round_robin" {
		t.Fatalf("Name() = %q, want %q", got, "round_robin")
	}
}

// TestExactRotation: picks walk the hosts in ID order, wrapping around,
// whatever order the instances arrive in, so each host gets exactly one
// pick per round.
func TestExactRotation(t *testing.T) {
	for _, n := range []int{1, 2, 3, 7} {
		t.Run(fmt.Sprintf("n=%d", n), func(t *testing.T) {
			list := instances(n)
			for i, j := 0, len(list)-1; i < j; i, j = i+1, j-1 {
				list[i], list[j] = list[j], list[i] // arrive in reverse order
			}
			b := newBalancer(t, list)
			counts := make([]int, n)
			prev := pickIndex(t, b)
			counts[prev]++
			for range 10*n - 1 {
				i := pickIndex(t, b)
				if want := (prev + 1) % n; i != want {
					t.Fatalf("picked i%05d after i%05d, want i%05d", i, prev, want)
				}
				counts[i]++
				prev = i
			}
			for i, c := range counts {
				if c != 10 {
					t.Errorf("host %d picked %d times in 10 rounds, want 10", i, c)
				}
			}
		})
	}
}

// TestRotationStartsAtRandom: fresh balancers do not all start on the
// same host. With 8 hosts and 50 balancers, all starting on one host has
// probability 8^-49.
func TestRotationStartsAtRandom(t *testing.T) {
	first := map[int]bool{}
	for range 50 {
		first[pickIndex(t, newBalancer(t, instances(8)))] = true
	}
	if len(first) < 2 {
		t.Fatalf("50 balancers all started on host %v", first)
	}
}

func TestPickDoesNotAllocate(t *testing.T) {
	for _, n := range []int{1, 3, 100} {
		b := newBalancer(t, instances(n))
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
		bal, err := balancer.New(roundrobin.New(), balancer.Config{})
		if err != nil {
			b.Fatal(err)
		}
		bal.Update(list)
		return bal, nil
	})
}

func BenchmarkPickRoundRobin(b *testing.B)         { benchmarkPick(b, false) }
func BenchmarkPickRoundRobinParallel(b *testing.B) { benchmarkPick(b, true) }

// TestRetryTakesTheNextInRotation: a request that has tried one host of
// three is never sent to it again; when the rotation reaches that host,
// the call takes the next one, so the other two alternate exactly.
func TestRetryTakesTheNextInRotation(t *testing.T) {
	var id any
	b, err := balancer.New(roundrobin.New(), balancer.Config{Factory: func(inst discovery.Instance) (endpoint.Endpoint, io.Closer, error) {
		resp := any(inst.ID)
		return func(context.Context, any) (any, error) { id = resp; return resp, nil }, nil, nil
	}})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	b.Update(instances(3))
	tried := balancertest.Tried{"i00001": true}
	got := map[any]int{}
	var prev any
	for i := range 30 {
		if _, err := b.Call(context.Background(), tried); err != nil {
			t.Fatal(err)
		}
		if id == prev {
			t.Fatalf("call %d went to %v again; the rotation should alternate between the untried hosts", i, id)
		}
		prev = id
		got[id]++
	}
	if got["i00001"] != 0 || got["i00000"] != 15 || got["i00002"] != 15 {
		t.Fatalf("calls per host: %v; want 15 each on i00000 and i00002, none on the tried i00001", got)
	}
}
