package balancer_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/go-kit/kit/endpoint"
	"github.com/go-kit/kit/sd/lb"
	"go.uber.org/goleak"

	"github.com/switchyard/switchyard/balancer"
	"github.com/switchyard/switchyard/balancer/roundrobin"
	"github.com/switchyard/switchyard/discovery"
	"github.com/switchyard/switchyard/discovery/memory"
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

// statusErr is an error with an HTTP status, as transport clients return.
type statusErr int

func (e statusErr) Error() string   { return fmt.Sprintf("status %d", int(e)) }
func (e statusErr) StatusCode() int { return int(e) }

func TestPickWithoutHostsFails(t *testing.T) {
	b, err := balancer.New(roundrobin.New(), balancer.Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if _, err := b.Pick(context.Background()); !errors.Is(err, balancer.ErrNoHosts) {
		t.Fatalf("Pick on empty balancer: %v, want ErrNoHosts", err)
	}
	if _, err := b.Call(context.Background(), nil); !errors.Is(err, balancer.ErrNoHosts) {
		t.Fatalf("Call on empty balancer: %v, want ErrNoHosts", err)
	}
}

func TestUpdateKeepsHostsOfUnchangedInstances(t *testing.T) {
	b, err := balancer.New(roundrobin.New(), balancer.Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	list := instances(3)
	b.Update(list)
	first := map[string]*balancer.Host{}
	for range 3 {
		h, _ := b.Pick(context.Background())
		first[h.Instance.ID] = h
	}
	if len(first) != 3 {
		t.Fatalf("round robin over 3 hosts visited %d", len(first))
	}
	// Replace one instance's record and drop another.
	changed := list[0]
	changed.Addr = "10.9.9.9:80"
	b.Update([]discovery.Instance{changed, list[1]})
	seen := map[string]*balancer.Host{}
	for range 4 {
		h, _ := b.Pick(context.Background())
		seen[h.Instance.ID] = h
	}
	if len(seen) != 2 {
		t.Fatalf("after update picks visited %v, want 2 hosts", seen)
	}
	if seen[list[1].ID] != first[list[1].ID] {
		t.Error("unchanged instance lost its Host across the update")
	}
	if seen[changed.ID] == first[changed.ID] || seen[changed.ID].Instance.Addr != changed.Addr {
		t.Error("changed instance kept its old Host")
	}
	if m, e := b.Len(); m != 2 || e != 2 {
		t.Fatalf("Len = %d, %d; want 2, 2", m, e)
	}
}

type closer struct{ closed *atomic.Int32 }

func (c closer) Close() error { c.closed.Add(1); return nil }

func TestCallReportsAndClosesEndpoints(t *testing.T) {
	var closed atomic.Int32
	calls := map[string]*atomic.Int32{}
	list := instances(3)
	for _, inst := range list {
		calls[inst.Addr] = new(atomic.Int32)
	}
	factory := func(inst discovery.Instance) (endpoint.Endpoint, io.Closer, error) {
		n := calls[inst.Addr]
		return func(ctx context.Context, req any) (any, error) {
			n.Add(1)
			return inst.Addr, nil
		}, closer{&closed}, nil
	}
	b, err := balancer.New(roundrobin.New(), balancer.Config{Factory: factory})
	if err != nil {
		t.Fatal(err)
	}
	b.Update(list)
	for range 30 {
		if _, err := b.Call(context.Background(), nil); err != nil {
			t.Fatal(err)
		}
	}
	// go-kit's lb.Retry drives the go-kit face of the balancer.
	retry := lb.Retry(3, time.Second, b)
	for range 30 {
		if _, err := retry(context.Background(), nil); err != nil {
			t.Fatal(err)
		}
	}
	for addr, n := range calls {
		if n.Load() != 20 {
			t.Errorf("%s got %d calls, want 20", addr, n.Load())
		}
	}
	hosts, _ := b.Hosts()
	for _, h := range hosts {
		if h.InFlight != 0 {
			t.Errorf("%s has %d in flight after all calls returned", h.Instance.ID, h.InFlight)
		}
	}
	b.Update(list[:1])
	if closed.Load() != 2 {
		t.Fatalf("%d endpoints closed after removing 2 instances", closed.Load())
	}
	b.Close()
	if closed.Load() != 3 {
		t.Fatalf("%d endpoints closed after Close, want 3", closed.Load())
	}
}

func TestFactoryErrorSkipsInstance(t *testing.T) {
	var reported []error
	factory := func(inst discovery.Instance) (endpoint.Endpoint, io.Closer, error) {
		if inst.ID == "i00001" {
			return nil, nil, errors.New("dial refused")
		}
		return endpoint.Nop, nil, nil
	}
	b, err := balancer.New(roundrobin.New(), balancer.Config{
		Factory: factory,
		Hooks:   balancer.Hooks{OnError: func(err error) { reported = append(reported, err) }},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	b.Update(instances(3))
	if m, _ := b.Len(); m != 2 {
		t.Fatalf("%d members, want 2", m)
	}
	if len(reported) != 1 {
		t.Fatalf("errors reported: %v", reported)
	}
}

func TestFollowTracksWatchAndStopsOnClose(t *testing.T) {
	defer goleak.VerifyNone(t)
	reg := memory.New()
	defer reg.Close()
	ctx := context.Background()
	w, err := reg.Watch(ctx, "svc")
	if err != nil {
		t.Fatal(err)
	}
	b, err := balancer.New(roundrobin.New(), balancer.Config{})
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Follow(w); err != nil {
		t.Fatal(err)
	}
	for _, inst := range instances(2) {
		if err := reg.Register(ctx, inst); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, func() bool { m, _ := b.Len(); return m == 2 })
	reg.SetUnavailable(errors.New("registry down"))
	reg.SetUnavailable(nil)
	waitFor(t, func() bool { m, _ := b.Len(); return m == 2 })
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	if reg.Instances("svc") == nil {
		t.Fatal("registry lost its instances")
	}
}

// waitFor polls cond; Follow delivers updates on its own goroutine.
func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not reached within 5s")
		}
		time.Sleep(time.Millisecond)
	}
}

// bubbleTime moves the fake clock of the synctest bubble it is used in.
type bubbleTime struct{}

// Advance lets d pass and returns once every timer that fell due has run.
func (bubbleTime) Advance(d time.Duration) {
	time.Sleep(d)
	synctest.Wait()
}

// newOutlierBalancer returns a balancer with outlier detection over n
// hosts, found by picking. A test that moves time with the returned
// bubbleTime runs in a synctest bubble.
func newOutlierBalancer(t *testing.T, n int, cfg balancer.OutlierConfig) (*balancer.Balancer, bubbleTime, map[string]*balancer.Host) {
	t.Helper()
	b, err := balancer.New(roundrobin.New(), balancer.Config{Outlier: &cfg})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	b.Update(instances(n))
	hosts := map[string]*balancer.Host{}
	for len(hosts) < n {
		h, _ := b.Pick(context.Background())
		hosts[h.Instance.ID] = h
	}
	return b, bubbleTime{}, hosts
}

func fail(b *balancer.Balancer, h *balancer.Host, times int, err error) {
	for range times {
		b.Done(context.Background(), h, b.Begin(h), err)
	}
}

func eligible(b *balancer.Balancer) map[string]bool {
	out := map[string]bool{}
	for range 1000 {
		h, _ := b.Pick(context.Background())
		out[h.Instance.ID] = true
	}
	return out
}

func TestOutlierEjectsAfterConsecutiveFailuresAndRestores(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		// The hooks run on the caller's goroutine (ejections) and on the
		// restore timer's (restores); mu orders their appends.
		var (
			mu     sync.Mutex // guards events
			events []string
		)
		record := func(e string) {
			mu.Lock()
			defer mu.Unlock()
			events = append(events, e)
		}
		snapshot := func() []string {
			mu.Lock()
			defer mu.Unlock()
			return append([]string(nil), events...)
		}
		cfg := balancer.OutlierConfig{
			ConsecutiveFailures: 3,
			BaseEjectionTime:    10 * time.Second,
			MaxEjectionTime:     25 * time.Second,
			MaxEjectionPercent:  50,
			OnEject: func(inst discovery.Instance, reason string, d time.Duration) {
				record(fmt.Sprintf("eject %s %s %v", inst.ID, reason, d))
			},
			OnRestore: func(inst discovery.Instance) { record("restore " + inst.ID) },
		}
		b, fc, hosts := newOutlierBalancer(t, 4, cfg)
		bad := hosts["i00002"]

		// Caller faults and cancellations never count.
		fail(b, bad, 5, statusErr(404))
		fail(b, bad, 5, context.Canceled)
		// Failures interrupted by a success do not add up.
		fail(b, bad, 2, statusErr(503))
		fail(b, bad, 1, nil)
		fail(b, bad, 2, statusErr(503))
		if bad.Ejected() || !eligible(b)["i00002"] {
			t.Fatal("host ejected before 3 consecutive server failures")
		}
		fail(b, bad, 1, statusErr(503))
		if !bad.Ejected() || eligible(b)["i00002"] {
			t.Fatal("host not ejected after 3 consecutive server failures")
		}

		// First ejection lasts 1 × base.
		fc.Advance(10*time.Second - time.Millisecond)
		if !bad.Ejected() {
			t.Fatal("restored before base ejection time")
		}
		fc.Advance(time.Millisecond)
		if bad.Ejected() || !eligible(b)["i00002"] {
			t.Fatal("not restored after base ejection time")
		}

		// Second ejection right away lasts 2 × base; a third is capped.
		fail(b, bad, 3, errors.New("connection reset"))
		fc.Advance(20*time.Second - time.Millisecond)
		if !bad.Ejected() {
			t.Fatal("second ejection shorter than 2 × base")
		}
		fc.Advance(time.Millisecond)
		if bad.Ejected() {
			t.Fatal("second ejection longer than 2 × base")
		}
		fail(b, bad, 3, statusErr(500))
		fc.Advance(25*time.Second - time.Millisecond)
		if !bad.Ejected() {
			t.Fatalf("third ejection shorter than the cap: %v", snapshot())
		}
		fc.Advance(time.Millisecond)
		if bad.Ejected() {
			t.Fatal("third ejection longer than MaxEjectionTime")
		}
		// Three quiet intervals back in service let the multiplier decay to
		// zero, so the next ejection is a first one again.
		fc.Advance(40 * time.Second)
		fail(b, bad, 3, statusErr(500))
		fc.Advance(10 * time.Second)
		if bad.Ejected() {
			t.Fatal("multiplier did not decay after quiet intervals")
		}
		want := []string{
			"eject i00002 consecutive_failures 10s", "restore i00002",
			"eject i00002 consecutive_failures 10s", "restore i00002",
			"eject i00002 consecutive_failures 20s", "restore i00002",
			"eject i00002 consecutive_failures 25s", "restore i00002",
		}
		want = append(want[2:], want[:2]...)
		if got := snapshot(); fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("events:\n%v\nwant\n%v", got, want)
		}
	})
}

