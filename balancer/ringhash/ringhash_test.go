package ringhash_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"slices"
	"sort"
	"sync"
	"testing"

	"github.com/go-kit/kit/endpoint"

	"github.com/switchyard/switchyard/balancer"
	"github.com/switchyard/switchyard/balancer/balancertest"
	"github.com/switchyard/switchyard/balancer/ringhash"
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
	if got := (ringhash.Policy{}).Name(); got != "ring_hash" {
		t.Fatalf("Name() = %q, want ring_hash", got)
	}
}

func TestNew(t *testing.T) {
	tests := []struct {
		name string
		opts []ringhash.Option
		ok   bool
	}{
		{"defaults", nil, true},
		{"min 1", []ringhash.Option{ringhash.WithMinRingSize(1)}, true},
		{"min above default max", []ringhash.Option{ringhash.WithMinRingSize(1 << 20)}, true},
		{"min equals max", []ringhash.Option{ringhash.WithMinRingSize(4096), ringhash.WithMaxRingSize(4096)}, true},
		{"largest", []ringhash.Option{ringhash.WithMaxRingSize(ringhash.MaxRingSize)}, true},
		{"one virtual node", []ringhash.Option{ringhash.WithVirtualNodes(1)}, true},
		{"negative virtual nodes", []ringhash.Option{ringhash.WithVirtualNodes(-1)}, false},
		{"zero selects the defaults", []ringhash.Option{ringhash.WithVirtualNodes(0), ringhash.WithMinRingSize(0), ringhash.WithMaxRingSize(0)}, true},
		{"negative min", []ringhash.Option{ringhash.WithMinRingSize(-1)}, false},
		{"min too large", []ringhash.Option{ringhash.WithMinRingSize(ringhash.MaxRingSize + 1)}, false},
		{"max below min", []ringhash.Option{ringhash.WithMinRingSize(2048), ringhash.WithMaxRingSize(1024)}, false},
		{"max below default min", []ringhash.Option{ringhash.WithMaxRingSize(100)}, false},
		{"max too large", []ringhash.Option{ringhash.WithMaxRingSize(ringhash.MaxRingSize + 1)}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ringhash.New(tt.opts...)
			if tt.ok && err != nil {
				t.Fatalf("New() = %v, want no error", err)
			}
			if !tt.ok && !errors.Is(err, ringhash.ErrRingSize) {
				t.Fatalf("New() = %v, want ErrRingSize", err)
			}
		})
	}
}

// TestRemap checks the property consistent hashing exists for. With equal
// weights the ring gives every host the same entries whatever the other
// members are, so removing a host moves exactly the keys it owned (about
// 1/n) and adding one moves only keys to the newcomer.
func TestRemap(t *testing.T) {
	var p ringhash.Policy
	for _, n := range []int{5, 10, 50} {
		t.Run(fmt.Sprintf("n=%d", n), func(t *testing.T) {
			all := instances(n + 1)
			list, extra := all[:n], all[n]
			before := owners(t, p, list)
			for _, gone := range []int{0, n / 2, n - 1} {
				after := owners(t, p, without(list, gone))
				moved := 0
				for k := range before {
					switch {
					case before[k] == list[gone].ID:
						moved++
						if after[k] == list[gone].ID {
							t.Fatalf("key %d still maps to removed host %s", k, list[gone].ID)
						}
					case after[k] != before[k]:
						t.Fatalf("removing %s moved key %d from %s to %s", list[gone].ID, k, before[k], after[k])
					}
				}
				share := float64(moved) / numKeys
				t.Logf("remove %s: %.2f%% of keys moved (1/n = %.2f%%)", list[gone].ID, 100*share, 100.0/float64(n))
				if limit := 1/float64(n) + 0.05; share > limit {
					t.Errorf("removing %s moved %.2f%% of keys, want ≤ %.2f%%", list[gone].ID, 100*share, 100*limit)
				}
			}

			// Adding a host back restores the original mapping exactly.
			if again := owners(t, p, list); !slices.Equal(again, before) {
				t.Fatal("rebuilding with the original members changed the mapping")
			}

			grown := owners(t, p, all)
			moved := 0
			for k := range before {
				if grown[k] != before[k] {
					moved++
					if grown[k] != extra.ID {
						t.Fatalf("adding %s moved key %d from %s to %s", extra.ID, k, before[k], grown[k])
					}
				}
			}
			share := float64(moved) / numKeys
			t.Logf("add %s: %.2f%% of keys moved (1/(n+1) = %.2f%%)", extra.ID, 100*share, 100.0/float64(n+1))
			if limit := 1/float64(n+1) + 0.05; share > limit || moved == 0 {
				t.Errorf("adding a host moved %.2f%% of keys, want (0, %.2f%%]", 100*share, 100*limit)
			}
		})
	}
}

