package dns_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/switchyard/switchyard/discovery"
	"github.com/switchyard/switchyard/discovery/dns"
	"github.com/switchyard/switchyard/discovery/dns/dnstest"
	"github.com/switchyard/switchyard/internal/clock"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// newResolver returns dns.New(cfg), failing t on an error.
func newResolver(t *testing.T, cfg dns.Config) *dns.Resolver {
	t.Helper()
	r, err := dns.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// newClocked is newResolver with its polls scheduled on c: the tests
// query a real DNS server, which rules out a testing/synctest bubble.
func newClocked(t *testing.T, cfg dns.Config, c clock.Clock) *dns.Resolver {
	t.Helper()
	r := newResolver(t, cfg)
	dns.SetClock(r, c)
	return r
}

var t0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// next reads the next update, failing after a wall-clock bound (the first
// poll runs in its own goroutine; later ones run inside fake.Advance).
func next(t *testing.T, w discovery.Watch) discovery.Update {
	t.Helper()
	select {
	case u, ok := <-w.Updates():
		if !ok {
			t.Fatal("updates channel closed")
		}
		return u
	case <-time.After(5 * time.Second):
		t.Fatal("no update within 5s")
	}
	panic("unreachable")
}

// none checks that no update is waiting.
func none(t *testing.T, w discovery.Watch) {
	t.Helper()
	select {
	case u := <-w.Updates():
		t.Fatalf("unexpected update %s", show(u))
	default:
	}
}

// show renders an update as "addr/weight ..." and its error.
func show(u discovery.Update) string {
	s := ""
	for i, in := range u.Instances {
		if i > 0 {
			s += " "
		}
		s += fmt.Sprintf("%s/%d", in.Addr, in.Weight)
	}
	if u.Err != nil {
		s += " err=" + u.Err.Error()
	}
	return "[" + s + "]"
}

func watch(t *testing.T, r *dns.Resolver, service string) discovery.Watch {
	t.Helper()
	w, err := r.Watch(context.Background(), service)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(w.Stop)
	return w
}

func TestSRVWeightsAndPortsAreHonoured(t *testing.T) {
	records := []string{
		"_http._tcp.catalog.test. 30 IN SRV 0 10 8080 a.catalog.test.",
		"_http._tcp.catalog.test. 30 IN SRV 0 30 9090 b.catalog.test.",
		"_http._tcp.catalog.test. 30 IN SRV 0 0 7000 c.catalog.test.",
		// A higher priority value is a fallback, not load.
		"_http._tcp.catalog.test. 30 IN SRV 1 50 7070 backup.catalog.test.",
		// "." means the service is decidedly not offered there.
		"_http._tcp.catalog.test. 30 IN SRV 0 50 7071 .",
		"a.catalog.test. 30 IN A 10.0.0.1",
		"b.catalog.test. 30 IN A 10.0.0.2",
		"b.catalog.test. 30 IN AAAA fd00::2",
		"c.catalog.test. 30 IN A 10.0.0.3",
		"backup.catalog.test. 30 IN A 10.0.0.9",
	}
	want := "[10.0.0.1:8080/10 10.0.0.2:9090/30 10.0.0.3:7000/0 [fd00::2]:9090/30]"
	for _, extra := range []bool{true, false} {
		t.Run(fmt.Sprintf("additional section %v", extra), func(t *testing.T) {
			srv := startServer(t)
			srv.set(t, records...)
			srv.setNoExtra(!extra)
			r := newClocked(t, dns.Config{Server: srv.addr, Name: func(s string) string { return "_http._tcp." + s + ".test" }}, clock.NewFake(t0))
			defer r.Close()
			u := next(t, watch(t, r, "catalog"))
			if u.Err != nil || show(u) != want {
				t.Fatalf("got %s, want %s", show(u), want)
			}
			for _, in := range u.Instances {
				if in.Service != "catalog" || in.ID != in.Addr || in.Meta["target"] == "" {
					t.Errorf("instance %+v: want service catalog, ID = Addr and a target", in)
				}
				if err := in.Validate(); err != nil {
					t.Error(err)
				}
			}
		})
	}
}

func TestHostRecordsWithFixedPort(t *testing.T) {
	srv := startServer(t)
	srv.set(t,
		"catalog.test. 30 IN A 10.0.0.2",
		"catalog.test. 30 IN A 10.0.0.1",
		"catalog.test. 30 IN AAAA fd00::1",
		"alias.test. 30 IN CNAME catalog.test.",
	)
	r := newClocked(t, dns.Config{Port: 8080, Server: srv.addr, Name: func(s string) string { return s + ".test" }}, clock.NewFake(t0))
	defer r.Close()
	want := "[10.0.0.1:8080/0 10.0.0.2:8080/0 [fd00::1]:8080/0]"
	for _, name := range []string{"catalog", "alias"} {
		if u := next(t, watch(t, r, name)); u.Err != nil || show(u) != want {
			t.Errorf("%s: got %s, want %s", name, show(u), want)
		}
	}
}

// TestNewRejectsInvalidConfig: every value out of range is an ErrConfig
// from New, never clamped.
func TestNewRejectsInvalidConfig(t *testing.T) {
	for name, cfg := range map[string]dns.Config{
		"negative port":       {Port: -1},
		"port above 65535":    {Port: 65536},
		"negative interval":   {Interval: -time.Second},
		"negative timeout":    {Timeout: -time.Second},
		"negative jitter":     {Jitter: -0.1},
		"jitter above 1":      {Jitter: 1.5},
		"NoJitter and Jitter": {Jitter: 0.2, NoJitter: true},
	} {
		t.Run(name, func(t *testing.T) {
			if r, err := dns.New(cfg); !errors.Is(err, dns.ErrConfig) || r != nil {
				t.Fatalf("New(%+v) = %v, %v; want nil, ErrConfig", cfg, r, err)
			}
		})
	}
	if _, err := dns.New(dns.Config{Port: 65535, Server: "127.0.0.1:53", NoJitter: true}); err != nil {
		t.Fatalf("New with valid fields: %v", err)
	}
}

// TestChangesArriveWithinOneInterval runs polls on a fake clock: a change
// of the records is not seen a moment before the interval has passed and
// is seen when it has.
func TestChangesArriveWithinOneInterval(t *testing.T) {
	const interval = 10 * time.Second
	srv := startServer(t)
	srv.set(t, "svc.test. 5 IN A 10.0.0.1")
	fake := clock.NewFake(t0)
	r := newClocked(t, dns.Config{Port: 80, Server: srv.addr, Interval: interval, NoJitter: true, Name: func(s string) string { return s + ".test" }}, fake)
	defer r.Close()
	w := watch(t, r, "svc")
	if u := next(t, w); show(u) != "[10.0.0.1:80/0]" {
		t.Fatalf("first update %s", show(u))
	}
	srv.set(t, "svc.test. 5 IN A 10.0.0.1", "svc.test. 5 IN A 10.0.0.2")
	fake.Advance(interval - time.Millisecond)
	none(t, w)
	fake.Advance(time.Millisecond)
	if u := next(t, w); show(u) != "[10.0.0.1:80/0 10.0.0.2:80/0]" {
		t.Fatalf("after one interval: %s", show(u))
	}
	// An unchanged answer sends nothing.
	fake.Advance(interval)
	none(t, w)
	srv.set(t, "svc.test. 5 IN A 10.0.0.2")
	fake.Advance(interval)
	if u := next(t, w); show(u) != "[10.0.0.2:80/0]" {
		t.Fatalf("after removal: %s", show(u))
	}
}

// TestChangesArriveOnRealTime checks the wiring to the real clock; the
// interval itself is proven on the fake clock above, so the allowance here
// is wide enough for a machine loaded by other tests.
func TestChangesArriveOnRealTime(t *testing.T) {
	const interval = 200 * time.Millisecond
	srv := startServer(t)
	srv.set(t, "svc.test. 5 IN A 10.0.0.1")
	r := newResolver(t, dns.Config{Port: 80, Server: srv.addr, Interval: interval, Name: func(s string) string { return s + ".test" }})
	defer r.Close()
	w := watch(t, r, "svc")
	next(t, w)
	srv.set(t, "svc.test. 5 IN A 10.0.0.2")
	start := time.Now()
	u := next(t, w)
	took := time.Since(start)
	t.Logf("change seen after %v (interval %v, jitter %v)", took, interval, dns.DefaultJitter)
	if show(u) != "[10.0.0.2:80/0]" {
		t.Fatalf("got %s", show(u))
	}
	if limit := interval + interval/10 + time.Second; took > limit {
		t.Errorf("change took %v, want ≤ %v", took, limit)
	}
}

func TestJitterSpreadsPolls(t *testing.T) {
	const interval = 10 * time.Second
	r := newResolver(t, dns.Config{Port: 80, Server: "127.0.0.1:1", Interval: interval, Jitter: 0.5})
	lo, hi := interval, time.Duration(0)
	for range 2000 {
		d := dns.Pause(r)
		if d < interval/2 || d > interval*3/2 {
			t.Fatalf("pause %v outside [%v, %v]", d, interval/2, interval*3/2)
		}
		lo, hi = min(lo, d), max(hi, d)
	}
	// 2000 uniform draws all missing a 10% band at either end has odds
	// of 0.9^2000.
	if lo > 6*time.Second || hi < 14*time.Second {
		t.Errorf("pauses span only [%v, %v]", lo, hi)
	}
	if d := dns.Pause(newResolver(t, dns.Config{Port: 80, Interval: interval, NoJitter: true})); d != interval {
		t.Errorf("no jitter: pause %v, want %v", d, interval)
	}
}

// TestFailureKeepsLastList: whatever way the server fails, the watch keeps
// the last list with the error, and clears the error once it answers.
func TestFailureKeepsLastList(t *testing.T) {
	tests := []struct {
		name string
		mode dnstest.Mode
		want error
	}{
		{"SERVFAIL", servfail, dns.ErrRcode},
		{"REFUSED", refuse, dns.ErrRcode},
		{"timeout", drop, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			srv := startServer(t)
			srv.set(t,
				"_http._tcp.svc.test. 5 IN SRV 0 5 8080 a.test.",
				"a.test. 5 IN A 10.0.0.1",
			)
			fake := clock.NewFake(t0)
			r := newClocked(t, dns.Config{Server: srv.addr, Timeout: 200 * time.Millisecond, Name: func(s string) string { return "_http._tcp." + s + ".test" }}, fake)
			defer r.Close()
			w := watch(t, r, "svc")
			good := next(t, w)
			if good.Err != nil || len(good.Instances) != 1 {
				t.Fatalf("first update %s", show(good))
			}
			srv.setMode(tc.mode)
			fake.Advance(2 * dns.DefaultInterval)
			u := next(t, w)
			if u.Err == nil || !discovery.EqualSets(u.Instances, good.Instances) {
				t.Fatalf("during failure: %s, want the last list and an error", show(u))
			}
			if tc.want != nil && !errors.Is(u.Err, tc.want) {
				t.Errorf("error %v, want %v", u.Err, tc.want)
			}
			srv.setMode(serve)
			fake.Advance(2 * dns.DefaultInterval)
			if u := next(t, w); u.Err != nil || !discovery.EqualSets(u.Instances, good.Instances) {
				t.Fatalf("after recovery: %s", show(u))
			}
		})
	}
	t.Run("server gone", func(t *testing.T) {
		srv := startServer(t)
		srv.set(t, "svc.test. 5 IN A 10.0.0.1")
		fake := clock.NewFake(t0)
		r := newClocked(t, dns.Config{Port: 80, Server: srv.addr, Timeout: 200 * time.Millisecond, Name: func(s string) string { return s + ".test" }}, fake)
		defer r.Close()
		w := watch(t, r, "svc")
		next(t, w)
		srv.stop()
		fake.Advance(2 * dns.DefaultInterval)
		if u := next(t, w); u.Err == nil || show(u) != "[10.0.0.1:80/0 err="+u.Err.Error()+"]" {
			t.Fatalf("with the server gone: %s", show(u))
		}
	})
}

