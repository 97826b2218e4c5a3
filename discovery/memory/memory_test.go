package memory_test

import (
	"context"
	"errors"
	"slices"
	"testing"
	"testing/synctest"
	"time"

	"go.uber.org/goleak"

	"github.com/switchyard/switchyard/discovery"
	"github.com/switchyard/switchyard/discovery/memory"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

var ctx = context.Background()

// newFake returns a registry for a test that runs in a testing/synctest
// bubble, and the bubble's clock.
func newFake(t *testing.T) (*memory.Registry, bubbleClock) {
	reg := memory.New()
	t.Cleanup(reg.Close)
	return reg, bubbleClock{memory.CountTimers(reg)}
}

// bubbleClock moves a synctest bubble's fake time; Pending counts the
// registry's armed timers.
type bubbleClock struct{ Pending func() int }

// Advance lets d pass and returns once the timers that fell due have run.
func (bubbleClock) Advance(d time.Duration) {
	time.Sleep(d)
	synctest.Wait()
}

// newRegistrar returns memory.NewRegistrar(reg, ttl), failing t on an error.
func newRegistrar(t *testing.T, reg *memory.Registry, ttl time.Duration) *memory.Registrar {
	t.Helper()
	g, err := memory.NewRegistrar(reg, ttl)
	if err != nil {
		t.Fatal(err)
	}
	return g
}

func instance(id string) discovery.Instance {
	return discovery.Instance{ID: id, Service: "catalog", Addr: "10.0.0.1:80"}
}

func ids(list []discovery.Instance) []string {
	out := make([]string, len(list))
	for i, inst := range list {
		out[i] = inst.ID
	}
	return out
}

func wantInstances(t *testing.T, reg *memory.Registry, want ...string) {
	t.Helper()
	if got := ids(reg.Instances("catalog")); !slices.Equal(got, want) && (len(got) != 0 || len(want) != 0) {
		t.Fatalf("instances %v, want %v", got, want)
	}
}

// latest returns the update waiting in w; the registry delivers
// synchronously, so there is one after every change.
func latest(t *testing.T, w discovery.Watch) discovery.Update {
	t.Helper()
	select {
	case u, ok := <-w.Updates():
		if !ok {
			t.Fatal("watch closed")
		}
		return u
	default:
		t.Fatal("no update waiting")
		return discovery.Update{}
	}
}

func noUpdate(t *testing.T, w discovery.Watch) {
	t.Helper()
	select {
	case u := <-w.Updates():
		t.Fatalf("unexpected update %v err=%v", ids(u.Instances), u.Err)
	default:
	}
}

func TestRegistryPutExpiresAfterTTL(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		reg, c := newFake(t)
		w, err := reg.Watch(ctx, "catalog")
		if err != nil {
			t.Fatal(err)
		}
		defer w.Stop()
		latest(t, w)
		if err := reg.Put(ctx, instance("a"), 3*time.Second); err != nil {
			t.Fatal(err)
		}
		latest(t, w)
		c.Advance(2 * time.Second)
		// Putting again moves the expiry; the list is unchanged, so no update.
		if err := reg.Put(ctx, instance("a"), 3*time.Second); err != nil {
			t.Fatal(err)
		}
		noUpdate(t, w)
		c.Advance(3*time.Second - time.Nanosecond)
		wantInstances(t, reg, "a")
		c.Advance(time.Nanosecond)
		wantInstances(t, reg)
		if u := latest(t, w); len(u.Instances) != 0 || u.Err != nil {
			t.Fatalf("update after expiry: %v err=%v", ids(u.Instances), u.Err)
		}
		if n := c.Pending(); n != 0 {
			t.Fatalf("%d timers left", n)
		}
	})
}

func TestRegistryRegisterDoesNotExpire(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		reg, c := newFake(t)
		if err := reg.Put(ctx, instance("a"), time.Second); err != nil {
			t.Fatal(err)
		}
		// Register replaces the TTL registration with a permanent one.
		if err := reg.Register(ctx, instance("a")); err != nil {
			t.Fatal(err)
		}
		c.Advance(time.Hour)
		wantInstances(t, reg, "a")
		if err := reg.Deregister(ctx, instance("a")); err != nil {
			t.Fatal(err)
		}
		wantInstances(t, reg)
	})
}

