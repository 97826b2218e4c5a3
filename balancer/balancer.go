package balancer

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-kit/kit/endpoint"
	"github.com/go-kit/kit/sd"
	"github.com/go-kit/kit/sd/lb"

	"github.com/switchyard/switchyard/discovery"
	"github.com/switchyard/switchyard/internal/clock"
	"github.com/switchyard/switchyard/outcome"
)

// ErrNoHosts is returned when a balancer has no instance to pick.
var ErrNoHosts = errors.New("balancer: no instances available")

// ErrPanicked is reported to outlier detection and the policy for a call
// whose endpoint panicked; the panic itself continues up the stack.
var ErrPanicked = errors.New("balancer: endpoint panicked")

// ErrNoEndpoint is returned by [Balancer.Call] when the balancer was built
// without a [Factory].
var ErrNoEndpoint = errors.New("balancer: no endpoint factory configured")

// Factory turns an instance into an endpoint that calls it. The closer, if
// not nil, is closed when the instance leaves the balancer.
type Factory func(inst discovery.Instance) (endpoint.Endpoint, io.Closer, error)

// KitFactory adapts a go-kit sd.Factory, which knows an instance by its
// address only.
func KitFactory(f sd.Factory) Factory {
	return func(inst discovery.Instance) (endpoint.Endpoint, io.Closer, error) {
		return f(inst.Addr)
	}
}

// ErrConfig is wrapped by the error [New] returns for an invalid [Config]
// or a nil policy.
var ErrConfig = errors.New("balancer: invalid configuration")

// Config configures a [Balancer]. The zero value is a balancer that only
// picks hosts (no factory), classifies errors with outcome.Default, never
// ejects a host and drops the errors it cannot return.
type Config struct {
	// Factory makes one endpoint per instance, so that [Balancer.Call] and
	// [Balancer.Endpoint] can call the picked host. Nil: the balancer only
	// picks hosts, and Call and Endpoint return [ErrNoEndpoint].
	Factory Factory
	// Classifier decides which errors count as server-health failures.
	// Nil means outcome.Default.
	Classifier outcome.Classifier
	// Outlier turns outlier detection on with its configuration (zero
	// fields take their defaults). Nil: no host is ever ejected.
	Outlier *OutlierConfig
	// Hooks are called on events that have no caller to report to.
	Hooks Hooks
}

// Hooks are the callbacks of a [Balancer]. A nil field is not called. A
// hook never runs under the balancer's lock, so it may read the balancer;
// it must not call [Balancer.Close].
type Hooks struct {
	// OnError receives errors that have no caller to return to: a factory
	// that fails for an instance (the instance is skipped) and a registry
	// error beside a last-known-good update. It runs on the goroutine that
	// applied the update (for a followed watch, the balancer's own).
	OnError func(error)
}

// Balancer picks hosts for calls to one service.
//
// Pick, Call and Endpoint are lock-free and allocation-free and may be
// called from any number of goroutines. Membership changes (Update, or a
// followed watch) and ejections serialise on a mutex and publish a new
// snapshot. A Balancer that follows a watch, or has outlier detection on,
// runs timers or a goroutine until [Balancer.Close].
type Balancer struct {
	policy   Policy
	observer Observer // policy as an Observer, or nil
	factory  Factory
	classify outcome.Classifier
	clock    clock.Clock // the real clock; tests run in synctest bubbles
	onError  func(error)
	outlier  OutlierConfig
	detect   bool

	epoch time.Time
	tick  atomic.Int64 // ns since epoch at the latest completed call

	snap atomic.Pointer[snapshot]

	mu           sync.Mutex // guards the fields below and Host ejection state
	byID         map[string]*Host
	hosts        []*Host // sorted by ID
	ejectedCount int
	stopSweep    func() bool
	closed       bool
	watch        discovery.Watch
	followDone   chan struct{}

	ready     chan struct{} // closed by the first Update
	readyOnce sync.Once
}

// snapshot is what a pick reads: immutable once published.
type snapshot struct {
	picker   Picker
	hosts    []*Host // every member, sorted by ID
	eligible []*Host // the hosts the picker was built on
	panic    bool
	closed   bool          // published by Close: no snapshot follows
	replaced chan struct{} // closed when the next snapshot is published (see WaitHosts)
}

var _ lb.Balancer = (*Balancer)(nil)