func TestOutlierNeverEjectsMoreThanMaxPercent(t *testing.T) {
	cases := []struct {
		hosts, pct, want int
	}{
		{10, 10, 1},   // 10% of 10
		{10, 30, 3},   // 30% of 10
		{3, 10, 1},    // at least one host may always go
		{20, 25, 5},   // 25% of 20
		{4, 100, 4},   // everything may go (then panic mode serves all)
		{5, 50, 2},    // rounds down
		{1, 10, 1},    // a single host may go; panic mode keeps serving it
		{50, 10, 5},   // 10% of 50
		{7, 14, 1},    // 0.98 rounds down to 0, floor of one
		{8, 20, 1},    // 1.6 → 1
		{9, 34, 3},    // 3.06 → 3
		{12, 75, 9},   // 9
		{2, 49, 1},    // 0.98 → 1
		{6, 100, 6},   // all
		{30, 5, 1},    // 1.5 → 1
		{40, 5, 2},    // 2
		{100, 1, 1},   // 1
		{100, 3, 3},   // 3
		{16, 12, 1},   // 1.92 → 1
		{17, 12, 2},   // 2.04 → 2
		{3, 67, 2},    // 2.01 → 2
		{3, 66, 1},    // 1.98 → 1
		{11, 100, 11}, // all
	}
	for _, c := range cases {
		t.Run(fmt.Sprintf("%d_hosts_%d_pct", c.hosts, c.pct), func(t *testing.T) {
			b, _, hosts := newOutlierBalancer(t, c.hosts, balancer.OutlierConfig{
				ConsecutiveFailures: 1, MaxEjectionPercent: c.pct, PanicThreshold: -1,
			})
			for _, h := range hosts {
				fail(b, h, 1, statusErr(502))
			}
			ejected := 0
			for _, h := range hosts {
				if h.Ejected() {
					ejected++
				}
			}
			if ejected != c.want {
				t.Fatalf("%d ejected, want %d", ejected, c.want)
			}
		})
	}
}