func TestRegistryErrors(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		reg, _ := newFake(t)
		if err := reg.Deregister(ctx, instance("nobody")); !errors.Is(err, memory.ErrNotFound) {
			t.Errorf("Deregister(unknown) = %v, want ErrNotFound", err)
		}
		bad := instance("a")
		bad.Addr = "nowhere"
		if err := reg.Register(ctx, bad); !errors.Is(err, discovery.ErrBadAddr) {
			t.Errorf("Register(bad addr) = %v, want ErrBadAddr", err)
		}
		if _, err := reg.Watch(ctx, ""); !errors.Is(err, discovery.ErrNoService) {
			t.Errorf("Watch(\"\") = %v, want ErrNoService", err)
		}
		canceled, cancel := context.WithCancel(ctx)
		cancel()
		if err := reg.Register(canceled, instance("a")); !errors.Is(err, context.Canceled) {
			t.Errorf("Register(canceled) = %v", err)
		}
		if err := reg.Deregister(canceled, instance("a")); !errors.Is(err, context.Canceled) {
			t.Errorf("Deregister(canceled) = %v", err)
		}
		if _, err := reg.Watch(canceled, "catalog"); !errors.Is(err, context.Canceled) {
			t.Errorf("Watch(canceled) = %v", err)
		}
	})
}

func TestRegistryOutage(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		reg, c := newFake(t)
		reg.Register(ctx, instance("a"))
		reg.Put(ctx, instance("b"), 3*time.Second)
		w, _ := reg.Watch(ctx, "catalog")
		defer w.Stop()
		latest(t, w)

		down := errors.New("partitioned")
		reg.SetUnavailable(down)
		if u := latest(t, w); !slices.Equal(ids(u.Instances), []string{"a", "b"}) || !errors.Is(u.Err, down) {
			t.Fatalf("update during the outage: %v err=%v, want [a b] with the error", ids(u.Instances), u.Err)
		}
		if err := reg.Register(ctx, instance("c")); !errors.Is(err, down) {
			t.Errorf("Register during the outage = %v", err)
		}
		if err := reg.Deregister(ctx, instance("a")); !errors.Is(err, down) {
			t.Errorf("Deregister during the outage = %v", err)
		}
		// A watch started during the outage has nothing but the error and the
		// feed's last known good list.
		w2, err := reg.Watch(ctx, "orders")
		if err != nil {
			t.Fatal(err)
		}
		defer w2.Stop()
		if u := latest(t, w2); len(u.Instances) != 0 || !errors.Is(u.Err, down) {
			t.Fatalf("new watch during the outage: %v err=%v", ids(u.Instances), u.Err)
		}
		// Nothing expires while the registry is down: nobody could renew.
		c.Advance(3 * time.Second)
		wantInstances(t, reg, "a", "b")
		noUpdate(t, w)

		reg.SetUnavailable(nil)
		if u := latest(t, w); !slices.Equal(ids(u.Instances), []string{"a", "b"}) || u.Err != nil {
			t.Fatalf("update after the outage: %v err=%v, want [a b]", ids(u.Instances), u.Err)
		}
		// Recovery gives b a full TTL; unrenewed, it then expires.
		c.Advance(3*time.Second - time.Millisecond)
		wantInstances(t, reg, "a", "b")
		c.Advance(time.Millisecond)
		if u := latest(t, w); !slices.Equal(ids(u.Instances), []string{"a"}) || u.Err != nil {
			t.Fatalf("update after b's TTL: %v err=%v, want [a]", ids(u.Instances), u.Err)
		}
		if u := latest(t, w2); len(u.Instances) != 0 || u.Err != nil {
			t.Fatalf("new watch after the outage: %v err=%v", ids(u.Instances), u.Err)
		}
	})
}

func TestRegistryWipe(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		reg, c := newFake(t)
		reg.Register(ctx, instance("a"))
		reg.Put(ctx, instance("b"), time.Second)
		w, _ := reg.Watch(ctx, "catalog")
		defer w.Stop()
		latest(t, w)
		reg.Wipe()
		if u := latest(t, w); len(u.Instances) != 0 || u.Err != nil {
			t.Fatalf("update after Wipe: %v err=%v", ids(u.Instances), u.Err)
		}
		if n := c.Pending(); n != 0 {
			t.Fatalf("Wipe left %d expiry timers", n)
		}
	})
}