func TestNXDomainAndEmptyAnswersAreEmptyLists(t *testing.T) {
	srv := startServer(t)
	srv.set(t, "svc.test. 5 IN A 10.0.0.1", "v6only.test. 5 IN AAAA fd00::1")
	fake := clock.NewFake(t0)
	r := newClocked(t, dns.Config{Server: srv.addr, Name: func(s string) string { return s + ".test" }}, fake)
	defer r.Close()
	// svc.test has records but no SRV: an empty answer.
	if u := next(t, watch(t, r, "svc")); u.Err != nil || len(u.Instances) != 0 {
		t.Errorf("no SRV records: %s, want an empty list", show(u))
	}
	if u := next(t, watch(t, r, "missing")); u.Err != nil || len(u.Instances) != 0 {
		t.Errorf("NXDOMAIN: %s, want an empty list", show(u))
	}
}

func TestTruncatedAnswersAreRetriedOverTCP(t *testing.T) {
	srv := startServer(t)
	var recs []string
	var want []string
	for i := range 60 {
		recs = append(recs,
			fmt.Sprintf("_http._tcp.big.test. 5 IN SRV 0 1 %d pod-%02d.big.test.", 8000+i, i),
			fmt.Sprintf("pod-%02d.big.test. 5 IN A 10.1.0.%d", i, i+1))
		want = append(want, fmt.Sprintf("10.1.0.%d:%d", i+1, 8000+i))
	}
	srv.set(t, recs...)
	srv.setMode(truncate)
	r := newClocked(t, dns.Config{Server: srv.addr, Name: func(s string) string { return "_http._tcp." + s + ".test" }}, clock.NewFake(t0))
	defer r.Close()
	u := next(t, watch(t, r, "big"))
	var got []string
	for _, in := range u.Instances {
		got = append(got, in.Addr)
	}
	slices.Sort(got)
	slices.Sort(want)
	if u.Err != nil || !slices.Equal(got, want) {
		t.Fatalf("got %d instances (%v), want all 60", len(u.Instances), u.Err)
	}
	if srv.TCPQueries() == 0 {
		t.Error("no query came over TCP")
	}
}