func TestOutlierPanicModeUsesAllHosts(t *testing.T) {
	b, _, hosts := newOutlierBalancer(t, 4, balancer.OutlierConfig{
		ConsecutiveFailures: 1, MaxEjectionPercent: 100, PanicThreshold: 50,
	})
	fail(b, hosts["i00000"], 1, statusErr(500))
	if got := len(eligible(b)); got != 3 {
		t.Fatalf("one ejected of 4: %d eligible, want 3", got)
	}
	if _, p := b.Hosts(); p {
		t.Fatal("panic mode with 3 of 4 healthy")
	}
	fail(b, hosts["i00001"], 1, statusErr(500))
	if got := len(eligible(b)); got != 2 {
		t.Fatalf("two ejected of 4: %d eligible, want 2 (50%% is not below the threshold)", got)
	}
	fail(b, hosts["i00002"], 1, statusErr(500))
	if got := len(eligible(b)); got != 4 {
		t.Fatalf("three ejected of 4: %d eligible, want all 4 in panic mode", got)
	}
	if _, p := b.Hosts(); !p {
		t.Fatal("Hosts does not report panic mode")
	}
}

func TestOutlierFailurePercentageAndSuccessRate(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b, fc, hosts := newOutlierBalancer(t, 6, balancer.OutlierConfig{
			DisableConsecutive:             true,
			Interval:                       time.Second,
			MaxEjectionPercent:             50,
			FailurePercentageThreshold:     80,
			FailurePercentageMinimumHosts:  5,
			FailurePercentageRequestVolume: 50,
			SuccessRateMinimumHosts:        5,
			SuccessRateRequestVolume:       100,
			DisableSuccessRate:             true,
		})
		// Host 0 fails 90% of its calls, host 1 fails 30%: only host 0 crosses 80%.
		for id, h := range hosts {
			switch id {
			case "i00000":
				fail(b, h, 90, statusErr(500))
				fail(b, h, 10, nil)
			case "i00001":
				fail(b, h, 30, statusErr(500))
				fail(b, h, 70, nil)
			default:
				fail(b, h, 100, nil)
			}
		}
		fc.Advance(time.Second)
		if !hosts["i00000"].Ejected() || hosts["i00001"].Ejected() {
			t.Fatalf("failure percentage: host0 ejected=%v host1 ejected=%v, want true false",
				hosts["i00000"].Ejected(), hosts["i00001"].Ejected())
		}

		// Success rate: with six hosts near 100% and one at 70%, the 70% host
		// is more than 1.9 standard deviations below the mean.
		b2, fc2, hosts2 := newOutlierBalancer(t, 7, balancer.OutlierConfig{
			DisableConsecutive:       true,
			DisableFailurePercentage: true,
			Interval:                 time.Second,
			MaxEjectionPercent:       50,
		})
		for id, h := range hosts2 {
			if id == "i00003" {
				fail(b2, h, 60, statusErr(500))
				fail(b2, h, 140, nil)
				continue
			}
			fail(b2, h, 1, statusErr(500))
			fail(b2, h, 199, nil)
		}
		fc2.Advance(time.Second)
		for id, h := range hosts2 {
			if h.Ejected() != (id == "i00003") {
				t.Errorf("success rate: %s ejected=%v", id, h.Ejected())
			}
		}
		// Too few calls: no verdict.
		b3, fc3, hosts3 := newOutlierBalancer(t, 7, balancer.OutlierConfig{
			DisableConsecutive: true, DisableFailurePercentage: true, Interval: time.Second, MaxEjectionPercent: 50,
		})
		for _, h := range hosts3 {
			fail(b3, h, 50, statusErr(500))
		}
		fc3.Advance(time.Second)
		for id, h := range hosts3 {
			if h.Ejected() {
				t.Errorf("%s ejected on %d calls, below the request volume", id, 50)
			}
		}
	})
}

