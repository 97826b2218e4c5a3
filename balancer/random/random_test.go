package random_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/switchyard/switchyard/balancer"
	"github.com/switchyard/switchyard/balancer/balancertest"
	"github.com/switchyard/switchyard/balancer/random"
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

func newBalancer(t testing.TB, n int) *balancer.Balancer {
	t.Helper()
	b, err := balancer.New(random.New(), balancer.Config{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	b.Update(instances(n))
	return b
}

func TestName(t *testing.T) {
	if got := random.New().Name(); got != "random" {
		t.Fatalf("Name() = %q, want %q", got, "random")
	}
}

// TestUniform checks that every host gets its share within ±5%. With
// 20,000 expected picks per host the standard deviation is about 134, so
// the bound is 7.5σ: a fair picker essentially never fails it, while an
// off-by-one (a host never chosen, or one chosen twice as often) fails at
// once.
func TestUniform(t *testing.T) {
	for _, n := range []int{2, 3, 10} {
		t.Run(fmt.Sprintf("n=%d", n), func(t *testing.T) {
			b := newBalancer(t, n)
			const perHost = 20000
			total := perHost * n
			counts := make(map[string]int, n)
			for range total {
				h, err := b.Pick(context.Background())
				if err != nil {
					t.Fatal(err)
				}
				counts[h.Instance.ID]++
			}
			if len(counts) != n {
				t.Fatalf("picked %d distinct hosts, want %d", len(counts), n)
			}
			for id, c := range counts {
				if c < perHost*95/100 || c > perHost*105/100 {
					t.Errorf("host %s picked %d times, want %d ± 5%%", id, c, perHost)
				}
			}
		})
	}
}

func TestSingleHost(t *testing.T) {
	b := newBalancer(t, 1)
	for range 100 {
		h, err := b.Pick(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if h.Instance.ID != "i00000" {
			t.Fatalf("picked %s, want the only host i00000", h.Instance.ID)
		}
	}
}

func TestPickDoesNotAllocate(t *testing.T) {
	for _, n := range []int{1, 3, 100} {
		b := newBalancer(t, n)
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
		bal, err := balancer.New(random.New(), balancer.Config{})
		if err != nil {
			b.Fatal(err)
		}
		bal.Update(list)
		return bal, nil
	})
}

func BenchmarkPickRandom(b *testing.B)         { benchmarkPick(b, false) }
func BenchmarkPickRandomParallel(b *testing.B) { benchmarkPick(b, true) }
