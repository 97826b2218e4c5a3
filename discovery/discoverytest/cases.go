package discoverytest

import (
	"context"
	"errors"
	"time"

	"go.uber.org/goleak"

	"github.com/switchyard/switchyard/discovery"
)

type testCase struct {
	name  string
	needs []need
	run   func(s *suite)
}

// cases is the suite, in the order Run runs it. Keep the package
// documentation's list in step with it.
var cases = []testCase{
	{"WatchArgs", nil, testWatchArgs},
	{"FirstUpdateEmpty", nil, testFirstUpdateEmpty},
	{"FixedSnapshot", []need{needFixed}, testFixedSnapshot},
	{"RegisterSeen", []need{needRegistrar}, testRegisterSeen},
	{"DeregisterSeen", []need{needRegistrar}, testDeregisterSeen},
	{"ReRegisterReplaces", []need{needRegistrar}, testReRegisterReplaces},
	{"CompleteSortedSnapshots", []need{needRegistrar}, testCompleteSortedSnapshots},
	{"ServicesIndependent", []need{needRegistrar}, testServicesIndependent},
	{"WatchOutlivesContext", []need{needRegistrar}, testWatchOutlivesContext},
	{"StopClosesUpdates", nil, testStopClosesUpdates},
	{"StopReleasesGoroutines", nil, testStopReleasesGoroutines},
	{"Renewal", []need{needRegistrar, needKill}, testRenewal},
	{"Expiry", []need{needRegistrar, needKill}, testExpiry},
	{"LastKnownGoodDuringOutage", []need{needRegistrar, needOutage}, testLastKnownGood},
	{"HealAfterWipe", []need{needRegistrar, needKill, needOutage}, testHealAfterWipe},
	{"RegisterDuringOutage", []need{needRegistrar, needKill, needOutage}, testRegisterDuringOutage},
	{"DeregisterDuringOutage", []need{needRegistrar, needKill, needOutage}, testDeregisterDuringOutage},
}

