package discovery

import (
	"slices"
	"sync"

	"github.com/go-kit/kit/sd"
)

// NewInstancer adapts w to go-kit's sd.Instancer, so go-kit's Endpointer and
// load balancers can follow a Switchyard backend. Each event lists the
// instances' addresses; when the registry fails the event carries the last
// known good addresses and the error.
//
// The instancer owns w: Stop stops it. Like go-kit's own instancers,
// events are sent to registered channels synchronously, so every
// registered channel must be read.
func NewInstancer(w Watch) sd.Instancer {
	k := &kitInstancer{w: w, done: make(chan struct{}), regs: make(map[chan<- sd.Event]struct{})}
	go k.loop()
	return k
}

type kitInstancer struct {
	w    Watch
	done chan struct{}

	mu    sync.Mutex // guards state, seen and regs; held while sending so order is kept
	state sd.Event
	seen  bool
	regs  map[chan<- sd.Event]struct{}
}

func (k *kitInstancer) loop() {
	defer close(k.done)
	for u := range k.w.Updates() {
		addrs := make([]string, len(u.Instances))
		for i, inst := range u.Instances {
			addrs[i] = inst.Addr
		}
		ev := sd.Event{Instances: addrs, Err: u.Err}
		k.mu.Lock()
		k.state, k.seen = ev, true
		for ch := range k.regs {
			ch <- copyEvent(ev)
		}
		k.mu.Unlock()
	}
}

// copyEvent gives each receiver its own slice: go-kit's endpoint cache
// sorts the instances it receives in place.
func copyEvent(ev sd.Event) sd.Event {
	ev.Instances = slices.Clone(ev.Instances)
	return ev
}

// Register implements sd.Instancer. The current state, if any, is sent at
// once.
func (k *kitInstancer) Register(ch chan<- sd.Event) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.regs[ch] = struct{}{}
	if k.seen {
		ch <- copyEvent(k.state)
	}
}

// Deregister implements sd.Instancer.
func (k *kitInstancer) Deregister(ch chan<- sd.Event) {
	k.mu.Lock()
	defer k.mu.Unlock()
	delete(k.regs, ch)
}

// Stop implements sd.Instancer: it stops the underlying watch and waits for
// the forwarding goroutine to end.
func (k *kitInstancer) Stop() {
	k.w.Stop()
	<-k.done
}

// FromInstancer adapts a go-kit sd.Instancer to a [Watch]. go-kit knows
// instances only as strings, so each becomes an [Instance] whose ID and
// Addr are that string and whose Service is service. An event with an
// error keeps the last known good list.
//
// Stopping the watch deregisters from inst but does not stop inst, which
// the caller owns.
func FromInstancer(inst sd.Instancer, service string) Watch {
	a := &fromInstancer{
		inst:         inst,
		service:      service,
		ch:           make(chan sd.Event),
		quit:         make(chan struct{}),
		deregistered: make(chan struct{}),
		done:         make(chan struct{}),
	}
	a.watch = a.feed.Watch(a.stop)
	go a.loop()
	inst.Register(a.ch)
	return a.watch
}

type fromInstancer struct {
	inst         sd.Instancer
	service      string
	feed         Feed
	watch        Watch
	ch           chan sd.Event
	quit         chan struct{}
	deregistered chan struct{}
	done         chan struct{}
}

func (a *fromInstancer) loop() {
	defer close(a.done)
	for {
		select {
		case ev := <-a.ch:
			a.apply(ev)
		case <-a.quit:
			// go-kit instancers send while holding their lock, so keep
			// reading until Deregister has returned.
			for {
				select {
				case <-a.ch:
				case <-a.deregistered:
					return
				}
			}
		}
	}
}

func (a *fromInstancer) apply(ev sd.Event) {
	if ev.Err != nil {
		a.feed.Fail(ev.Err)
		return
	}
	list := make([]Instance, len(ev.Instances))
	for i, s := range ev.Instances {
		list[i] = Instance{ID: s, Service: a.service, Addr: s}
	}
	a.feed.Publish(list)
}

// stop runs once, from the watch's Stop.
func (a *fromInstancer) stop() {
	close(a.quit)
	a.inst.Deregister(a.ch)
	close(a.deregistered)
	<-a.done
}