func TestRegistryClose(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		reg, c := newFake(t)
		reg.Put(ctx, instance("a"), time.Second)
		w, _ := reg.Watch(ctx, "catalog")
		latest(t, w)
		reg.Close()
		if _, ok := <-w.Updates(); ok {
			t.Fatal("watch open after Close")
		}
		w.Stop()
		if n := c.Pending(); n != 0 {
			t.Fatalf("Close left %d timers", n)
		}
		for name, err := range map[string]error{
			"Register":   reg.Register(ctx, instance("b")),
			"Put":        reg.Put(ctx, instance("b"), time.Second),
			"Deregister": reg.Deregister(ctx, instance("a")),
		} {
			if !errors.Is(err, discovery.ErrStopped) {
				t.Errorf("%s after Close = %v, want ErrStopped", name, err)
			}
		}
		if _, err := reg.Watch(ctx, "catalog"); !errors.Is(err, discovery.ErrStopped) {
			t.Errorf("Watch after Close = %v, want ErrStopped", err)
		}
		reg.Close()
	})
}

func TestRegistrarRenewsAndReportsState(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		reg, c := newFake(t)
		g := newRegistrar(t, reg, 3*time.Second)
		defer g.Close(ctx)
		if err := g.Register(ctx, instance("a")); err != nil {
			t.Fatal(err)
		}
		c.Advance(time.Minute)
		wantInstances(t, reg, "a")
		if err := g.RegistrationErr(); err != nil {
			t.Fatalf("RegistrationErr() = %v", err)
		}
		bad := instance("b")
		bad.Weight = -1
		if err := g.Register(ctx, bad); !errors.Is(err, discovery.ErrBadWeight) {
			t.Fatalf("Register(bad) = %v", err)
		}
	})
}

// The brief's scenario: the registry goes away, comes back empty, and the
// registrar puts its instances back on its own.
func TestRegistrarHealsAfterUnavailableAndWipe(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		reg, c := newFake(t)
		g := newRegistrar(t, reg, 3*time.Second)
		defer g.Close(ctx)
		g.Register(ctx, instance("a"))
		other := instance("x")
		other.Service = "orders"
		g.Register(ctx, other)
		w, _ := reg.Watch(ctx, "catalog")
		defer w.Stop()
		latest(t, w)

		reg.SetUnavailable(memory.ErrUnavailable)
		reg.Wipe()
		latest(t, w) // the outage
		c.Advance(time.Second)
		if err := g.RegistrationErr(); !errors.Is(err, memory.ErrUnavailable) {
			t.Fatalf("RegistrationErr() during the outage = %v", err)
		}
		reg.SetUnavailable(nil)
		if u := latest(t, w); len(u.Instances) != 0 {
			t.Fatalf("a wiped registry answered %v", ids(u.Instances))
		}
		c.Advance(time.Second) // the next beat
		if u := latest(t, w); !slices.Equal(ids(u.Instances), []string{"a"}) || u.Err != nil {
			t.Fatalf("after healing: %v err=%v, want [a]", ids(u.Instances), u.Err)
		}
		if got := ids(reg.Instances("orders")); !slices.Equal(got, []string{"x"}) {
			t.Fatalf("orders after healing: %v", got)
		}
		if err := g.RegistrationErr(); err != nil {
			t.Fatalf("RegistrationErr() after healing = %v", err)
		}
	})
}

func TestRegistrarRegisterDuringOutage(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		reg, c := newFake(t)
		g := newRegistrar(t, reg, 3*time.Second)
		defer g.Close(ctx)
		reg.SetUnavailable(memory.ErrUnavailable)
		if err := g.Register(ctx, instance("a")); !errors.Is(err, memory.ErrUnavailable) {
			t.Fatalf("Register during the outage = %v", err)
		}
		if g.RegistrationErr() == nil {
			t.Fatal("RegistrationErr() = nil after a failed Register")
		}
		reg.SetUnavailable(nil)
		c.Advance(time.Second)
		wantInstances(t, reg, "a")
	})
}

func TestRegistrarKill(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		reg, c := newFake(t)
		g := newRegistrar(t, reg, 3*time.Second)
		g.Register(ctx, instance("a"))
		c.Advance(2 * time.Second) // renewed at 1s and 2s: expires at 5s
		g.Kill()
		if err := g.Register(ctx, instance("b")); !errors.Is(err, discovery.ErrStopped) {
			t.Fatalf("Register after Kill = %v, want ErrStopped", err)
		}
		c.Advance(3*time.Second - time.Nanosecond)
		wantInstances(t, reg, "a")
		c.Advance(time.Nanosecond)
		wantInstances(t, reg)
		if n := c.Pending(); n != 0 {
			t.Fatalf("%d timers left after Kill and expiry", n)
		}
	})
}