// TestBalance checks each host's share of keys against its due. A ring
// is lumpy: a host's share is the sum of the c arcs in front of its c
// entries, whose relative spread is 1/√c (6% at the default 256 entries),
// and the most loaded of n hosts sits 2–3 spreads out. Each host must be
// within 4 spreads, plus 4 standard deviations of sampling 100,000 keys.
// The keys and the hash are fixed, so the outcome is too; the bound says
// what a sound ring achieves, and a ring with too few entries, clustered
// positions, a biased search or ignored weights misses it by far.
func TestBalance(t *testing.T) {
	tests := []struct {
		name    string
		policy  ringhash.Policy
		n       int
		weights []int
	}{
		{"n=3", ringhash.Policy{}, 3, nil},   // 342 entries each (the minimum ring size)
		{"n=10", ringhash.Policy{}, 10, nil}, // 256 each
		{"n=50", ringhash.Policy{}, 50, nil}, // 256 each
		{"n=10 v=4096", must(ringhash.New(ringhash.WithVirtualNodes(4096))), 10, nil},
		{"weights 1:2:3:4", ringhash.Policy{}, 4, []int{1, 2, 3, 4}},
		{"weights 1:1:1:5", ringhash.Policy{}, 4, []int{1, 1, 1, 5}},
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
			_, ringOwners := ringhash.Ring(tt.policy.Build(hostsOf(list)))
			entries := make([]int, tt.n)
			for _, o := range ringOwners {
				entries[o]++
			}
			got := shares(owners(t, tt.policy, list))
			worst, worstDev := 0.0, 0.0
			for i, inst := range list {
				due := float64(inst.EffectiveWeight()) / float64(total)
				tol := 4/math.Sqrt(float64(entries[i])) + 4*math.Sqrt((1-due)/(due*numKeys))
				dev := got[inst.ID]/due - 1
				worst = max(worst, math.Abs(dev)/tol)
				worstDev = max(worstDev, math.Abs(dev))
				if math.Abs(dev) > tol {
					t.Errorf("host %s (weight %d, %d entries) got %.2f%% of keys, want %.2f%% ± %.1f%%",
						inst.ID, inst.EffectiveWeight(), entries[i], 100*got[inst.ID], 100*due, 100*due*tol)
				}
			}
			t.Logf("worst deviation from a due share: %.1f%% (%.0f%% of the allowed)", 100*worstDev, 100*worst)
		})
	}
}

func must(p ringhash.Policy, err error) ringhash.Policy {
	if err != nil {
		panic(err)
	}
	return p
}

