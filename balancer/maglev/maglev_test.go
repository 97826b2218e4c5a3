package maglev_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"math/bits"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"

	"github.com/go-kit/kit/endpoint"

	"github.com/switchyard/switchyard/balancer"
	"github.com/switchyard/switchyard/balancer/balancertest"
	"github.com/switchyard/switchyard/balancer/maglev"
	"github.com/switchyard/switchyard/discovery"
	"github.com/switchyard/switchyard/internal/xhash"
)

const numKeys = 100_000

// keys are the contexts every distribution test picks with. The keys are
// fixed and the hash is stable, so these tests are deterministic: the
// bounds below are about what a sound ring must achieve, not about luck.
var keys = sync.OnceValue(func() []context.Context {
	ctxs := make([]context.Context, numKeys)
	for i := range ctxs {
		ctxs[i] = balancer.ContextWithKey(context.Background(), fmt.Sprintf("key-%d", i))
	}
	return ctxs
})

// owners returns the ID of the host each key maps to, picking through a
// balancer as a client would.
func owners(t testing.TB, p balancer.Policy, list []discovery.Instance) []string {
	t.Helper()
	b, err := balancer.New(p, balancer.Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	b.Update(list)
	out := make([]string, numKeys)
	for i, ctx := range keys() {
		h, err := b.Pick(ctx)
		if err != nil {
			t.Fatal(err)
		}
		out[i] = h.Instance.ID
	}
	return out
}

func shares(ids []string) map[string]float64 {
	m := make(map[string]float64)
	for _, id := range ids {
		m[id] += 1.0 / float64(len(ids))
	}
	return m
}

func without(list []discovery.Instance, i int) []discovery.Instance {
	return slices.Concat(list[:i], list[i+1:])
}

func TestName(t *testing.T) {
	if got := (maglev.Policy{}).Name(); got != "maglev" {
		t.Fatalf("Name() = %q, want maglev", got)
	}
}

func TestNew(t *testing.T) {
	tests := []struct {
		size int
		ok   bool
	}{
		{0, true}, // the default
		{2, true},
		{3, true},
		{251, true},
		{65537, true},
		{16777213, true}, // the largest prime below 2^24
		{1, false},
		{-7, false},
		{4, false},
		{65536, false},
		{65539 * 65539, false},
		{1<<24 + 43, false}, // prime, but too large
	}
	for _, tt := range tests {
		t.Run(fmt.Sprint(tt.size), func(t *testing.T) {
			_, err := maglev.New(maglev.WithTableSize(tt.size))
			if tt.ok && err != nil {
				t.Fatalf("New(WithTableSize(%d)) = %v, want no error", tt.size, err)
			}
			if !tt.ok && !errors.Is(err, maglev.ErrTableSize) {
				t.Fatalf("New(WithTableSize(%d)) = %v, want ErrTableSize", tt.size, err)
			}
		})
	}
}

// TestRemap checks the disruption on membership changes. Removing a host
// must move all of its keys, and should move few others: Maglev fills the
// removed host's slots from the other hosts' preference lists, which
// disturbs a few more slots than strictly needed.
func TestRemap(t *testing.T) {
	var p maglev.Policy
	for _, n := range []int{5, 10, 50} {
		t.Run(fmt.Sprintf("n=%d", n), func(t *testing.T) {
			all := instances(n + 1)
			list, extra := all[:n], all[n]
			before := owners(t, p, list)
			for _, gone := range []int{0, n / 2, n - 1} {
				after := owners(t, p, without(list, gone))
				moved, others := 0, 0
				for k := range before {
					if before[k] == list[gone].ID && after[k] == list[gone].ID {
						t.Fatalf("key %d still maps to removed host %s", k, list[gone].ID)
					}
					if after[k] != before[k] {
						moved++
						if before[k] != list[gone].ID {
							others++
						}
					}
				}
				share := float64(moved) / numKeys
				t.Logf("remove %s: %.2f%% of keys moved, %.2f%% from other hosts (1/n = %.2f%%)",
					list[gone].ID, 100*share, 100*float64(others)/numKeys, 100.0/float64(n))
				if limit := 1/float64(n) + 0.05; share > limit {
					t.Errorf("removing %s moved %.2f%% of keys, want ≤ %.2f%%", list[gone].ID, 100*share, 100*limit)
				}
			}

			if again := owners(t, p, list); !slices.Equal(again, before) {
				t.Fatal("rebuilding with the original members changed the mapping")
			}

			grown := owners(t, p, all)
			moved, toNew := 0, 0
			for k := range before {
				if grown[k] != before[k] {
					moved++
					if grown[k] == extra.ID {
						toNew++
					}
				}
			}
			share := float64(moved) / numKeys
			t.Logf("add %s: %.2f%% of keys moved, %.2f%% to it (1/(n+1) = %.2f%%)",
				extra.ID, 100*share, 100*float64(toNew)/numKeys, 100.0/float64(n+1))
			if limit := 1/float64(n+1) + 0.05; share > limit || toNew == 0 {
				t.Errorf("adding a host moved %.2f%% of keys, %d to it; want ≤ %.2f%% and some", 100*share, toNew, 100*limit)
			}
		})
	}
}

// TestBalance checks each host's share of keys against its due. Maglev's
// table gives each host its due number of slots to within one, so what is
// left is the noise of sampling 100,000 keys: the bound is 4 standard
// deviations of that, plus one slot.
func TestBalance(t *testing.T) {
	tests := []struct {
		name    string
		policy  maglev.Policy
		n       int
		weights []int
	}{
		{"n=3", maglev.Policy{}, 3, nil},
		{"n=10", maglev.Policy{}, 10, nil},
		{"n=50", maglev.Policy{}, 50, nil},
		{"n=10 m=251", must(maglev.New(maglev.WithTableSize(251))), 10, nil},
		{"weights 1:2:3:4", maglev.Policy{}, 4, []int{1, 2, 3, 4}},
		{"weights 1:1:1:5", maglev.Policy{}, 4, []int{1, 1, 1, 5}},
		{"weights 1:100", maglev.Policy{}, 2, []int{1, 100}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			list := instances(tt.n)
			total := 0
			for i := range list {
				if tt.weights != nil {
					list[i].Weight = tt.weights[i]
				}
				total += list[i].EffectiveWeight()
			}
			m := float64(len(maglev.Slots(tt.policy.Build(hostsOf(list)))))
			got := shares(owners(t, tt.policy, list))
			worst := 0.0
			for _, inst := range list {
				due := float64(inst.EffectiveWeight()) / float64(total)
				tol := 1/(due*m) + 4*math.Sqrt((1-due)/(due*numKeys))
				dev := got[inst.ID]/due - 1
				worst = max(worst, math.Abs(dev))
				if math.Abs(dev) > tol {
					t.Errorf("host %s (weight %d) got %.2f%% of keys, want %.2f%% ± %.2f%%",
						inst.ID, inst.EffectiveWeight(), 100*got[inst.ID], 100*due, 100*due*tol)
				}
			}
			t.Logf("worst deviation from a due share: %.1f%%", 100*worst)
		})
	}
}