// TestKubernetesHeadlessService answers the way CoreDNS does for a headless
// Service: one SRV record per ready pod, equal weights, pod addresses in
// the additional section.
func TestKubernetesHeadlessService(t *testing.T) {
	name := dns.KubernetesSRV("http", "shop", "")
	if got := name("catalog"); got != "_http._tcp.catalog.shop.svc.cluster.local." {
		t.Fatalf("KubernetesSRV name = %q", got)
	}
	if got := dns.KubernetesHost("shop", "corp.example")("catalog"); got != "catalog.shop.svc.corp.example." {
		t.Fatalf("KubernetesHost name = %q", got)
	}
	srv := startServer(t)
	srv.set(t,
		"_http._tcp.catalog.shop.svc.cluster.local. 5 IN SRV 0 50 8080 10-244-1-7.catalog.shop.svc.cluster.local.",
		"_http._tcp.catalog.shop.svc.cluster.local. 5 IN SRV 0 50 8080 10-244-2-9.catalog.shop.svc.cluster.local.",
		"10-244-1-7.catalog.shop.svc.cluster.local. 5 IN A 10.244.1.7",
		"10-244-2-9.catalog.shop.svc.cluster.local. 5 IN A 10.244.2.9",
	)
	r := newClocked(t, dns.Config{Server: srv.addr, Name: name}, clock.NewFake(t0))
	defer r.Close()
	u := next(t, watch(t, r, "catalog"))
	if want := "[10.244.1.7:8080/50 10.244.2.9:8080/50]"; u.Err != nil || show(u) != want {
		t.Fatalf("got %s, want %s", show(u), want)
	}
	if got := u.Instances[0].Meta["target"]; got != "10-244-1-7.catalog.shop.svc.cluster.local" {
		t.Errorf("target meta = %q", got)
	}
}

func TestCloseStopsWatches(t *testing.T) {
	srv := startServer(t)
	srv.set(t, "svc.test. 5 IN A 10.0.0.1")
	r := newResolver(t, dns.Config{Port: 80, Server: srv.addr, Interval: 10 * time.Millisecond, Name: func(s string) string { return s + ".test" }})
	w1, w2 := watch(t, r, "svc"), watch(t, r, "svc")
	next(t, w1)
	w1.Stop()
	r.Close()
	for _, w := range []discovery.Watch{w1, w2} {
		for range w.Updates() {
		}
	}
	if _, err := r.Watch(context.Background(), "svc"); !errors.Is(err, discovery.ErrStopped) {
		t.Errorf("Watch after Close = %v, want ErrStopped", err)
	}
	if _, err := newResolver(t, dns.Config{}).Watch(context.Background(), ""); !errors.Is(err, discovery.ErrNoService) {
		t.Errorf(`Watch("") = %v, want ErrNoService`, err)
	}
}
