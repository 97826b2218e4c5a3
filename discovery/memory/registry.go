package memory

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/switchyard/switchyard/discovery"
	"github.com/switchyard/switchyard/internal/clock"
)

// ErrUnavailable is the error reported while the registry is switched off
// with [Registry.SetUnavailable] and no other error was given.
var ErrUnavailable = errors.New("memory: registry unavailable")

// ErrNotFound is returned when renewing or removing an unknown registration.
var ErrNotFound = errors.New("memory: registration not found")

// Registry is an in-process registry. Registrations made with Register live
// until Deregister; those made with [Registry.Put] expire after their TTL
// unless put again.
//
// A Registry is safe for concurrent use. It starts no goroutines of its
// own; Close stops its timers and every watch.
type Registry struct {
	clock clock.Clock // the real clock; tests run in testing/synctest bubbles

	mu      sync.Mutex                   // guards every field below
	entries map[string]map[string]*entry // service → ID → entry
	feeds   map[string]*discovery.Feed
	down    error
	closed  bool
}

type entry struct {
	inst    discovery.Instance
	ttl     time.Duration // zero: never expires
	expires time.Time     // zero: never
	stop    func() bool   // cancels the expiry timer; nil when none
}

var (
	_ discovery.Registrar = (*Registry)(nil)
	_ discovery.Resolver  = (*Registry)(nil)
)

// New returns an empty registry. It has nothing to configure: TTLs are
// given per registration ([Registry.Put], [NewRegistrar]).
func New() *Registry {
	return &Registry{
		clock:   clock.Real{},
		entries: make(map[string]map[string]*entry),
		feeds:   make(map[string]*discovery.Feed),
	}
}

// Register adds inst with no expiry, replacing any registration with the
// same service and ID.
func (r *Registry) Register(ctx context.Context, inst discovery.Instance) error {
	return r.put(ctx, inst, 0)
}

// Put adds or refreshes inst so that it expires ttl from now unless put
// again. A ttl of zero or less means no expiry.
func (r *Registry) Put(ctx context.Context, inst discovery.Instance, ttl time.Duration) error {
	return r.put(ctx, inst, ttl)
}

func (r *Registry) put(ctx context.Context, inst discovery.Instance, ttl time.Duration) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := inst.Validate(); err != nil {
		return fmt.Errorf("memory: register: %w", err)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return discovery.ErrStopped
	}
	if r.down != nil {
		return r.down
	}
	svc := r.entries[inst.Service]
	if svc == nil {
		svc = make(map[string]*entry)
		r.entries[inst.Service] = svc
	}
	if old := svc[inst.ID]; old != nil && old.stop != nil {
		old.stop()
	}
	e := &entry{inst: inst, ttl: ttl}
	if ttl > 0 {
		r.armLocked(e)
	}
	svc[inst.ID] = e
	r.publishLocked(inst.Service)
	return nil
}

// expire removes e if it is still the registration for id.
func (r *Registry) expire(service, id string, e *entry) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed || r.entries[service][id] != e {
		return
	}
	if r.down != nil {
		// Leases do not run out while the registry is down: nobody could
		// have renewed them. Recovery re-arms the timer (SetUnavailable).
		e.stop = nil
		return
	}
	delete(r.entries[service], id)
	r.publishLocked(service)
}

// Deregister removes inst (matched by service and ID).
func (r *Registry) Deregister(ctx context.Context, inst discovery.Instance) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return discovery.ErrStopped
	}
	if r.down != nil {
		return r.down
	}
	e := r.entries[inst.Service][inst.ID]
	if e == nil {
		return fmt.Errorf("%w: %s/%s", ErrNotFound, inst.Service, inst.ID)
	}
	if e.stop != nil {
		e.stop()
	}
	delete(r.entries[inst.Service], inst.ID)
	r.publishLocked(inst.Service)
	return nil
}

// Watch follows service. The first update arrives at once (an empty list
// if nothing is registered).
func (r *Registry) Watch(ctx context.Context, service string) (discovery.Watch, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if service == "" {
		return nil, discovery.ErrNoService
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return nil, discovery.ErrStopped
	}
	return r.feedLocked(service).Watch(nil), nil
}

// Instances returns the registered instances of service, sorted by ID.
func (r *Registry) Instances(service string) []discovery.Instance {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.listLocked(service)
}

// SetUnavailable simulates an outage: while err is non-nil every Register,
// Put and Deregister fails with err, and watches keep their last known good
// list with err beside it. No registration expires while the registry is
// down, since nobody could renew it; SetUnavailable(nil) ends the outage,
// gives every registration with a TTL a full TTL from then (as etcd
// extends leases when a new leader takes over), and publishes the current
// state.
func (r *Registry) SetUnavailable(err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.down != nil && err == nil {
		// Back up: every lease gets a full TTL from now, as etcd extends
		// leases when a new leader takes over, so that registrars have
		// time to renew before anything expires.
		for _, m := range r.entries {
			for _, e := range m {
				if e.ttl > 0 {
					if e.stop != nil {
						e.stop()
					}
					r.armLocked(e)
				}
			}
		}
	}
	r.down = err
	for svc, f := range r.feeds {
		if err != nil {
			f.Fail(err)
		} else {
			f.Publish(r.listLocked(svc))
		}
	}
}

// armLocked starts e's expiry timer for a full TTL from now.
func (r *Registry) armLocked(e *entry) {
	e.expires = r.clock.Now().Add(e.ttl)
	service, id := e.inst.Service, e.inst.ID
	e.stop = r.clock.AfterFunc(e.ttl, func() { r.expire(service, id, e) })
}

// Wipe forgets every registration, as a registry restarted on an empty
// data directory would.
func (r *Registry) Wipe() {
	r.mu.Lock()
	defer r.mu.Unlock()
	for svc, m := range r.entries {
		for _, e := range m {
			if e.stop != nil {
				e.stop()
			}
		}
		delete(r.entries, svc)
		r.publishLocked(svc)
	}
}

// Close stops every timer and watch. Later calls fail with
// discovery.ErrStopped.
func (r *Registry) Close() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return
	}
	r.closed = true
	for _, m := range r.entries {
		for _, e := range m {
			if e.stop != nil {
				e.stop()
			}
		}
	}
	for _, f := range r.feeds {
		f.Close()
	}
}

func (r *Registry) feedLocked(service string) *discovery.Feed {
	f := r.feeds[service]
	if f == nil {
		f = new(discovery.Feed)
		if r.down != nil {
			f.Fail(r.down)
		} else {
			f.Publish(r.listLocked(service))
		}
		r.feeds[service] = f
	}
	return f
}

func (r *Registry) publishLocked(service string) {
	if r.down != nil {
		return
	}
	if f := r.feeds[service]; f != nil {
		f.Publish(r.listLocked(service))
	}
}

func (r *Registry) listLocked(service string) []discovery.Instance {
	m := r.entries[service]
	list := make([]discovery.Instance, 0, len(m))
	for _, e := range m {
		list = append(list, e.inst)
	}
	discovery.SortByID(list)
	return list
}
