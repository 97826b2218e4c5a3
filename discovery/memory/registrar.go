package memory

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/switchyard/switchyard/discovery"
)

// Registrar keeps registrations alive in a [Registry] the way a service
// process does with a real registry: it puts each instance with a TTL and
// renews it every TTL/3. A renewal that fails (the registry is down, or it
// forgot the instance) is retried at the next beat, forever, so
// registrations heal themselves once the registry is back. Renewals stop
// for good once the Registry is closed.
//
// [Registrar.Kill] stops the beats without deregistering, which is how a
// test simulates a crashed process. A Registrar is safe for concurrent use.
// It starts no goroutines of its own: beats run on the registry's clock.
type Registrar struct {
	reg *Registry
	ttl time.Duration

	// mu guards insts, lastErr, stop and dead. It is also held across
	// every call into reg, so that a beat can never re-put an instance
	// that Deregister has just removed, and nothing is renewed once Kill
	// has returned.
	mu      sync.Mutex
	insts   map[key]discovery.Instance
	lastErr error
	stop    func() bool
	dead    bool
}

// key identifies a registration. A struct, not "service/id", so that
// service "a/b" with ID "c" and service "a" with ID "b/c" stay apart.
type key struct{ service, id string }

var (
	_ discovery.Registrar     = (*Registrar)(nil)
	_ discovery.StateReporter = (*Registrar)(nil)
)

// DefaultRegistrarTTL is the TTL of a [Registrar] made with a ttl of zero.
const DefaultRegistrarTTL = time.Second

// ErrConfig is wrapped by the error [NewRegistrar] returns for an invalid
// argument.
var ErrConfig = errors.New("memory: invalid configuration")

// NewRegistrar returns a registrar that keeps its registrations in reg with
// the given TTL. A ttl of zero means [DefaultRegistrarTTL] (1 s); a negative
// ttl or a nil reg is an error wrapping [ErrConfig].
func NewRegistrar(reg *Registry, ttl time.Duration) (*Registrar, error) {
	switch {
	case reg == nil:
		return nil, fmt.Errorf("memory: %w: nil registry", ErrConfig)
	case ttl < 0:
		return nil, fmt.Errorf("memory: %w: negative TTL %v", ErrConfig, ttl)
	case ttl == 0:
		ttl = DefaultRegistrarTTL
	}
	return &Registrar{reg: reg, ttl: ttl, insts: make(map[key]discovery.Instance)}, nil
}

// Register puts inst and keeps renewing it. If the registry is down the
// error is returned, but the registration is still kept and retried at the
// next beat, so it appears once the registry is back. After Kill or Close
// it fails with discovery.ErrStopped.
func (g *Registrar) Register(ctx context.Context, inst discovery.Instance) error {
	if err := inst.Validate(); err != nil {
		return fmt.Errorf("memory: register: %w", err)
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.dead {
		return discovery.ErrStopped
	}
	g.insts[key{inst.Service, inst.ID}] = inst
	g.scheduleLocked()
	err := g.reg.Put(ctx, inst, g.ttl)
	g.lastErr = err
	return err
}

// Deregister stops renewing inst and removes it from the registry. If the
// registry is down the error is returned and the registration, no longer
// renewed, expires after its TTL.
func (g *Registrar) Deregister(ctx context.Context, inst discovery.Instance) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	delete(g.insts, key{inst.Service, inst.ID})
	err := g.reg.Deregister(ctx, inst)
	if errors.Is(err, ErrNotFound) {
		return nil // already gone: the goal is reached
	}
	return err
}

// RegistrationErr reports the error of the latest registration or renewal,
// or nil when it succeeded.
func (g *Registrar) RegistrationErr() error {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.lastErr
}

// Kill stops renewing without deregistering: the registrations expire
// after the TTL, as a crashed process's would. No renewal happens after
// Kill returns.
func (g *Registrar) Kill() {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.killLocked()
}

func (g *Registrar) killLocked() {
	g.dead = true
	if g.stop != nil {
		g.stop()
		g.stop = nil
	}
}

// Close deregisters everything and stops renewing. It is safe to call more
// than once.
func (g *Registrar) Close(ctx context.Context) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.killLocked()
	var errs []error
	for k, inst := range g.insts {
		if err := g.reg.Deregister(ctx, inst); err != nil && !errors.Is(err, ErrNotFound) {
			errs = append(errs, err)
		}
		delete(g.insts, k)
	}
	return errors.Join(errs...)
}

func (g *Registrar) scheduleLocked() {
	if g.stop != nil || g.dead {
		return
	}
	g.stop = g.reg.clock.AfterFunc(g.ttl/3, g.beat)
}

func (g *Registrar) beat() {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.dead {
		return
	}
	g.stop = nil
	var errs []error
	for _, inst := range g.insts {
		if err := g.reg.Put(context.Background(), inst, g.ttl); err != nil {
			errs = append(errs, err)
		}
	}
	g.lastErr = errors.Join(errs...)
	if errors.Is(g.lastErr, discovery.ErrStopped) {
		// A closed Registry never comes back: stop beating.
		g.dead = true
		return
	}
	if len(g.insts) > 0 {
		g.scheduleLocked()
	}
}
