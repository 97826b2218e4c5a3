package discovery_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/go-kit/kit/endpoint"
	"github.com/go-kit/kit/sd"
	"github.com/go-kit/kit/sd/lb"
	"github.com/go-kit/log"
	"go.uber.org/goleak"

	"github.com/switchyard/switchyard/discovery"
	"github.com/switchyard/switchyard/discovery/memory"
)

// wait bounds how long a test waits for a goroutine to hand something over.
const wait = 5 * time.Second

func recvEvent(t *testing.T, ch <-chan sd.Event) sd.Event {
	t.Helper()
	select {
	case ev := <-ch:
		return ev
	case <-time.After(wait):
		t.Fatal("no event")
		return sd.Event{}
	}
}

func TestNewInstancerEvents(t *testing.T) {
	defer goleak.VerifyNone(t)
	ctx := context.Background()
	reg := memory.New()
	defer reg.Close()
	reg.Register(ctx, discovery.Instance{ID: "a", Service: "catalog", Addr: "10.0.0.2:80"})
	w, err := reg.Watch(ctx, "catalog")
	if err != nil {
		t.Fatal(err)
	}
	inst := discovery.NewInstancer(w)
	ch := make(chan sd.Event, 4)
	inst.Register(ch)
	if ev := recvEvent(t, ch); !slices.Equal(ev.Instances, []string{"10.0.0.2:80"}) || ev.Err != nil {
		t.Fatalf("first event %+v", ev)
	}
	reg.Register(ctx, discovery.Instance{ID: "b", Service: "catalog", Addr: "10.0.0.1:80"})
	// Order follows the instances' IDs, not the addresses.
	if ev := recvEvent(t, ch); !slices.Equal(ev.Instances, []string{"10.0.0.2:80", "10.0.0.1:80"}) || ev.Err != nil {
		t.Fatalf("event after a registration %+v", ev)
	}
	reg.SetUnavailable(memory.ErrUnavailable)
	if ev := recvEvent(t, ch); len(ev.Instances) != 2 || !errors.Is(ev.Err, memory.ErrUnavailable) {
		t.Fatalf("event during an outage %+v, want the last known good addresses and the error", ev)
	}
	reg.SetUnavailable(nil)
	if ev := recvEvent(t, ch); len(ev.Instances) != 2 || ev.Err != nil {
		t.Fatalf("event after the outage %+v", ev)
	}

	// A channel registered now gets the current state at once.
	late := make(chan sd.Event, 1)
	inst.Register(late)
	if ev := recvEvent(t, late); len(ev.Instances) != 2 {
		t.Fatalf("late registration got %+v", ev)
	}
	inst.Deregister(late)
	inst.Deregister(ch)
	reg.Deregister(ctx, discovery.Instance{ID: "a", Service: "catalog"})
	inst.Stop()
	select {
	case ev := <-ch:
		t.Fatalf("event %+v after Deregister", ev)
	case ev := <-late:
		t.Fatalf("event %+v after Deregister", ev)
	default:
	}
	if n := len(reg.Instances("catalog")); n != 1 {
		t.Fatalf("%d instances left", n)
	}
}