func TestOutlierTimersStopOnClose(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		restored := 0
		b, err := balancer.New(roundrobin.New(), balancer.Config{Outlier: &balancer.OutlierConfig{
			ConsecutiveFailures: 1, MaxEjectionPercent: 100, OnRestore: func(discovery.Instance) { restored++ },
		}})
		if err != nil {
			t.Fatal(err)
		}
		b.Update(instances(3))
		h, _ := b.Pick(context.Background())
		fail(b, h, 1, statusErr(500))
		if !h.Ejected() {
			t.Fatal("host not ejected")
		}
		b.Close()
		// Past the ejection's end and many sweeps: a timer left running
		// would restore the host (a closed balancer has none) or sweep.
		time.Sleep(time.Hour)
		synctest.Wait()
		if restored != 0 {
			t.Fatalf("OnRestore called %d times after Close", restored)
		}
	})
}

func TestPickDoesNotAllocate(t *testing.T) {
	b, err := balancer.New(roundrobin.New(), balancer.Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	b.Update(instances(100))
	ctx := context.Background()
	if n := testing.AllocsPerRun(1000, func() { _, _ = b.Pick(ctx) }); n != 0 {
		t.Fatalf("Pick allocates %v times", n)
	}
	b2, err := balancer.New(roundrobin.New(), balancer.Config{Factory: func(discovery.Instance) (endpoint.Endpoint, io.Closer, error) {
		return endpoint.Nop, nil, nil
	}})
	if err != nil {
		t.Fatal(err)
	}
	defer b2.Close()
	b2.Update(instances(100))
	if n := testing.AllocsPerRun(1000, func() { _, _ = b2.Call(ctx, nil) }); n != 0 {
		t.Fatalf("Call allocates %v times", n)
	}
}

func TestUpdateIgnoresDuplicateIDs(t *testing.T) {
	b, err := balancer.New(roundrobin.New(), balancer.Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	list := instances(2)
	dup := list[0]
	dup.Addr = "10.7.7.7:80"
	b.Update(append(list, dup))
	if m, _ := b.Len(); m != 2 {
		t.Fatalf("%d members from 2 distinct IDs", m)
	}
	hosts, _ := b.Hosts()
	if hosts[0].Instance.Addr != dup.Addr {
		t.Fatalf("duplicate ID: kept %s, want the last record %s, as a Feed does", hosts[0].Instance.Addr, dup.Addr)
	}
}

func TestPanickingEndpointStillEndsTheCall(t *testing.T) {
	factory := func(discovery.Instance) (endpoint.Endpoint, io.Closer, error) {
		return func(context.Context, any) (any, error) { panic(http.ErrAbortHandler) }, nil, nil
	}
	b, err := balancer.New(roundrobin.New(), balancer.Config{
		Factory: factory,
		Outlier: &balancer.OutlierConfig{ConsecutiveFailures: 3, MaxEjectionPercent: 100, PanicThreshold: -1},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	b.Update(instances(1))
	for range 3 {
		func() {
			defer func() {
				if p := recover(); p != http.ErrAbortHandler {
					t.Fatalf("recovered %v, want the endpoint's own panic", p)
				}
			}()
			b.Call(context.Background(), nil)
		}()
	}
	hosts, _ := b.Hosts()
	if hosts[0].InFlight != 0 {
		t.Fatalf("%d calls still in flight after three panics", hosts[0].InFlight)
	}
	if !hosts[0].Ejected {
		t.Fatal("three panicking calls did not count as failures")
	}
}

func TestErrorHandlerMayCallBack(t *testing.T) {
	var b *balancer.Balancer
	calls := 0
	factory := func(inst discovery.Instance) (endpoint.Endpoint, io.Closer, error) {
		return nil, nil, errors.New("no route to host")
	}
	b, err := balancer.New(roundrobin.New(), balancer.Config{
		Factory: factory,
		Hooks:   balancer.Hooks{OnError: func(error) { calls++; b.Hosts() }},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	done := make(chan struct{})
	go func() { b.Update(instances(2)); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Update deadlocked on an error handler that calls the balancer")
	}
	if calls != 2 {
		t.Fatalf("error handler called %d times, want 2", calls)
	}
}

func TestWaitReadyNeedsARealSnapshot(t *testing.T) {
	reg := memory.New()
	defer reg.Close()
	reg.SetUnavailable(errors.New("registry down"))
	w, err := reg.Watch(context.Background(), "svc")
	if err != nil {
		t.Fatal(err)
	}
	b, err := balancer.New(roundrobin.New(), balancer.Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	b.Follow(w)
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if err := b.WaitReady(ctx); err == nil {
		t.Fatal("ready on a registry that never answered")
	}
	reg.SetUnavailable(nil)
	ctx2, cancel2 := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel2()
	if err := b.WaitReady(ctx2); err != nil {
		t.Fatalf("not ready after the registry answered: %v", err)
	}
}

// An instance that re-registers with new metadata keeps its ejection and
// its multiplier; one that comes back at a new address starts afresh.
func TestEjectionSurvivesARecordChange(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b, fc, hosts := newOutlierBalancer(t, 4, balancer.OutlierConfig{
			ConsecutiveFailures: 1, BaseEjectionTime: 10 * time.Second, MaxEjectionPercent: 50,
		})
		fail(b, hosts["i00001"], 1, statusErr(500))
		list := instances(4)
		list[1].Meta = map[string]string{"version": "2"}
		fc.Advance(4 * time.Second)
		b.Update(list)
		state := func() balancer.HostState {
			hs, _ := b.Hosts()
			return hs[1]
		}
		if s := state(); !s.Ejected || s.Ejections != 1 || s.Instance.Meta["version"] != "2" {
			t.Fatalf("after a metadata change: %+v, want still ejected with multiplier 1", s)
		}
		if eligible(b)["i00001"] {
			t.Fatal("the re-registered instance is picked while ejected")
		}
		fc.Advance(6 * time.Second) // the original ejection ends at +10s
		if s := state(); s.Ejected {
			t.Fatal("ejection outlived its original end")
		}
		list[1].Addr = "10.9.9.9:80"
		b.Update(list)
		if s := state(); s.Ejected || s.Ejections != 0 {
			t.Fatalf("new address: %+v, want a fresh host", s)
		}
	})
}