// TestSlots checks the table itself: with equal weights every host holds
// ⌊m/n⌋ or ⌈m/n⌉ slots. With weights each host's count is its turns,
// ⌊(r+1)·w/wmax⌋ after r rounds give or take the last partial round, so
// it is within one slot of r's ideal share; and since the counts sum to m,
// that ideal is off the due share m·w/W by at most n·w/W slots.
func TestSlots(t *testing.T) {
	tests := []struct {
		name    string
		size    int
		n       int
		weights []int
	}{
		{"n=3", 0, 3, nil},
		{"n=10000", 0, 10000, nil},
		{"small", 13, 5, nil},
		{"weighted", 0, 5, []int{1, 2, 3, 4, 5}},
		{"weighted many", 0, 1000, []int{1, 2, 7}},
		{"huge weight", 0, 3, []int{1, 1 << 40, 1 << 31}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			list := instances(tt.n)
			var total float64
			for i := range list {
				if tt.weights != nil {
					list[i].Weight = tt.weights[i%len(tt.weights)]
				}
				total += float64(min(list[i].EffectiveWeight(), 1<<31))
			}
			slots := maglev.Slots(must(maglev.New(maglev.WithTableSize(tt.size))).Build(hostsOf(list)))
			m := float64(len(slots))
			count := make([]int, tt.n)
			for _, s := range slots {
				count[s]++
			}
			for i, inst := range list {
				w := float64(min(inst.EffectiveWeight(), 1<<31))
				due := m * w / total
				tol := 1.0
				if tt.weights != nil {
					tol += float64(tt.n) * w / total
				}
				if math.Abs(float64(count[i])-due) > tol {
					t.Fatalf("host %d (weight %d) holds %d slots, want %.2f ± %.2f", i, inst.EffectiveWeight(), count[i], due, tol)
				}
			}
		})
	}
}