// Two go-kit Endpointers on one instancer: go-kit sorts the instance slice
// it receives in place, so each must get its own copy (the race detector
// catches a shared one).
func TestNewInstancerWithGoKitEndpointers(t *testing.T) {
	defer goleak.VerifyNone(t)
	ctx := context.Background()
	reg := memory.New()
	defer reg.Close()
	// IDs sort one way, addresses the other.
	for i, id := range []string{"a", "b", "c"} {
		reg.Register(ctx, discovery.Instance{ID: id, Service: "catalog", Addr: fmt.Sprintf("10.0.0.%d:80", 9-i)})
	}
	w, _ := reg.Watch(ctx, "catalog")
	inst := discovery.NewInstancer(w)
	defer inst.Stop()
	factory := func(addr string) (endpoint.Endpoint, io.Closer, error) {
		return func(context.Context, any) (any, error) { return addr, nil }, nil, nil
	}
	var eps []*sd.DefaultEndpointer
	for range 2 {
		e := sd.NewEndpointer(inst, factory, log.NewNopLogger())
		defer e.Close()
		eps = append(eps, e)
	}
	for i := range 5 {
		reg.Register(ctx, discovery.Instance{ID: fmt.Sprintf("d%d", i), Service: "catalog", Addr: fmt.Sprintf("10.0.1.%d:80", 9-i)})
	}
	for _, e := range eps {
		waitEndpoints(t, e, 8)
		got := map[any]bool{}
		rr := lb.NewRoundRobin(e)
		for range 8 {
			ep, err := rr.Endpoint()
			if err != nil {
				t.Fatal(err)
			}
			addr, _ := ep(ctx, nil)
			got[addr] = true
		}
		if len(got) != 8 {
			t.Fatalf("round robin reached %d of 8 instances", len(got))
		}
	}
}

// waitEndpoints waits for e's receiving goroutine to apply an update.
func waitEndpoints(t *testing.T, e sd.Endpointer, n int) {
	t.Helper()
	deadline := time.Now().Add(wait)
	for {
		eps, err := e.Endpoints()
		if err == nil && len(eps) == n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("endpointer has %d endpoints (err %v), want %d", len(eps), err, n)
		}
		time.Sleep(time.Millisecond)
	}
}

func TestNewInstancerStopWithoutReaders(t *testing.T) {
	defer goleak.VerifyNone(t)
	var f discovery.Feed
	f.Publish(in("a"))
	inst := discovery.NewInstancer(f.Watch(nil))
	inst.Stop()
	if f.Watchers() != 0 {
		t.Fatal("Stop left the watch attached")
	}
}

func TestFromInstancerFixed(t *testing.T) {
	defer goleak.VerifyNone(t)
	w := discovery.FromInstancer(sd.FixedInstancer{"10.0.0.2:80", "10.0.0.1:80", "10.0.0.2:80"}, "catalog")
	u := <-w.Updates()
	want := []discovery.Instance{
		{ID: "10.0.0.1:80", Service: "catalog", Addr: "10.0.0.1:80"},
		{ID: "10.0.0.2:80", Service: "catalog", Addr: "10.0.0.2:80"},
	}
	if u.Err != nil || !discovery.EqualSets(u.Instances, want) {
		t.Fatalf("update %+v, want %+v", u, want)
	}
	w.Stop()
	if _, ok := <-w.Updates(); ok {
		t.Fatal("channel open after Stop")
	}
	w.Stop()
}

// drivenInstancer behaves like go-kit's own instancers (sd/internal/instance
// Cache): it sends synchronously, on unbuffered channels, while holding its
// lock, and pushes its state to every new channel.
type drivenInstancer struct {
	mu    sync.Mutex // guards state and regs; held while sending
	state sd.Event
	regs  map[chan<- sd.Event]struct{}
}

func newDriven() *drivenInstancer {
	return &drivenInstancer{regs: make(map[chan<- sd.Event]struct{})}
}

func (d *drivenInstancer) Update(ev sd.Event) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.state = ev
	for ch := range d.regs {
		ch <- ev
	}
}

func (d *drivenInstancer) Register(ch chan<- sd.Event) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.regs[ch] = struct{}{}
	ch <- d.state
}

func (d *drivenInstancer) Deregister(ch chan<- sd.Event) {
	d.mu.Lock()
	defer d.mu.Unlock()
	delete(d.regs, ch)
}

func (d *drivenInstancer) Stop() {}

func (d *drivenInstancer) registered() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return len(d.regs)
}

func recvUpdate(t *testing.T, w discovery.Watch) discovery.Update {
	t.Helper()
	select {
	case u := <-w.Updates():
		return u
	case <-time.After(wait):
		t.Fatal("no update")
		return discovery.Update{}
	}
}

