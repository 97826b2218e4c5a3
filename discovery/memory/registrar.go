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
// registrations heal themselves once the registry is back.
//
// [Registrar.Kill] stops the beats without deregistering, which is how a
// test simulates a crashed process. A Registrar is safe for concurrent use.
type Registrar struct {
	reg *Registry
	ttl time.Duration

	mu      sync.Mutex // guards insts, lastErr, stop and dead
	insts   map[string]discovery.Instance
	lastErr error
	stop    func() bool
	dead    bool
}

var (
	_ discovery.Registrar     = (*Registrar)(nil)
	_ discovery.StateReporter = (*Registrar)(nil)
)

// NewRegistrar returns a registrar that keeps its registrations in reg with
// the given TTL. A ttl of zero or less is replaced by one second.
func NewRegistrar(reg *Registry, ttl time.Duration) *Registrar {
	if ttl <= 0 {
		ttl = time.Second
	}
	return &Registrar{reg: reg, ttl: ttl, insts: make(map[string]discovery.Instance)}
}

// Register puts inst and keeps renewing it. If the registry is down the
// error is returned, but the registration is still kept and retried.
func (g *Registrar) Register(ctx context.Context, inst discovery.Instance) error {
	if err := inst.Validate(); err != nil {
		return fmt.Errorf("memory: register: %w", err)
	}
	g.mu.Lock()
	if g.dead {
		g.mu.Unlock()
		return discovery.ErrStopped
	}
	g.insts[inst.Service+"/"+inst.ID] = inst
	g.scheduleLocked()
	g.mu.Unlock()
	err := g.reg.Put(ctx, inst, g.ttl)
	g.setErr(err)
	return err
}

// Deregister stops renewing inst and removes it from the registry.
func (g *Registrar) Deregister(ctx context.Context, inst discovery.Instance) error {
	g.mu.Lock()
	delete(g.insts, inst.Service+"/"+inst.ID)
	g.mu.Unlock()
	err := g.reg.Deregister(ctx, inst)
	if errors.Is(err, ErrNotFound) {
		return nil // already gone: the goal is reached
	}
	return err
}

// RegistrationErr reports the error of the latest renewal, or nil when
// every registration is live.
func (g *Registrar) RegistrationErr() error {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.lastErr
}

// Kill stops renewing without deregistering: the registrations expire
// after the TTL, as a crashed process's would.
func (g *Registrar) Kill() {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.dead = true
	if g.stop != nil {
		g.stop()
		g.stop = nil
	}
}

// Close deregisters everything and stops renewing.
func (g *Registrar) Close(ctx context.Context) error {
	g.mu.Lock()
	insts := make([]discovery.Instance, 0, len(g.insts))
	for _, inst := range g.insts {
		insts = append(insts, inst)
	}
	g.mu.Unlock()
	g.Kill()
	var errs []error
	for _, inst := range insts {
		if err := g.reg.Deregister(ctx, inst); err != nil && !errors.Is(err, ErrNotFound) {
			errs = append(errs, err)
		}
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
	if g.dead {
		g.mu.Unlock()
		return
	}
	g.stop = nil
	insts := make([]discovery.Instance, 0, len(g.insts))
	for _, inst := range g.insts {
		insts = append(insts, inst)
	}
	if len(insts) > 0 {
		g.scheduleLocked()
	}
	g.mu.Unlock()
	var errs []error
	for _, inst := range insts {
		if err := g.reg.Put(context.Background(), inst, g.ttl); err != nil {
			errs = append(errs, err)
		}
	}
	g.setErr(errors.Join(errs...))
}

func (g *Registrar) setErr(err error) {
	g.mu.Lock()
	g.lastErr = err
	g.mu.Unlock()
}