// New returns a balancer with policy, configured by cfg, and no hosts. It
// returns an error wrapping [ErrConfig] when policy is nil or cfg.Outlier
// holds a value out of range.
func New(policy Policy, cfg Config) (*Balancer, error) {
	if policy == nil {
		return nil, fmt.Errorf("%w: nil policy", ErrConfig)
	}
	b := &Balancer{
		policy:   policy,
		factory:  cfg.Factory,
		classify: outcome.Or(cfg.Classifier),
		clock:    clock.Real{},
		onError:  cfg.Hooks.OnError,
		byID:     make(map[string]*Host),
		ready:    make(chan struct{}),
	}
	if cfg.Outlier != nil {
		if err := cfg.Outlier.validate(); err != nil {
			return nil, fmt.Errorf("%w: %w", ErrConfig, err)
		}
		b.outlier = cfg.Outlier.withDefaults()
		b.detect = true
	}
	b.observer, _ = policy.(Observer)
	b.epoch = b.clock.Now()
	b.publish(&snapshot{})
	if b.detect {
		b.stopSweep = b.clock.AfterFunc(b.outlier.Interval, b.sweep)
	}
	return b, nil
}

// Follow makes the balancer track w: every update replaces the membership.
// A registry error keeps the last known good list (the watch delivers it)
// and goes to the error handler. The balancer owns w and stops it on Close.
// Follow may be called once.
func (b *Balancer) Follow(w discovery.Watch) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		w.Stop()
		return discovery.ErrStopped
	}
	if b.watch != nil {
		w.Stop()
		return errors.New("balancer: already following a watch")
	}
	b.watch = w
	b.followDone = make(chan struct{})
	go func() {
		defer close(b.followDone)
		for u := range w.Updates() {
			if u.Err != nil && b.onError != nil {
				b.onError(fmt.Errorf("balancer: registry: %w", u.Err))
			}
			// A registry that fails before it ever answered yields an
			// empty list with an error: that is no snapshot to be ready on.
			b.update(u.Instances, u.Err == nil || len(u.Instances) > 0)
		}
	}()
	return nil
}

// Update replaces the set of instances. Instances whose record is
// unchanged keep their Host and its statistics. When list holds an ID more
// than once, the last record is used, as in a discovery.Feed. A factory
// error skips its instance and goes to the error handler, which runs
// after the balancer's lock is released.
func (b *Balancer) Update(list []discovery.Instance) {
	b.update(list, true)
}

// update replaces the membership; ready says whether this update counts as
// the first snapshot for WaitReady.
func (b *Balancer) update(list []discovery.Instance, ready bool) {
	var (
		closers []io.Closer
		errs    []error
	)
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return
	}
	next := make([]*Host, 0, len(list))
	// kept maps each ID of the new membership to its Host. The list is
	// walked from the end so that, as in a Feed, the last record of an ID
	// wins; next is sorted afterwards.
	kept := make(map[string]*Host, len(list))
	for i := len(list) - 1; i >= 0; i-- {
		inst := list[i]
		if _, dup := kept[inst.ID]; dup {
			continue
		}
		h := b.byID[inst.ID]
		var prev *Host
		if h != nil && !h.Instance.Equal(inst) {
			prev, h = h, nil // same ID, new record: a new Host
		}
		if h == nil {
			var err error
			h, err = b.newHost(inst)
			if err != nil {
				errs = append(errs, err)
				continue
			}
			b.inheritLocked(h, prev)
		}
		kept[inst.ID] = h
		next = append(next, h)
	}
	for _, h := range b.hosts {
		if kept[h.Instance.ID] != h {
			closers = b.dropLocked(h, closers)
		}
	}
	b.byID = kept
	sortHosts(next)
	b.hosts = next
	b.rebuildLocked()
	b.mu.Unlock()
	if ready {
		b.readyOnce.Do(func() { close(b.ready) })
	}
	// Hooks and closers run without the lock, so they may call back into
	// the balancer.
	if b.onError != nil {
		for _, err := range errs {
			b.onError(err)
		}
	}
	for _, c := range closers {
		c.Close()
	}
}

// WaitReady blocks until the balancer has received its first membership
// update (from Update, or from a followed watch: a snapshot the registry
// answered, or a last known good list) or ctx ends. A service that
// must not start with an empty pool calls it after Follow.
func (b *Balancer) WaitReady(ctx context.Context) error {
	select {
	case <-b.ready:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("balancer: waiting for the first update: %w", ctx.Err())
	}
}