func TestFromInstancerDriven(t *testing.T) {
	defer goleak.VerifyNone(t)
	d := newDriven()
	w := discovery.FromInstancer(d, "catalog")
	// The zero state go-kit pushes on Register is an empty list.
	wantIDs(t, recvUpdate(t, w), nil)
	d.Update(sd.Event{Instances: []string{"h:2", "h:1"}})
	wantIDs(t, recvUpdate(t, w), nil, "h:1", "h:2")
	boom := errors.New("sd down")
	d.Update(sd.Event{Err: boom})
	wantIDs(t, recvUpdate(t, w), boom, "h:1", "h:2")
	d.Update(sd.Event{Instances: []string{"h:3"}})
	wantIDs(t, recvUpdate(t, w), nil, "h:3")
	w.Stop()
	if d.registered() != 0 {
		t.Fatal("Stop did not deregister from the instancer")
	}
	d.Update(sd.Event{Instances: []string{"h:4"}}) // must not block
}

// Stop must return while the instancer is busy sending to the watch under
// its lock, whatever the interleaving.
func TestFromInstancerStopWhileSending(t *testing.T) {
	defer goleak.VerifyNone(t)
	events := make([]sd.Event, 5)
	for i := range events {
		events[i] = sd.Event{Instances: []string{fmt.Sprintf("h:%d", i+1)}}
	}
	for i := range 100 {
		d := newDriven()
		w := discovery.FromInstancer(d, "catalog")
		<-w.Updates() // the state pushed by Register
		done, sending := make(chan struct{}), make(chan struct{})
		var sender sync.WaitGroup
		sender.Go(func() {
			for j := 0; ; j++ {
				select {
				case <-done:
					return
				default:
				}
				d.Update(events[j%len(events)])
				if j == 0 {
					close(sending)
				}
			}
		})
		<-sending // Stop lands in the middle of a stream of sends
		if i%2 == 0 {
			recvUpdate(t, w) // sometimes read, sometimes leave one waiting
		}
		stopped := make(chan struct{})
		go func() {
			w.Stop()
			close(stopped)
		}()
		select {
		case <-stopped:
		case <-time.After(wait):
			t.Fatalf("iteration %d: Stop deadlocked against a synchronous sender", i)
		}
		close(done)
		sender.Wait()
	}
}

// A Switchyard watch through go-kit and back: addresses survive, errors
// keep the last known good list, and stopping the outer watch leaves the
// instancer to its owner.
func TestInstancerRoundTrip(t *testing.T) {
	defer goleak.VerifyNone(t)
	ctx := context.Background()
	reg := memory.New()
	defer reg.Close()
	reg.Register(ctx, discovery.Instance{ID: "x", Service: "catalog", Addr: "10.0.0.1:80"})
	inner, _ := reg.Watch(ctx, "catalog")
	inst := discovery.NewInstancer(inner)
	defer inst.Stop()
	w := discovery.FromInstancer(inst, "catalog")
	defer w.Stop()
	wantIDs(t, recvUpdate(t, w), nil, "10.0.0.1:80")
	reg.Register(ctx, discovery.Instance{ID: "y", Service: "catalog", Addr: "10.0.0.2:80"})
	wantIDs(t, recvUpdate(t, w), nil, "10.0.0.1:80", "10.0.0.2:80")
	reg.SetUnavailable(memory.ErrUnavailable)
	wantIDs(t, recvUpdate(t, w), memory.ErrUnavailable, "10.0.0.1:80", "10.0.0.2:80")
	reg.SetUnavailable(nil)
	wantIDs(t, recvUpdate(t, w), nil, "10.0.0.1:80", "10.0.0.2:80")
	w.Stop()
	// The instancer still works for its other users.
	ch := make(chan sd.Event, 1)
	inst.Register(ch)
	if ev := recvEvent(t, ch); len(ev.Instances) != 2 {
		t.Fatalf("instancer after the adapter stopped: %+v", ev)
	}
	inst.Deregister(ch)
}