// TestStable checks that the mapping depends on the membership only: two
// balancers fed the same instances in different orders agree on every key,
// and a balancer that went through other memberships returns to it.
func TestStable(t *testing.T) {
	var p ringhash.Policy
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
	b, err := balancer.New(ringhash.Policy{}, balancer.Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	b.Update(instances(10))
	golden := map[string]string{
		"user-1":    "i00008",
		"user-2":    "i00006",
		"user-3":    "i00000",
		"cart-4711": "i00006",
		"order-99":  "i00007",
		"":          "i00000",
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

// TestRingSize checks the entry counts: the virtual-node count, raised by
// the minimum ring size and cut by the maximum, the same for every host of
// equal weight, and at least one entry each.
func TestRingSize(t *testing.T) {
	tests := []struct {
		name      string
		opts      []ringhash.Option
		n         int
		perHost   int
		totalWant int
	}{
		{"two hosts fill the minimum", nil, 2, 512, 1024},
		{"three hosts round up", nil, 3, 342, 1026},
		{"four hosts", nil, 4, 256, 1024},
		{"virtual nodes", nil, 100, 256, 25600},
		{"maximum binds", nil, 10000, 13, 130000},
		{"one entry each beyond the maximum", []ringhash.Option{ringhash.WithMinRingSize(10), ringhash.WithMaxRingSize(100)}, 300, 1, 300},
		{"custom virtual nodes", []ringhash.Option{ringhash.WithVirtualNodes(10), ringhash.WithMinRingSize(1)}, 7, 10, 70},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := must(ringhash.New(tt.opts...))
			hosts := hostsOf(instances(tt.n))
			hashes, owners := ringhash.Ring(p.Build(hosts))
			if len(hashes) != tt.totalWant || len(owners) != tt.totalWant {
				t.Fatalf("ring has %d positions and %d owners, want %d", len(hashes), len(owners), tt.totalWant)
			}
			if !slices.IsSorted(hashes) {
				t.Fatal("ring positions are not sorted")
			}
			count := make([]int, tt.n)
			for _, o := range owners {
				count[o]++
			}
			for i, c := range count {
				if c != tt.perHost {
					t.Fatalf("host %d has %d entries, want %d", i, c, tt.perHost)
				}
			}
		})
	}
}

// TestWeightedEntries checks that weights scale entry counts against the
// mean weight, Ketama style, and that a tiny weight still gets an entry.
func TestWeightedEntries(t *testing.T) {
	list := instances(4)
	for i, w := range []int{1, 3, 0, 1 << 40} { // 0 counts as 1; 2^40 is capped
		list[i].Weight = w
	}
	hosts := hostsOf(list)
	_, owners := ringhash.Ring(ringhash.Policy{}.Build(hosts))
	count := make([]int, len(hosts))
	for _, o := range owners {
		count[o]++
	}
	if count[0] != 1 || count[1] != 1 || count[2] != 1 || count[3] != 1024 {
		t.Fatalf("entries per host = %v, want [1 1 1 1024]", count)
	}

	for i, w := range []int{1, 3, 2, 2} {
		list[i].Weight = w
	}
	_, owners = ringhash.Ring(ringhash.Policy{}.Build(hostsOf(list)))
	clear(count)
	for _, o := range owners {
		count[o]++
	}
	if want := []int{128, 384, 256, 256}; !slices.Equal(count, want) {
		t.Fatalf("entries per host = %v, want %v", count, want)
	}
}

// TestPickSearches checks the bucketed search against sort.Search, on
// rings from two entries (a single bucket) to 130,000.
func TestPickSearches(t *testing.T) {
	tiny := must(ringhash.New(ringhash.WithVirtualNodes(1), ringhash.WithMinRingSize(1)))
	tests := []struct {
		p ringhash.Policy
		n int
	}{
		{tiny, 2}, {tiny, 3}, {tiny, 9}, {tiny, 50},
		{ringhash.Policy{}, 2}, {ringhash.Policy{}, 17}, {ringhash.Policy{}, 1000}, {ringhash.Policy{}, 10000},
	}
	for _, tt := range tests {
		hosts := hostsOf(instances(tt.n))
		picker := tt.p.Build(hosts)
		hashes, owners := ringhash.Ring(picker)
		check := func(key string) {
			x := xhash.String(key)
			i := sort.Search(len(hashes), func(i int) bool { return hashes[i] >= x })
			want := hosts[owners[i%len(hashes)]]
			if got := picker.Pick(balancer.ContextWithKey(context.Background(), key)); got != want {
				t.Fatalf("%d entries, key %q: picked %s, want %s", len(hashes), key, got.Instance.ID, want.Instance.ID)
			}
		}
		for i := range 5000 {
			check(fmt.Sprintf("k%d", i))
		}
		// Keys hashing just below, at and just above entries, and past
		// the last one, probe the bucket edges and the wrap-around.
		for _, i := range []int{0, 1, len(hashes) / 2, len(hashes) - 1} {
			x := hashes[i]
			for _, y := range []uint64{x - 1, x, x + 1} {
				j := sort.Search(len(hashes), func(i int) bool { return hashes[i] >= y })
				if got, want := ringhash.Search(picker, y), j%len(hashes); got != want {
					t.Fatalf("%d entries: search(%#x) = %d, want %d", len(hashes), y, got, want)
				}
			}
		}
		if got := ringhash.Search(picker, math.MaxUint64); hashes[len(hashes)-1] != math.MaxUint64 && got != 0 {
			t.Fatalf("%d entries: search past the last entry = %d, want 0 (wrap)", len(hashes), got)
		}
	}
}

func TestNoKey(t *testing.T) {
	list := instances(3)
	list[2].Weight = 2
	b, err := balancer.New(ringhash.Policy{}, balancer.Config{})
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
	// Keyless picks land on a random entry, so each host gets its weight's
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
	list := instances(1)
	hosts := hostsOf(list)
	picker := ringhash.Policy{}.Build(hosts)
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
	picker := ringhash.Policy{}.Build(hosts)
	_, owners := ringhash.Ring(picker)
	if len(owners) != 3*342 {
		t.Fatalf("ring has %d entries, want %d (three distinct IDs)", len(owners), 3*342)
	}
	seen := map[*balancer.Host]bool{}
	for _, ctx := range keys()[:3000] {
		seen[picker.Pick(ctx)] = true
	}
	if len(seen) != 3 || !seen[hosts[0]] || !seen[hosts[1]] || !seen[hosts[4]] {
		t.Fatalf("picked %d distinct hosts, want the first host of each ID", len(seen))
	}

	only := hostsOf([]discovery.Instance{list[1], list[1]})
	if h := (ringhash.Policy{}).Build(only).Pick(keys()[0]); h != only[0] {
		t.Fatal("two hosts with one ID: want the first")
	}
}

func TestPickDoesNotAllocate(t *testing.T) {
	b, err := balancer.New(ringhash.Policy{}, balancer.Config{})
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
	b, err := balancer.New(ringhash.Policy{}, balancer.Config{})
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

// FuzzPick builds rings from fuzzed members, weights and bounds and checks
// that every pick returns one of the members.
func FuzzPick(f *testing.F) {
	f.Add("a,b,c", []byte{1, 2, 3}, "user-1", uint16(0), uint16(0))
	f.Add("x", []byte{}, "", uint16(1), uint16(1))
	f.Add("a,a,b,,c", []byte{0, 255, 7}, "k", uint16(3), uint16(5))
	f.Add("h1,h2,h3,h4,h5,h6,h7,h8", []byte{200, 1}, "\x00\xff", uint16(9000), uint16(2))
	f.Fuzz(func(t *testing.T, ids string, weights []byte, key string, minRing, maxRing uint16) {
		list := fuzzInstances(ids, weights)
		discovery.SortByID(list)
		hosts := hostsOf(list)
		lo := int(minRing%4096) + 1
		p, err := ringhash.New(ringhash.WithMinRingSize(lo), ringhash.WithMaxRingSize(lo+int(maxRing%4096)),
			ringhash.WithVirtualNodes(int(maxRing%300)+1))
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

// TestRetryWalksTheRing: a retry whose key's owner was already tried goes
// to the next untried host clockwise, which is where the key would go if
// the tried hosts left the ring (with five hosts or more, every host keeps
// its entries whatever the membership: see TestRemap). So affinity holds
// through a retry: every caller sends the key to the same second host,
// the tried host's keys spread over the others as they would on its
// removal, and keys whose owner was not tried stay where they are.
func TestRetryWalksTheRing(t *testing.T) {
	var p ringhash.Policy
	list := instances(6)
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
	for _, gone := range [][]int{{0}, {3}, {1, 4}} {
		tried := balancertest.Tried{}
		rest := list
		for i, g := range gone {
			tried[list[g].ID] = true
			rest = without(rest, g-i)
		}
		want := owners(t, p, rest)[:n]
		movedTo := map[string]int{}
		for k, ctx := range keys()[:n] {
			resp, err := b.Call(ctx, tried)
			if err != nil {
				t.Fatal(err)
			}
			if resp != want[k] {
				t.Fatalf("tried %v: key %d went to %v, want %s, its owner on a ring without them (owner now %s)", gone, k, resp, want[k], before[k])
			}
			if tried[before[k]] {
				movedTo[want[k]]++
			}
		}
		if len(movedTo) < len(rest)-1 {
			t.Errorf("tried %v: their keys went to %v only; they should spread over the other hosts", gone, movedTo)
		}
		t.Logf("tried %v: their keys went to %v", gone, movedTo)
	}
}