func (b *Balancer) newHost(inst discovery.Instance) (*Host, error) {
	h := &Host{Instance: inst, tick: &b.tick}
	if b.factory != nil {
		ep, c, err := b.factory(inst)
		if err != nil {
			return nil, fmt.Errorf("balancer: endpoint for %s (%s): %w", inst.ID, inst.Addr, err)
		}
		h.ep, h.closer = ep, c
		h.call = func(ctx context.Context, req any) (resp any, err error) {
			start := b.Begin(h)
			// Deferred so that an endpoint that panics (httputil.ReverseProxy
			// aborts a response cut off mid-body with a panic) still ends
			// its call: otherwise the host's in-flight count would stay up
			// for good.
			defer func() {
				if p := recover(); p != nil {
					b.Done(ctx, h, start, fmt.Errorf("%w: %v", ErrPanicked, p))
					panic(p)
				}
				b.Done(ctx, h, start, err)
			}()
			return ep(ctx, req)
		}
	}
	return h, nil
}

// inheritLocked carries the outlier history of prev, the Host an instance
// had before its record changed, over to h when the address is the same:
// an instance that re-registers with new metadata must not shed its
// ejection, or the multiplier that makes repeat offenders wait longer.
func (b *Balancer) inheritLocked(h, prev *Host) {
	if prev == nil || prev.out == nil || prev.Instance.Addr != h.Instance.Addr {
		return
	}
	h.out = &ejection{count: prev.out.count, until: prev.out.until, restoredAt: prev.out.restoredAt}
	if prev.ejected.Load() {
		h.ejected.Store(true)
		b.ejectedCount++ // prev's share is given back when it is dropped
		h.out.stop = b.clock.AfterFunc(max(h.out.until.Sub(b.clock.Now()), 0), func() { b.restore(h) })
	}
}

func (b *Balancer) dropLocked(h *Host, closers []io.Closer) []io.Closer {
	if h.ejected.Load() {
		h.ejected.Store(false)
		b.ejectedCount--
	}
	if h.out != nil && h.out.stop != nil {
		h.out.stop()
		h.out.stop = nil
	}
	if h.closer != nil {
		closers = append(closers, h.closer)
	}
	return closers
}

func (b *Balancer) member(h *Host) bool { return b.byID[h.Instance.ID] == h }

// rebuildLocked publishes a new snapshot from b.hosts and ejection state.
func (b *Balancer) rebuildLocked() {
	s := &snapshot{hosts: b.hosts}
	if len(b.hosts) == 0 {
		b.publish(s)
		return
	}
	eligible := b.hosts
	if b.ejectedCount > 0 {
		eligible = make([]*Host, 0, len(b.hosts)-b.ejectedCount)
		for _, h := range b.hosts {
			if !h.ejected.Load() {
				eligible = append(eligible, h)
			}
		}
		if b.outlier.PanicThreshold > 0 && len(eligible)*100 < b.outlier.PanicThreshold*len(b.hosts) || len(eligible) == 0 {
			eligible = b.hosts
			s.panic = true
		}
	}
	s.eligible = eligible
	s.picker = b.policy.Build(eligible)
	b.publish(s)
}

// Pick returns a host for a call with ctx, or [ErrNoHosts]. It neither
// locks nor allocates. A caller that calls the host itself should bracket
// the call with [Balancer.Begin] and [Balancer.Done] so the policy and
// outlier detection learn from it. Pick knows nothing of a request's
// earlier attempts; [Balancer.Call] does (see [TriedHosts]).
func (b *Balancer) Pick(ctx context.Context) (*Host, error) {
	s := b.snap.Load()
	if s.picker == nil {
		return nil, ErrNoHosts
	}
	return s.picker.Pick(ctx), nil
}

// Begin records the start of a call to h and returns its start time for
// [Balancer.Done].
func (b *Balancer) Begin(h *Host) time.Time {
	h.inflight.Add(1)
	return b.clock.Now()
}