// testWatchArgs: an empty service name and a context that has already
// ended are refused.
func testWatchArgs(s *suite) {
	r := s.resolver()
	w, err := r.Watch(s.ctx(), "")
	if !errors.Is(err, discovery.ErrNoService) {
		if w != nil {
			w.Stop()
		}
		s.t.Errorf("Watch(ctx, \"\") = %v, want an error wrapping discovery.ErrNoService", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	w, err = r.Watch(ctx, "catalog")
	if !errors.Is(err, context.Canceled) {
		if w != nil {
			w.Stop()
		}
		s.t.Errorf("Watch(canceled ctx) = %v, want an error wrapping context.Canceled", err)
	}
}

// testFirstUpdateEmpty: a service nobody registered gets a first update at
// once: an empty list and no error.
func testFirstUpdateEmpty(s *suite) {
	if s.has(needRegistrar) {
		// Something else in the registry must not leak into the answer.
		s.register(s.registrar(), inst("orders", "o-1", 1))
	}
	w := s.watch(s.resolver(), "catalog")
	u := w.await("the first snapshot", nil)
	if len(u.Instances) != 0 || u.Err != nil {
		s.t.Fatalf("first update for an unknown service = %s, want an empty list and no error", Describe(u))
	}
}

// testFixedSnapshot: a resolver over a fixed list delivers, per service,
// that service's instances sorted by ID, and nothing for others.
func testFixedSnapshot(s *suite) {
	cat := []discovery.Instance{inst("catalog", "c-2", 2), inst("catalog", "c-1", 1), inst("catalog", "c-3", 3)}
	cat2 := []discovery.Instance{inst("cat", "k-1", 4)}
	list := append(append([]discovery.Instance{inst("orders", "o-1", 5)}, cat...), cat2...)
	r := s.b.NewFixedResolver(list)
	if r == nil {
		s.t.Fatal("Backend.NewFixedResolver returned nil")
	}
	s.watch(r, "catalog").await("the three catalog instances", s.is(cat...))
	s.watch(r, "cat").await("the one cat instance", s.is(cat2...))
	s.watch(r, "orders").await("the orders instance", s.is(list[0]))
	if u := s.watch(r, "users").await("the first snapshot", nil); len(u.Instances) != 0 || u.Err != nil {
		s.t.Errorf("unknown service: %s, want an empty list and no error", Describe(u))
	}
}

// testRegisterSeen: a registration reaches a watch started before it, a
// watch started after it, and a watch through a second resolver, with
// every field intact.
func testRegisterSeen(s *suite) {
	r1, r2 := s.resolver(), s.resolver()
	early := s.watch(r1, "catalog")
	early.await("the first snapshot", nil)
	g := s.registrar()
	a := inst("catalog", "c-1", 1)
	start := time.Now()
	s.register(g, a)
	early.await("the registered instance", s.is(a))
	if !s.h.Bubble {
		s.t.Logf("registration reached the watch in %v", time.Since(start))
	}
	s.watch(r1, "catalog").await("the registered instance in the first snapshot", s.is(a))
	s.watch(r2, "catalog").await("the registered instance through a second resolver", s.is(a))
}

// testDeregisterSeen: a deregistration reaches every watch, and the
// remaining instance stays.
func testDeregisterSeen(s *suite) {
	g := s.registrar()
	a, b := inst("catalog", "c-1", 1), inst("catalog", "c-2", 2)
	s.register(g, a, b)
	w1, w2 := s.watch(s.resolver(), "catalog"), s.watch(s.resolver(), "catalog")
	w1.await("both instances", s.is(a, b))
	w2.await("both instances", s.is(a, b))
	s.deregister(g, a)
	w1.await("only "+b.ID, s.is(b))
	w2.await("only "+b.ID, s.is(b))
	s.deregister(g, b)
	w1.await("an empty list", s.is())
}

// testReRegisterReplaces: registering an ID again replaces the
// registration; watches see the new fields, not two instances.
func testReRegisterReplaces(s *suite) {
	g := s.registrar()
	a := inst("catalog", "c-1", 1)
	s.register(g, a)
	w := s.watch(s.resolver(), "catalog")
	w.await("the instance", s.is(a))
	a2 := inst("catalog", "c-1", 7) // same ID, new address, weight, zone, meta
	s.register(g, a2)
	w.await("the replaced instance", s.is(a2))
}

// testCompleteSortedSnapshots: every update is the complete list, sorted by
// ID (the watcher checks order on every update it reads), never a delta.
func testCompleteSortedSnapshots(s *suite) {
	g := s.registrar()
	w := s.watch(s.resolver(), "catalog")
	w.await("the first snapshot", nil)
	a, b, c := inst("catalog", "c-1", 1), inst("catalog", "c-2", 2), inst("catalog", "c-3", 3)
	s.register(g, c)
	w.await(ids(c), s.is(c))
	s.register(g, a)
	w.await(ids(a, c), s.is(a, c))
	s.register(g, b)
	w.await(ids(a, b, c), s.is(a, b, c))
	s.deregister(g, b)
	w.await(ids(a, c)+" after removing "+b.ID, s.is(a, c))
}

// testServicesIndependent: services do not see each other's instances, even
// when one name is a prefix of the other.
func testServicesIndependent(s *suite) {
	g := s.registrar()
	r := s.resolver()
	cat, catalog, orders := s.watch(r, "cat"), s.watch(r, "catalog"), s.watch(r, "orders")
	k, c, o := inst("cat", "c-1", 1), inst("catalog", "c-1", 2), inst("orders", "o-1", 3)
	s.register(g, k, c, o)
	cat.await(ids(k), s.is(k))
	catalog.await(ids(c), s.is(c))
	orders.await(ids(o), s.is(o))
	s.deregister(g, c)
	catalog.await("an empty list", s.is())
	// The others may be told again, but only what they already had.
	cat.drain(s.listIs(k))
	orders.drain(s.listIs(o))
	s.register(g, inst("catalog", "c-2", 4))
	catalog.await("c-2", func(u discovery.Update) bool { return u.Err == nil && len(u.Instances) == 1 })
	cat.drain(s.listIs(k))
	orders.drain(s.listIs(o))
}

// testWatchOutlivesContext: the context given to Watch bounds the call,
// not the watch.
func testWatchOutlivesContext(s *suite) {
	ctx, cancel := context.WithCancel(context.Background())
	w, err := s.resolver().Watch(ctx, "catalog")
	if err != nil {
		cancel()
		s.t.Fatalf("Watch: %v", err)
	}
	s.t.Cleanup(w.Stop)
	ww := &watcher{s: s, service: "catalog", w: w}
	ww.await("the first snapshot", nil)
	cancel()
	a := inst("catalog", "c-1", 1)
	s.register(s.registrar(), a)
	ww.await("a registration made after the Watch context ended", s.is(a))
}

// testStopClosesUpdates: Stop closes the channel (an update still waiting
// may be read first), a second Stop is harmless, and other watches of the
// same service carry on.
func testStopClosesUpdates(s *suite) {
	r := s.resolver()
	w, other := s.watch(r, "catalog"), s.watch(r, "catalog")
	w.await("the first snapshot", nil)
	other.await("the first snapshot", nil)
	var g discovery.Registrar
	if s.has(needRegistrar) {
		g = s.registrar()
		// Leave an update unread in w when it is stopped.
		s.register(g, inst("catalog", "c-1", 1))
		other.await("c-1", func(u discovery.Update) bool { return len(u.Instances) == 1 })
	}
	w.w.Stop()
	timer := time.NewTimer(s.h.Wait)
	defer timer.Stop()
	for closed := false; !closed; {
		select {
		case _, ok := <-w.w.Updates():
			closed = !ok
		case <-timer.C:
			s.t.Fatalf("Updates not closed %v after Stop", s.h.Wait)
		}
	}
	w.w.Stop()
	if g != nil {
		b := inst("catalog", "c-2", 2)
		s.register(g, b)
		other.await("c-2 after another watch stopped", func(u discovery.Update) bool { return s.holds(u.Instances, b) })
	}
}

// testStopReleasesGoroutines: watches leave no goroutine behind once
// stopped, while their resolver stays open. (Every case also checks, after
// its cleanups, that closing the backend leaves none.)
func testStopReleasesGoroutines(s *suite) {
	r := s.resolver()
	var g discovery.Registrar
	if s.has(needRegistrar) {
		g = s.registrar()
		s.register(g, inst("catalog", "c-1", 1))
	}
	// Let the resolver and registrar settle (lazy connections and the
	// like) with one watch that is not counted.
	warm := s.watch(r, "warmup")
	warm.await("the first snapshot", nil)
	o := inst("orders", "o-1", 2)
	if g != nil {
		// Registered before the baseline: a registrar may keep a
		// goroutine per registration, which is not the watches' doing.
		s.register(g, o)
	}
	base := goleak.IgnoreCurrent()
	ws := []*watcher{s.watch(r, "catalog"), s.watch(r, "catalog"), s.watch(r, "orders")}
	for _, w := range ws {
		w.await("the first snapshot", nil)
	}
	if g != nil {
		// An update delivered while the watches run.
		s.deregister(g, o)
		ws[2].await("o-1 gone", s.is())
	}
	for _, w := range ws {
		w.w.Stop()
	}
	goleak.VerifyNone(s.t, append(s.h.LeakOptions, base)...)
}

// testRenewal: a live registrar keeps its registration well past the TTL.
func testRenewal(s *suite) {
	g := s.registrar()
	a := inst("catalog", "c-1", 1)
	s.register(g, a)
	w := s.watch(s.resolver(), "catalog")
	w.await(ids(a), s.is(a))
	s.hold(3*s.h.TTL, func() { w.drain(s.listIs(a)) })
}

// testExpiry: a crashed registrar's instance leaves after its TTL, no
// sooner than TTL/3 after the crash and no later than TTL + Slack, and
// does not come back; another registrar's instance is untouched.
func testExpiry(s *suite) {
	g1, g2 := s.registrar(), s.registrar()
	a, b := inst("catalog", "c-1", 1), inst("catalog", "c-2", 2)
	s.register(g1, a)
	s.register(g2, b)
	w := s.watch(s.resolver(), "catalog")
	w.await(ids(a, b), s.is(a, b))
	// Let a renewal or two happen, so that the crash is not right after
	// a fresh Register.
	s.hold(s.h.TTL/2, func() { w.drain(s.listIs(a, b)) })
	s.b.KillRegistrar(g1)
	killed := time.Now()
	// Renewals come at least every TTL/3, so the lease has at least
	// 2*TTL/3 left: a third of the TTL later it must still be there.
	s.hold(s.h.TTL/3, func() { w.drain(s.listIs(a, b)) })
	keepsB := func(u discovery.Update) bool { return s.holds(u.Instances, b) }
	gone := func(u discovery.Update) bool { return s.same(u.Instances, []discovery.Instance{b}) }
	w.eventually("only "+b.ID+" after the crash of "+a.ID+"'s registrar",
		s.h.TTL-s.h.TTL/3+s.h.Slack, gone, keepsB)
	if took := time.Since(killed); took > s.h.TTL+s.h.Slack {
		s.t.Errorf("killed instance left %v after the crash, want within TTL %v + Slack %v", took, s.h.TTL, s.h.Slack)
	}
	s.hold(s.h.TTL+s.h.Slack, func() { w.drain(s.listIs(b)) })
	w.settle("only "+b.ID+" and no error", s.h.Slack, s.is(b), s.listIs(b))
}

// testLastKnownGood: during an outage longer than the TTL, watches keep
// the last known good list with the error beside it — never an empty list,
// never an update without the error; once the registry is back the
// registrations heal (without any call from the application) and the error
// clears. A registrar that reports its state reports the trouble and its
// end.
func testLastKnownGood(s *suite) {
	g := s.registrar()
	a, b := inst("catalog", "c-1", 1), inst("catalog", "c-2", 2)
	s.register(g, a, b)
	w := s.watch(s.resolver(), "catalog")
	w.await(ids(a, b), s.is(a, b))

	s.b.Outage()
	lkg := func(u discovery.Update) bool { return s.same(u.Instances, []discovery.Instance{a, b}) }
	failed := func(u discovery.Update) bool { return u.Err != nil }
	w.eventually("an error beside the last known good list", s.h.TTL, failed, lkg)
	s.hold(s.h.TTL+s.h.Slack, func() {
		w.drain(func(u discovery.Update) bool { return u.Err != nil && lkg(u) })
	})
	sr, reports := g.(discovery.StateReporter)
	if reports && s.has(needKill) {
		// A lease-based registrar knows its lease is lost once the TTL
		// has passed without renewal; give it Slack more to notice.
		if !s.until(s.h.Slack, func(block time.Duration) bool {
			w.read(block, func(discovery.Update) bool { return false }, func(u discovery.Update) bool { return u.Err != nil && lkg(u) })
			return sr.RegistrationErr() != nil
		}) {
			s.t.Errorf("RegistrationErr() = nil after an outage of more than TTL + 2*Slack")
		}
	}

	s.b.Recover(false)
	// A backend whose leases ran out meanwhile may show the registry's
	// answer (an empty list) before the registrar has healed.
	w.eventually(ids(a, b)+" with no error after recovery", s.h.Heal, s.is(a, b), nil)
	if reports {
		if !s.until(s.h.Heal, func(time.Duration) bool { return sr.RegistrationErr() == nil }) {
			s.t.Errorf("RegistrationErr() = %v after recovery, want nil", sr.RegistrationErr())
		}
	}
}

// testHealAfterWipe: a registry that comes back empty gets every live
// registration back from its registrar, with no call from the
// application, and a watch that lived through the wipe keeps following the
// registry. That watch need not have seen the registry blink (a backend may
// hold its last known list through a short outage, and the list ends the
// same), but it must not stay bound to the history the wipe erased: a
// change made after the wipe must reach it.
func testHealAfterWipe(s *suite) {
	g1, g2 := s.registrar(), s.registrar()
	a, b := inst("catalog", "c-1", 1), inst("catalog", "c-2", 2)
	s.register(g1, a)
	s.register(g2, b)
	w := s.watch(s.resolver(), "catalog")
	w.await(ids(a, b), s.is(a, b))
	s.b.Outage()
	s.b.Recover(true)
	fresh := s.watch(s.resolver(), "catalog")
	fresh.eventually(ids(a, b)+" re-registered after the wipe", s.h.Heal, s.is(a, b), nil)
	w.settle(ids(a, b)+" on the watch that lived through the wipe", s.h.Heal, s.is(a, b), nil)
	c := inst("catalog", "c-3", 3)
	s.register(g1, c)
	fresh.await(ids(a, b, c), s.is(a, b, c))
	w.eventually(ids(a, b, c)+", registered after the wipe, on the watch that lived through it",
		s.h.Heal, s.is(a, b, c), nil)
	s.deregister(g2, b)
	w.eventually(ids(a, c)+", after a deregistration, on the watch that lived through the wipe",
		s.h.Heal, s.is(a, c), nil)
	if sr, ok := g1.(discovery.StateReporter); ok {
		if !s.until(s.h.Heal, func(time.Duration) bool { return sr.RegistrationErr() == nil }) {
			s.t.Errorf("RegistrationErr() = %v after healing, want nil", sr.RegistrationErr())
		}
	}
}

// testRegisterDuringOutage: a Register made while the registry is down may
// fail, but the registrar keeps it and completes it once the registry is
// back.
func testRegisterDuringOutage(s *suite) {
	g := s.registrar()
	w := s.watch(s.resolver(), "catalog")
	w.await("the first snapshot", nil)
	s.b.Outage()
	a := inst("catalog", "c-1", 1)
	ctx, cancel := context.WithTimeout(context.Background(), min(s.h.Wait, 500*time.Millisecond))
	err := g.Register(ctx, a)
	cancel()
	s.t.Logf("Register during the outage: %v", err)
	s.b.Recover(false)
	w.eventually(ids(a)+" registered after recovery", s.h.Heal, s.is(a), nil)
}

// testDeregisterDuringOutage: a Deregister made while the registry is down
// may fail, but the instance is gone once the registry is back (at the
// latest when its TTL runs out) and healing never brings it back.
func testDeregisterDuringOutage(s *suite) {
	g := s.registrar()
	a, b := inst("catalog", "c-1", 1), inst("catalog", "c-2", 2)
	s.register(g, a, b)
	w := s.watch(s.resolver(), "catalog")
	w.await(ids(a, b), s.is(a, b))
	s.b.Outage()
	ctx, cancel := context.WithTimeout(context.Background(), min(s.h.Wait, 500*time.Millisecond))
	err := g.Deregister(ctx, a)
	cancel()
	s.t.Logf("Deregister during the outage: %v", err)
	s.b.Recover(false)
	w.eventually("only "+b.ID+" after recovery", s.h.Heal+s.h.TTL+s.h.Slack, s.is(b), nil)
	notA := func(u discovery.Update) bool { return !s.holds(u.Instances, a) }
	s.hold(s.h.TTL+s.h.Slack, func() { w.drain(notA) })
}