func TestNewRegistrarConfig(t *testing.T) {
	reg := memory.New()
	defer reg.Close()
	for _, tc := range []struct {
		name string
		reg  *memory.Registry
		ttl  time.Duration
	}{
		{"negative TTL", reg, -time.Nanosecond},
		{"nil registry", nil, time.Second},
	} {
		if g, err := memory.NewRegistrar(tc.reg, tc.ttl); !errors.Is(err, memory.ErrConfig) || g != nil {
			t.Errorf("NewRegistrar(%s) = %v, %v; want nil, ErrConfig", tc.name, g, err)
		}
	}
}

func TestRegistrarZeroTTLIsDefault(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		reg, c := newFake(t)
		g := newRegistrar(t, reg, 0)
		g.Register(ctx, instance("a"))
		g.Kill()
		c.Advance(memory.DefaultRegistrarTTL - time.Nanosecond)
		wantInstances(t, reg, "a")
		c.Advance(time.Nanosecond)
		wantInstances(t, reg)
	})
}

func TestRegistrarClose(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		reg, c := newFake(t)
		g := newRegistrar(t, reg, 3*time.Second)
		g.Register(ctx, instance("a"))
		g.Register(ctx, instance("b"))
		if err := g.Close(ctx); err != nil {
			t.Fatal(err)
		}
		wantInstances(t, reg)
		if n := c.Pending(); n != 0 {
			t.Fatalf("%d timers left after Close", n)
		}
		if err := g.Close(ctx); err != nil {
			t.Fatalf("second Close = %v", err)
		}
		if err := g.Deregister(ctx, instance("a")); err != nil {
			t.Fatalf("Deregister of a gone instance = %v, want nil", err)
		}
	})
}

// Registrations are told apart by service and ID, even when joining them
// with a slash would make them equal.
func TestRegistrarKeysDoNotCollide(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		reg, c := newFake(t)
		g := newRegistrar(t, reg, 3*time.Second)
		defer g.Close(ctx)
		x := discovery.Instance{ID: "c", Service: "a/b", Addr: "10.0.0.1:80"}
		y := discovery.Instance{ID: "b/c", Service: "a", Addr: "10.0.0.2:80"}
		g.Register(ctx, x)
		g.Register(ctx, y)
		g.Deregister(ctx, x)
		c.Advance(time.Minute)
		if got := reg.Instances("a"); len(got) != 1 || !got[0].Equal(y) {
			t.Fatalf("service a holds %v after its neighbour was deregistered, want %v", got, y)
		}
	})
}

// A closed registry never comes back: its registrars stop beating instead
// of retrying forever.
func TestRegistrarStopsWhenRegistryCloses(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		reg, c := newFake(t)
		g := newRegistrar(t, reg, 3*time.Second)
		g.Register(ctx, instance("a"))
		reg.Close()
		c.Advance(time.Minute)
		if !errors.Is(g.RegistrationErr(), discovery.ErrStopped) {
			t.Fatalf("RegistrationErr() = %v, want ErrStopped", g.RegistrationErr())
		}
	})
}

// A long outage must not empty the registry: when it ends, every
// heartbeating registration is still there and is renewed before its TTL
// runs out again.
func TestLongOutageKeepsLeasedRegistrations(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		reg, fc := newFake(t)
		g := newRegistrar(t, reg, time.Second)
		inst := discovery.Instance{ID: "a", Service: "svc", Addr: "10.0.0.1:80"}
		if err := g.Register(context.Background(), inst); err != nil {
			t.Fatal(err)
		}
		w, err := reg.Watch(context.Background(), "svc")
		if err != nil {
			t.Fatal(err)
		}
		defer w.Stop()
		<-w.Updates()
		reg.SetUnavailable(errors.New("down"))
		fc.Advance(30 * time.Second)
		reg.SetUnavailable(nil)
		if u := <-w.Updates(); u.Err != nil || len(u.Instances) != 1 {
			t.Fatalf("first update after the outage: %d instances, err %v; want the instance kept", len(u.Instances), u.Err)
		}
		fc.Advance(5 * time.Second) // the registrar renews within the fresh TTL
		if got := reg.Instances("svc"); len(got) != 1 {
			t.Fatalf("%d instances 5 s after recovery, want the renewed one", len(got))
		}
	})
}