// TestWeightsAreRatios checks that only weight ratios matter: scaling
// every weight leaves the table as it was.
func TestWeightsAreRatios(t *testing.T) {
	for _, ws := range [][2][]int{
		{{1}, {7}},
		{{1, 2, 3}, {2, 4, 6}},
		{{5, 1, 1, 5}, {50, 10, 10, 50}},
	} {
		tables := make([][]uint32, 2)
		for v, weights := range ws {
			list := instances(300)
			for i := range list {
				list[i].Weight = weights[i%len(weights)]
			}
			tables[v] = maglev.Slots(maglev.Policy{}.Build(hostsOf(list)))
		}
		if !slices.Equal(tables[0], tables[1]) {
			t.Errorf("weights %v and %v give different tables", ws[0], ws[1])
		}
	}
}

// TestTableGrows checks the fallback when hosts outnumber the slots: the
// table doubles to the next prime until every host can hold a slot.
func TestTableGrows(t *testing.T) {
	tests := []struct{ size, n, want int }{
		{7, 7, 7},
		{7, 8, 17},    // the least prime ≥ 14
		{7, 20, 37},   // 7 → 17 → 37
		{2, 100, 197}, // 2 → 5 → 11 → 23 → 47 → 97 → 197
	}
	for _, tt := range tests {
		p := must(maglev.New(maglev.WithTableSize(tt.size)))
		hosts := hostsOf(instances(tt.n))
		slots := maglev.Slots(p.Build(hosts))
		if len(slots) != tt.want {
			t.Errorf("m=%d n=%d: table has %d slots, want %d", tt.size, tt.n, len(slots), tt.want)
		}
		seen := make([]bool, tt.n)
		for _, s := range slots {
			seen[s] = true
		}
		if slices.Contains(seen, false) {
			t.Errorf("m=%d n=%d: some host holds no slot", tt.size, tt.n)
		}
	}
}

func must(p maglev.Policy, err error) maglev.Policy {
	if err != nil {
		panic(err)
	}
	return p
}

