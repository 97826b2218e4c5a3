package weighted_test

import (
	"context"
	"fmt"
	"math"
	"strings"
	"testing"

	"github.com/switchyard/switchyard/balancer"
	"github.com/switchyard/switchyard/balancer/weighted"
	"github.com/switchyard/switchyard/discovery"
)

// weightedInstances returns one instance per weight, with IDs in the same
// order as the weights.
func weightedInstances(weights ...int) []discovery.Instance {
	list := make([]discovery.Instance, len(weights))
	for i, w := range weights {
		list[i] = discovery.Instance{
			ID:      fmt.Sprintf("i%05d", i),
			Service: "svc",
			Addr:    fmt.Sprintf("10.0.%d.%d:8080", i/250, i%250+1),
			Weight:  w,
		}
	}
	return list
}

func hostsOf(list []discovery.Instance) []*balancer.Host {
	hosts := make([]*balancer.Host, len(list))
	for i, inst := range list {
		hosts[i] = &balancer.Host{Instance: inst}
	}
	return hosts
}

func newBalancer(t testing.TB, list []discovery.Instance) *balancer.Balancer {
	t.Helper()
	b, err := balancer.New(weighted.New(), balancer.Config{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	b.Update(list)
	return b
}

// pickCounts picks n times and counts picks per instance index.
func pickCounts(t testing.TB, b *balancer.Balancer, hosts, n int) []int {
	t.Helper()
	counts := make([]int, hosts)
	for range n {
		h, err := b.Pick(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		var i int
		if _, err := fmt.Sscanf(h.Instance.ID, "i%05d", &i); err != nil {
			t.Fatal(err)
		}
		counts[i]++
	}
	return counts
}

// variedWeights returns n weights cycling through a spread of values whose
// sum exceeds MaxScheduleLen for any n ≥ 3, which forces the alias table.
func variedWeights(n int) []int {
	base := []int{1000, 3001, 113, 7, 1, 42, 0, 2500, 13, 999}
	w := make([]int, n)
	for i := range w {
		w[i] = base[i%len(base)]
	}
	return w
}

func TestName(t *testing.T) {
	if got := weighted.New().Name(); got != "weighted" {
		t.Fatalf("Name() = %q, want %q", got, "weighted")
	}
}

func TestBuildChoosesStructure(t *testing.T) {
	tests := []struct {
		name    string
		weights []int
		want    string
	}{
		{"one host", []int{5}, "single"},
		{"equal weights", []int{3, 3, 3}, "rotation"},
		{"zero means one", []int{0, 1, 0}, "rotation"},
		{"small period", []int{5, 1, 1}, "schedule"},
		{"gcd reduces the period", []int{4096, 8192}, "schedule"},
		{"period at the bound", []int{1, weighted.MaxScheduleLen - 1}, "schedule"},
		{"period past the bound", []int{1, weighted.MaxScheduleLen}, "alias"},
		{"too costly to build", append(make([]int, 999), 2), "alias"},
		{"varied weights", variedWeights(10), "alias"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := weighted.New().Build(hostsOf(weightedInstances(tt.weights...)))
			if got := weighted.Kind(p); got != tt.want {
				t.Fatalf("Build(%v...) uses %s, want %s", tt.weights[:min(len(tt.weights), 5)], got, tt.want)
			}
		})
	}
}

// TestScheduleIsSmooth checks nginx's example: weights 5, 1, 1 give
// a a b a c a a, starting anywhere in the period.
func TestScheduleIsSmooth(t *testing.T) {
	b := newBalancer(t, weightedInstances(5, 1, 1))
	var seq strings.Builder
	for range 7 {
		h, err := b.Pick(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		seq.WriteByte("abc"[h.Instance.ID[len(h.Instance.ID)-1]-'0'])
	}
	const period = "aabacaa"
	if !strings.Contains(period+period, seq.String()) {
		t.Fatalf("7 picks gave %s, want a rotation of %s", seq.String(), period)
	}
}

// TestScheduleShares checks the deterministic path: over 10,000 picks a
// host is off its exact share by less than one period's worth of its own
// weight, far inside 1%.
func TestScheduleShares(t *testing.T) {
	for _, weights := range [][]int{{1, 2, 3, 4}, {3, 5, 11}, {1, 1, 1, 1, 60}, {100, 300, 700}} {
		t.Run(fmt.Sprint(weights), func(t *testing.T) {
			b := newBalancer(t, weightedInstances(weights...))
			const picks = 10000
			counts := pickCounts(t, b, len(weights), picks)
			var sum int
			for _, w := range weights {
				sum += w
			}
			for i, w := range weights {
				want := float64(picks) * float64(w) / float64(sum)
				if d := math.Abs(float64(counts[i]) - want); d > float64(w) || d > picks/100 {
					t.Errorf("weight %d: %d picks, want %.1f", w, counts[i], want)
				}
			}
		})
	}
}

func TestRotationIsExact(t *testing.T) {
	b := newBalancer(t, weightedInstances(2, 2, 2, 2))
	counts := pickCounts(t, b, 4, 4000)
	for i, c := range counts {
		if c != 1000 {
			t.Errorf("host %d: %d picks, want exactly 1000", i, c)
		}
	}
}

// TestAliasTableIsExact adds up each host's probability mass over every
// column of the table: it must equal the host's share of the total weight.
func TestAliasTableIsExact(t *testing.T) {
	for _, weights := range [][]int{
		variedWeights(10),
		variedWeights(1000),
		{1, discovery.MaxWeight},
		{1, 2, 3, discovery.MaxWeight * 4}, // clamped to MaxWeight
		append(make([]int, 999), 2),
	} {
		t.Run(fmt.Sprintf("n=%d", len(weights)), func(t *testing.T) {
			hosts := hostsOf(weightedInstances(weights...))
			cols := weighted.Columns(weighted.New().Build(hosts))
			if len(cols) != len(hosts) {
				t.Fatalf("%d columns, want %d", len(cols), len(hosts))
			}
			index := make(map[*balancer.Host]int, len(hosts))
			for i, h := range hosts {
				index[h] = i
			}
			mass := make([]float64, len(hosts))
			for _, c := range cols {
				if c.Stay < 0 || c.Stay > 1 {
					t.Fatalf("column stay probability %v outside [0,1]", c.Stay)
				}
				mass[index[c.Host]] += c.Stay / float64(len(cols))
				mass[index[c.Alias]] += (1 - c.Stay) / float64(len(cols))
			}
			var sum float64
			for _, h := range hosts {
				sum += float64(min(h.Instance.EffectiveWeight(), discovery.MaxWeight))
			}
			for i, h := range hosts {
				want := float64(min(h.Instance.EffectiveWeight(), discovery.MaxWeight)) / sum
				if math.Abs(mass[i]-want) > 1e-9 {
					t.Errorf("host %d (weight %d): mass %.12f, want %.12f", i, h.Instance.Weight, mass[i], want)
				}
			}
		})
	}
}

// TestAliasShares samples the alias path. Each host's count must fall
// within 6 standard deviations of its expectation (plus one pick), a bound
// a correct table misses with probability about 1e-8 over all hosts.
func TestAliasShares(t *testing.T) {
	weights := variedWeights(30)
	b := newBalancer(t, weightedInstances(weights...))
	const picks = 300000
	counts := pickCounts(t, b, len(weights), picks)
	var sum float64
	for _, w := range weights {
		sum += float64(max(w, 1))
	}
	for i, w := range weights {
		p := float64(max(w, 1)) / sum
		want := picks * p
		sd := math.Sqrt(picks * p * (1 - p))
		if d := math.Abs(float64(counts[i]) - want); d > 6*sd+1 {
			t.Errorf("host %d (weight %d): %d picks, want %.0f ± %.0f", i, w, counts[i], want, 6*sd+1)
		}
	}
}

func TestPickDoesNotAllocate(t *testing.T) {
	for _, weights := range [][]int{{1}, {1, 1, 1}, {5, 1, 1}, variedWeights(100)} {
		b := newBalancer(t, weightedInstances(weights...))
		ctx := context.Background()
		allocs := testing.AllocsPerRun(1000, func() {
			if _, err := b.Pick(ctx); err != nil {
				t.Fatal(err)
			}
		})
		if allocs != 0 {
			t.Errorf("%d hosts: %v allocs per pick, want 0", len(weights), allocs)
		}
	}
}

func benchmarkPick(b *testing.B, weights func(n int) []int, parallel bool, sizes ...int) {
	for _, n := range sizes {
		b.Run(fmt.Sprintf("n=%d", n), func(b *testing.B) {
			bal := newBalancer(b, weightedInstances(weights(n)...))
			ctx := context.Background()
			b.ReportAllocs()
			if parallel {
				b.RunParallel(func(pb *testing.PB) {
					for pb.Next() {
						if _, err := bal.Pick(ctx); err != nil {
							b.Error(err)
							return
						}
					}
				})
				return
			}
			for b.Loop() {
				if _, err := bal.Pick(ctx); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func equalWeights(n int) []int { return make([]int, n) }

// scheduleWeights alternates 1 and 2, which keeps the smooth schedule
// within its bounds for the sizes benchmarked.
func scheduleWeights(n int) []int {
	w := make([]int, n)
	for i := range w {
		w[i] = 1 + i%2
	}
	return w
}

// BenchmarkPickWeighted uses equal weights: the rotation path.
func BenchmarkPickWeighted(b *testing.B) {
	benchmarkPick(b, equalWeights, false, 3, 100, 10000)
}

func BenchmarkPickWeightedParallel(b *testing.B) {
	benchmarkPick(b, equalWeights, true, 3, 100, 10000)
}

// BenchmarkPickWeightedSchedule uses the precomputed smooth schedule,
// which cannot hold 10,000 hosts.
func BenchmarkPickWeightedSchedule(b *testing.B) {
	benchmarkPick(b, scheduleWeights, false, 3, 100)
}

func BenchmarkPickWeightedScheduleParallel(b *testing.B) {
	benchmarkPick(b, scheduleWeights, true, 3, 100)
}

// BenchmarkPickWeightedAlias uses varied weights: the alias table.
func BenchmarkPickWeightedAlias(b *testing.B) {
	benchmarkPick(b, variedWeights, false, 3, 100, 10000)
}

func BenchmarkPickWeightedAliasParallel(b *testing.B) {
	benchmarkPick(b, variedWeights, true, 3, 100, 10000)
}

// BenchmarkBuildWeighted measures building a snapshot's picker.
func BenchmarkBuildWeighted(b *testing.B) {
	for _, tc := range []struct {
		name    string
		weights []int
	}{
		{"rotation/n=10000", equalWeights(10000)},
		{"schedule/n=100", scheduleWeights(100)},
		{"schedule/len=4096", []int{1, 4095}},
		{"alias/n=10000", variedWeights(10000)},
	} {
		b.Run(tc.name, func(b *testing.B) {
			hosts := hostsOf(weightedInstances(tc.weights...))
			p := weighted.New()
			b.ReportAllocs()
			for b.Loop() {
				p.Build(hosts)
			}
		})
	}
}
