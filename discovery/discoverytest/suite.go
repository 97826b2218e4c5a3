package discoverytest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"go.uber.org/goleak"

	"github.com/switchyard/switchyard/discovery"
)

// Run runs the conformance suite against the backend that h describes, one
// subtest per case (see the package documentation for the list). Each
// subtest calls h.Setup for a fresh registry, skips itself if the Backend
// lacks a capability it needs, and ends by checking with goleak that no
// goroutine started during the subtest outlives its cleanups.
//
// Run must not run in parallel with other tests of the same package, whose
// goroutines the leak check would see.
func Run(t *testing.T, h Harness) {
	t.Helper()
	if h.Setup == nil {
		t.Fatal("discoverytest: Harness.Setup is nil")
	}
	h = h.withDefaults()
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			leak := append(slices.Clone(h.LeakOptions), goleak.IgnoreCurrent())
			// Registered first, so it runs after every cleanup that
			// Setup and the case register (in a bubble, they run before
			// synctest.Test returns).
			t.Cleanup(func() { goleak.VerifyNone(t, leak...) })
			if !h.Bubble {
				runCase(t, h, c)
				return
			}
			defer func() {
				// synctest.Test panics when goroutines of the bubble are
				// still blocked after the case and its cleanups: a leak,
				// which the goleak check above reports.
				if r := recover(); r != nil {
					if !strings.Contains(fmt.Sprint(r), "deadlock") {
						panic(r)
					}
					t.Errorf("discoverytest: goroutines left blocked in the case's bubble: %v", r)
				}
			}()
			synctest.Test(t, func(t *testing.T) { runCase(t, h, c) })
		})
	}
}

// runCase runs c against a fresh Backend from h.Setup.
func runCase(t *testing.T, h Harness, c testCase) {
	b := h.Setup(t)
	switch {
	case b.NewResolver == nil:
		t.Fatal("discoverytest: Backend.NewResolver is nil")
	case (b.Outage == nil) != (b.Recover == nil):
		t.Fatal("discoverytest: set Backend.Outage and Backend.Recover together")
	case b.KillRegistrar != nil && b.NewRegistrar == nil:
		t.Fatal("discoverytest: Backend.KillRegistrar without NewRegistrar")
	}
	s := &suite{t: t, h: h, b: b}
	for _, n := range c.needs {
		if !s.has(n) {
			t.Skipf("backend has no %s", n)
		}
	}
	c.run(s)
}

type need string

const (
	needRegistrar need = "registrar"
	needKill      need = "registrar that lives on a TTL (KillRegistrar)"
	needOutage    need = "outage control (Outage, Recover)"
	needFixed     need = "fixed resolver (NewFixedResolver)"
)

type suite struct {
	t *testing.T
	h Harness
	b Backend
}

func (s *suite) has(n need) bool {
	switch n {
	case needRegistrar:
		return s.b.NewRegistrar != nil
	case needKill:
		return s.b.KillRegistrar != nil
	case needOutage:
		return s.b.Outage != nil
	case needFixed:
		return s.b.NewFixedResolver != nil
	}
	return false
}

// step is the unit by which the suite lets registry time pass while it
// waits. In a bubble time is free, and a tenth of the TTL keeps the cases
// short in CPU time.
func (s *suite) step() time.Duration {
	if s.h.Bubble {
		return max(s.h.TTL/10, time.Millisecond)
	}
	return 10 * time.Millisecond
}

// advance lets d of registry time pass.
func (s *suite) advance(d time.Duration) {
	if d > 0 {
		time.Sleep(d)
	}
}

// until lets registry time pass in steps until cond holds, for up to budget
// (plus Wait) of registry time, and reports whether it held. cond may block
// for up to the time it is given.
func (s *suite) until(budget time.Duration, cond func(block time.Duration) bool) bool {
	deadline := time.Now().Add(budget + s.h.Wait)
	for {
		start := time.Now()
		if cond(s.step()) {
			return true
		}
		if start.After(deadline) {
			return false
		}
		// A cond that does not block must not make this a busy loop.
		s.advance(s.step() - time.Since(start))
	}
}

// hold lets d of registry time pass in steps, calling each after every
// step; it is how the suite watches for updates that must not come.
func (s *suite) hold(d time.Duration, each func()) {
	for spent := time.Duration(0); spent < d; {
		step := min(s.step(), d-spent)
		s.advance(step)
		spent += step
		each()
	}
}

func (s *suite) ctx() context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), s.h.Wait)
	s.t.Cleanup(cancel)
	return ctx
}

func (s *suite) resolver() discovery.Resolver {
	r := s.b.NewResolver()
	if r == nil {
		s.t.Fatal("Backend.NewResolver returned nil")
	}
	return r
}

func (s *suite) registrar() discovery.Registrar {
	g := s.b.NewRegistrar(s.h.TTL)
	if g == nil {
		s.t.Fatal("Backend.NewRegistrar returned nil")
	}
	return g
}

func (s *suite) register(g discovery.Registrar, insts ...discovery.Instance) {
	s.t.Helper()
	for _, inst := range insts {
		if err := g.Register(s.ctx(), inst); err != nil {
			s.t.Fatalf("Register(%s): %v", inst.ID, err)
		}
	}
}