// Done records the end of a call to h that began at start with err as its
// result. Server-health failures (by the classifier) count towards
// ejection. A caller fault (a 4xx) counts as a success for outlier
// detection, since the server answered correctly, and resets the
// consecutive-failure count; a neutral outcome (the caller canceled or
// aborted its request, or a local guard skipped the call; see
// outcome.Class.Neutral) counts as neither. The policy learns nothing
// from a canceled or aborted call, and a failure from a skipped one, so
// that it steers away from an instance whose breaker is open.
func (b *Balancer) Done(ctx context.Context, h *Host, start time.Time, err error) {
	now := b.clock.Now()
	h.inflight.Add(-1)
	nowNs := now.Sub(b.epoch).Nanoseconds()
	b.tick.Store(nowNs)
	class := b.classify(ctx, err)
	failed := class == outcome.ServerFailure
	learn := !class.Neutral()
	if class == outcome.Skipped {
		// A local guard (the instance's open breaker) refused the call at
		// once. Outlier detection ignores it — the failures that opened
		// the guard were counted — but the policy must learn to look
		// elsewhere: a host that refuses in no time, with nothing in
		// flight, would otherwise look like the best one to a latency
		// policy, and every retry would be refused by it again.
		failed, learn = true, true
	}
	if b.observer != nil && learn {
		b.observer.Observe(h, now.Sub(start), nowNs, failed)
	}
	switch class {
	case outcome.Success, outcome.CallerFault:
		h.successes.Add(1)
		if h.consecutive.Load() != 0 {
			h.consecutive.Store(0)
		}
	case outcome.ServerFailure:
		h.failures.Add(1)
		n := h.consecutive.Add(1)
		if b.detect && !b.outlier.DisableConsecutive && int(n) >= b.outlier.ConsecutiveFailures && !h.ejected.Load() {
			b.ejectConsecutive(h)
		}
	}
}

// Call is an endpoint.Endpoint: it picks a host for ctx, calls it through
// the factory's endpoint, and reports the outcome. When req implements
// [TriedHosts] and has already tried the host picked, Call sends it to an
// eligible host it has not tried, if there is one.
func (b *Balancer) Call(ctx context.Context, req any) (any, error) {
	s := b.snap.Load()
	if s.picker == nil {
		return nil, ErrNoHosts
	}
	h := s.picker.Pick(ctx)
	if t, ok := req.(TriedHosts); ok && t.Tried(h) {
		h = s.untried(ctx, t, h)
	}
	if h.call == nil {
		return nil, ErrNoEndpoint
	}
	return h.call(ctx, req)
}

// Endpoint implements go-kit's lb.Balancer: it picks a host (with no
// hashing key) and returns an endpoint that calls it and reports the
// outcome. Prefer [Balancer.Call], which lets the policy see the request's
// context.
func (b *Balancer) Endpoint() (endpoint.Endpoint, error) {
	h, err := b.Pick(context.Background())
	if err != nil {
		return nil, err
	}
	if h.call == nil {
		return nil, ErrNoEndpoint
	}
	return h.call, nil
}

// HostState is a read-only view of one host for dashboards and tests.
type HostState struct {
	Instance discovery.Instance
	InFlight int64
	Ejected  bool
	// Ejections is the current ejection multiplier.
	Ejections int
	// Failures and Successes are the server failures and the answers
	// (successes and caller faults) counted since the last outlier sweep;
	// ConsecutiveFailures is the current run of server failures.
	Failures, Successes uint64
	ConsecutiveFailures int
}

// Hosts returns the state of every member host, sorted by ID, and whether
// the balancer is in panic mode.
func (b *Balancer) Hosts() (hosts []HostState, panicMode bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	s := b.snap.Load()
	out := make([]HostState, len(b.hosts))
	for i, h := range b.hosts {
		out[i] = HostState{
			Instance: h.Instance, InFlight: h.inflight.Load(), Ejected: h.ejected.Load(),
			Failures: h.failures.Load(), Successes: h.successes.Load(), ConsecutiveFailures: int(h.consecutive.Load()),
		}
		if h.out != nil {
			out[i].Ejections = h.out.count
		}
	}
	return out, s.panic
}

// Len returns the number of member hosts and the number eligible for picks.
func (b *Balancer) Len() (members, eligible int) {
	s := b.snap.Load()
	return len(s.hosts), len(s.eligible)
}

// Close stops following the watch, cancels every timer, and closes the
// endpoints made by the factory. Picks afterwards fail with [ErrNoHosts].
func (b *Balancer) Close() error {
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return nil
	}
	b.closed = true
	if b.stopSweep != nil {
		b.stopSweep()
	}
	var closers []io.Closer
	for _, h := range b.hosts {
		closers = b.dropLocked(h, closers)
	}
	b.hosts = nil
	clear(b.byID)
	b.publish(&snapshot{closed: true})
	w, done := b.watch, b.followDone
	b.mu.Unlock()
	if w != nil {
		w.Stop()
		<-done
	}
	var errs []error
	for _, c := range closers {
		if err := c.Close(); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}