// TestStable checks that the mapping depends on the membership only: two
// balancers fed the same instances in different orders agree on every key,
// and a balancer that went through other memberships returns to it.
func TestStable(t *testing.T) {
	var p maglev.Policy
	list := instances(20)
	want := owners(t, p, list)

	shuffled := slices.Clone(list)
	rand.Shuffle(len(shuffled), func(i, j int) { shuffled[i], shuffled[j] = shuffled[j], shuffled[i] })
	if got := owners(t, p, shuffled); !slices.Equal(got, want) {
		t.Error("a separately built balancer maps keys differently")
	}

	b, err := balancer.New(p, balancer.Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	b.Update(list[:3])
	b.Update(instances(40))
	b.Update(list)
	for i, ctx := range keys()[:10000] {
		h, err := b.Pick(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if h.Instance.ID != want[i] {
			t.Fatalf("after membership changes key %d maps to %s, want %s", i, h.Instance.ID, want[i])
		}
	}
}

// TestGolden pins the mapping of a few keys. Every process and every
// release must agree on it, so a change here breaks clients that run
// different versions side by side: change it only on purpose.
func TestGolden(t *testing.T) {
	b, err := balancer.New(maglev.Policy{}, balancer.Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	b.Update(instances(10))
	golden := map[string]string{
		"user-1":    "i00008",
		"user-2":    "i00001",
		"user-3":    "i00008",
		"cart-4711": "i00004",
		"order-99":  "i00002",
		"":          "i00009",
	}
	for key, want := range golden {
		h, err := b.Pick(balancer.ContextWithKey(context.Background(), key))
		if err != nil {
			t.Fatal(err)
		}
		if h.Instance.ID != want {
			t.Errorf("key %q maps to %s, want %s", key, h.Instance.ID, want)
		}
	}
}

// TestPickSlot checks the key-to-slot reduction against its definition.
func TestPickSlot(t *testing.T) {
	hosts := hostsOf(instances(7))
	picker := must(maglev.New(maglev.WithTableSize(101))).Build(hosts)
	slots := maglev.Slots(picker)
	for i := range 10000 {
		key := fmt.Sprintf("k%d", i)
		s, _ := bits.Mul64(xhash.String(key), uint64(len(slots)))
		if got := picker.Pick(balancer.ContextWithKey(context.Background(), key)); got != hosts[slots[s]] {
			t.Fatalf("key %q: picked %s, want %s", key, got.Instance.ID, hosts[slots[s]].Instance.ID)
		}
	}
}

func TestNoKey(t *testing.T) {
	list := instances(3)
	list[2].Weight = 2
	b, err := balancer.New(maglev.Policy{}, balancer.Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	b.Update(list)
	const picks = 40000
	count := map[string]int{}
	for range picks {
		h, err := b.Pick(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		count[h.Instance.ID]++
	}
	// Keyless picks land on a random slot, so each host gets its weight's
	// share: 1/4, 1/4, 1/2. σ ≈ 87 for the first two; ±5% of 10,000 is
	// more than 5σ.
	for i, inst := range list {
		due := picks * inst.EffectiveWeight() / 4
		if c := count[inst.ID]; c < due*95/100 || c > due*105/100 {
			t.Errorf("host %d picked %d times, want %d ± 5%%", i, c, due)
		}
	}
}

func TestSingleHost(t *testing.T) {
	hosts := hostsOf(instances(1))
	picker := maglev.Policy{}.Build(hosts)
	for _, ctx := range []context.Context{context.Background(), balancer.ContextWithKey(context.Background(), "x")} {
		if h := picker.Pick(ctx); h != hosts[0] {
			t.Fatalf("picked %v, want the only host", h)
		}
	}
}

// TestDuplicateIDs: hosts sharing an ID count once, and the first of them
// takes the ID's share.
func TestDuplicateIDs(t *testing.T) {
	list := instances(3)
	list = append(list, list[1], list[1])
	discovery.SortByID(list)
	hosts := hostsOf(list)
	picker := maglev.Policy{}.Build(hosts)
	count := map[uint32]int{}
	for _, s := range maglev.Slots(picker) {
		count[s]++
	}
	if len(count) != 3 || count[0] < 21845 || count[1] < 21845 || count[4] < 21845 {
		t.Fatalf("slots per host index = %v, want a third each for hosts 0, 1 and 4", count)
	}

	only := hostsOf([]discovery.Instance{list[1], list[1]})
	if h := (maglev.Policy{}).Build(only).Pick(keys()[0]); h != only[0] {
		t.Fatal("two hosts with one ID: want the first")
	}
}

func TestPickDoesNotAllocate(t *testing.T) {
	b, err := balancer.New(maglev.Policy{}, balancer.Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	b.Update(instances(100))
	ctxs := keyContexts()
	i := 0
	for _, tc := range []struct {
		name string
		ctx  func() context.Context
	}{
		{"key", func() context.Context { i++; return ctxs[i&1023] }},
		{"no key", context.Background},
	} {
		allocs := testing.AllocsPerRun(1000, func() {
			if _, err := b.Pick(tc.ctx()); err != nil {
				t.Fatal(err)
			}
		})
		if allocs != 0 {
			t.Errorf("%s: Pick allocates %.1f times, want 0", tc.name, allocs)
		}
	}
}

func TestConcurrentPicksAndUpdates(t *testing.T) {
	b, err := balancer.New(maglev.Policy{}, balancer.Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	list := instances(20)
	b.Update(list)
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			for i := range 2000 {
				h, err := b.Pick(keys()[g*2000+i])
				if err != nil {
					t.Error(err)
					return
				}
				if h.Instance.Service != "svc" {
					t.Errorf("picked %v", h.Instance)
					return
				}
			}
		})
	}
	for i := range 20 {
		b.Update(list[:10+i%10])
	}
	wg.Wait()
}

// fuzzSizes are the table sizes FuzzPick chooses from: small primes, so
// that hosts often outnumber slots, and the default.
var fuzzSizes = []int{2, 3, 5, 7, 11, 13, 31, 251, 65537}

// FuzzPick builds tables from fuzzed members, weights and sizes and checks
// that every pick returns one of the members.
func FuzzPick(f *testing.F) {
	f.Add("a,b,c", []byte{1, 2, 3}, "user-1", uint8(8))
	f.Add("x", []byte{}, "", uint8(0))
	f.Add("a,a,b,,c", []byte{0, 255, 7}, "k", uint8(1))
	f.Add("h1,h2,h3,h4,h5,h6,h7,h8", []byte{200, 1}, "\x00\xff", uint8(2))
	f.Fuzz(func(t *testing.T, ids string, weights []byte, key string, size uint8) {
		list := fuzzInstances(ids, weights)
		discovery.SortByID(list)
		hosts := hostsOf(list)
		p, err := maglev.New(maglev.WithTableSize(fuzzSizes[int(size)%len(fuzzSizes)]))
		if err != nil {
			t.Fatal(err)
		}
		picker := p.Build(hosts)
		for _, ctx := range []context.Context{
			balancer.ContextWithKey(context.Background(), key),
			balancer.ContextWithKey(context.Background(), key+"'"),
			context.Background(),
		} {
			h := picker.Pick(ctx)
			if !slices.Contains(hosts, h) {
				t.Fatalf("picked %v, not a member", h)
			}
		}
	})
}

// fuzzInstances makes up to 64 instances from comma-separated IDs; weight
// bytes cycle over them, 255 standing for a huge weight.
func fuzzInstances(ids string, weights []byte) []discovery.Instance {
	var list []discovery.Instance
	for i, id := range splitIDs(ids) {
		inst := discovery.Instance{ID: id, Service: "svc", Addr: "10.0.0.1:80"}
		if len(weights) > 0 {
			switch w := weights[i%len(weights)]; w {
			case 255:
				inst.Weight = 1 << 62
			default:
				inst.Weight = int(w) - 10 // some zero and negative weights
			}
		}
		list = append(list, inst)
	}
	return list
}

func splitIDs(s string) []string {
	var out []string
	start := 0
	for i := 0; i <= len(s) && len(out) < 64; i++ {
		if i == len(s) || s[i] == ',' {
			out = append(out, s[start:i])
			start = i + 1
		}
	}
	return out
}

// TestRetryWalksTheTable: a retry whose key's owner was already tried goes
// to the owner of the next slot that is not tried. That is the same host
// for the key at every call and in every process, the tried host's keys
// spread over all the others (each takes 15 to 35 % of them here, where
// a quarter would be even; keys and hash are fixed, so the shares are
// too), and keys whose owner was not tried stay where they are.
func TestRetryWalksTheTable(t *testing.T) {
	var p maglev.Policy
	list := instances(5)
	b, err := balancer.New(p, balancer.Config{Factory: func(inst discovery.Instance) (endpoint.Endpoint, io.Closer, error) {
		id := any(inst.ID)
		return func(context.Context, any) (any, error) { return id, nil }, nil, nil
	}})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	b.Update(list)
	const n = 20_000
	before := owners(t, p, list)[:n]
	tried := balancertest.Tried{list[2].ID: true}
	movedTo := map[any]int{}
	for k, ctx := range keys()[:n] {
		resp, err := b.Call(ctx, tried)
		if err != nil {
			t.Fatal(err)
		}
		if again, _ := b.Call(ctx, tried); again != resp {
			t.Fatalf("key %d went to %v, then to %v", k, resp, again)
		}
		switch {
		case tried[before[k]]:
			if resp == before[k] {
				t.Fatalf("key %d went to %v, which it had tried", k, resp)
			}
			movedTo[resp]++
		case resp != before[k]:
			t.Fatalf("key %d went to %v, not to its owner %s, which it had not tried", k, resp, before[k])
		}
	}
	moved := 0
	for _, c := range movedTo {
		moved += c
	}
	for _, inst := range without(list, 2) {
		if share := float64(movedTo[inst.ID]) / float64(moved); share < 0.15 || share > 0.35 {
			t.Errorf("%s took %.1f%% of the tried host's keys, want about 25%% (%v)", inst.ID, 100*share, movedTo)
		}
	}
	t.Logf("the tried host's %d keys went to %v", moved, movedTo)
}