func (s *suite) deregister(g discovery.Registrar, insts ...discovery.Instance) {
	s.t.Helper()
	for _, inst := range insts {
		if err := g.Deregister(s.ctx(), inst); err != nil {
			s.t.Fatalf("Deregister(%s): %v", inst.ID, err)
		}
	}
}

// inst returns a fully populated instance, so that the round trip of every
// field is checked; n keeps addresses distinct.
func inst(service, id string, n int) discovery.Instance {
	return discovery.Instance{
		ID:      id,
		Service: service,
		Addr:    fmt.Sprintf("10.0.%d.%d:%d", n/200, n%200+1, 8000+n),
		Weight:  n + 1,
		Zone:    "zone-" + string(rune('a'+n%3)),
		Version: "v1." + fmt.Sprint(n),
		Meta:    map[string]string{"id": id, "n": fmt.Sprint(n)},
	}
}

// watcher wraps a watch of one service; every update it reads is checked
// against the Update contract.
type watcher struct {
	s       *suite
	service string
	w       discovery.Watch
	last    discovery.Update
	seen    bool
}

func (s *suite) watch(r discovery.Resolver, service string) *watcher {
	s.t.Helper()
	w, err := r.Watch(s.ctx(), service)
	if err != nil {
		s.t.Fatalf("Watch(%q): %v", service, err)
	}
	if w == nil {
		s.t.Fatalf("Watch(%q) returned a nil watch and no error", service)
	}
	s.t.Cleanup(w.Stop)
	return &watcher{s: s, service: service, w: w}
}

// read reads updates for up to block of wall time until match accepts one;
// each (if non-nil) sees every update read.
func (w *watcher) read(block time.Duration, match, each func(discovery.Update) bool) bool {
	w.s.t.Helper()
	_, err := Next(w.w, block, func(u discovery.Update) bool {
		w.last, w.seen = u, true
		if err := CheckUpdate(w.service, u); err != nil {
			w.s.t.Errorf("watch %q: %v (update %s)", w.service, err, Describe(u))
		}
		if each != nil && !each(u) {
			w.s.t.Errorf("watch %q: unexpected update %s", w.service, Describe(u))
		}
		return match == nil || match(u)
	})
	if errors.Is(err, ErrClosed) {
		w.s.t.Fatalf("watch %q: updates channel closed before Stop", w.service)
	}
	return err == nil
}

// await waits, without moving registry time, for an update that match
// accepts.
func (w *watcher) await(what string, match func(discovery.Update) bool) discovery.Update {
	w.s.t.Helper()
	if !w.read(w.s.h.Wait, match, nil) {
		w.s.t.Fatalf("watch %q: no update with %s within %v; last: %s", w.service, what, w.s.h.Wait, w.lastString())
	}
	return w.last
}

// eventually lets up to budget of registry time pass until an update that
// match accepts arrives; each must accept every update on the way.
func (w *watcher) eventually(what string, budget time.Duration, match, each func(discovery.Update) bool) discovery.Update {
	w.s.t.Helper()
	if !w.s.until(budget, func(block time.Duration) bool { return w.read(block, match, each) }) {
		w.s.t.Fatalf("watch %q: no update with %s within %v of registry time; last: %s", w.service, what, budget, w.lastString())
	}
	return w.last
}

// settle is eventually, but content with the last update already read if
// match accepts it.
func (w *watcher) settle(what string, budget time.Duration, match, each func(discovery.Update) bool) discovery.Update {
	w.s.t.Helper()
	if w.seen && match(w.last) {
		return w.last
	}
	return w.eventually(what, budget, match, each)
}

// drain reads whatever is waiting; each must accept all of it.
func (w *watcher) drain(each func(discovery.Update) bool) {
	w.s.t.Helper()
	w.read(0, func(discovery.Update) bool { return false }, each)
}

func (w *watcher) lastString() string {
	if !w.seen {
		return "none"
	}
	return Describe(w.last)
}

// is accepts an update with a nil Err holding exactly want.
func (s *suite) is(want ...discovery.Instance) func(discovery.Update) bool {
	return func(u discovery.Update) bool { return u.Err == nil && s.same(u.Instances, want) }
}

// listIs accepts an update holding exactly want, whatever its Err: outside
// the outage cases a client may still report a transient error (a request
// timing out on a loaded machine), which is harmless while the list is
// right.
func (s *suite) listIs(want ...discovery.Instance) func(discovery.Update) bool {
	return func(u discovery.Update) bool { return s.same(u.Instances, want) }
}

// same reports whether got holds exactly the delivered forms of want.
func (s *suite) same(got, want []discovery.Instance) bool {
	if len(got) != len(want) {
		return false
	}
	used := make([]bool, len(got))
	for _, w := range want {
		found := false
		for i, g := range got {
			if !used[i] && s.h.Match(w, g) {
				used[i], found = true, true
				break
			}
		}
		if !found {
			return false
		}
	}
	return true
}

// holds reports whether got holds the delivered form of want.
func (s *suite) holds(got []discovery.Instance, want discovery.Instance) bool {
	for _, g := range got {
		if s.h.Match(want, g) {
			return true
		}
	}
	return false
}

func ids(list ...discovery.Instance) string {
	out := make([]string, len(list))
	for i, inst := range list {
		out[i] = inst.ID
	}
	return fmt.Sprint(out)
}
