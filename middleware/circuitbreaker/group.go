package circuitbreaker

import (
	"context"
	"io"
	"sort"
	"sync"
	"sync/atomic"

	"github.com/go-kit/kit/endpoint"

	"github.com/switchyard/switchyard/balancer"
	"github.com/switchyard/switchyard/discovery"
)

// DefaultMaxKeys is how many breakers a [Group] keeps by default.
const DefaultMaxKeys = 10000

// sweepLimit bounds the work of one eviction.
const sweepLimit = 64

// GroupOption configures a [Group].
type GroupOption func(*Group)

// WithMaxKeys caps the number of breakers a group keeps (default
// [DefaultMaxKeys]). When a new key would exceed it, a breaker that has
// not been used recently is forgotten. Breakers pinned by
// [Group.Factory] for live instances are never evicted, so the cap can be
// exceeded by their number.
func WithMaxKeys(n int) GroupOption {
	return func(g *Group) {
		if n > 0 {
			g.max = n
		}
	}
}

// Group keeps one [Breaker] per key (an instance ID, a route, a tenant),
// created on first use with the group's settings and named after its key.
// Its memory is bounded: see [WithMaxKeys]. The zero value is not usable;
// create one with [NewGroup]. All methods are safe for concurrent use.
type Group struct {
	s   Settings
	max int

	mu sync.RWMutex // guards m and each entry's pins
	m  map[string]*groupEntry
}

type groupEntry struct {
	b    *Breaker
	used atomic.Bool // set on use, cleared by the eviction sweep
	pins int         // live Factory endpoints using b; guarded by Group.mu
}

// NewGroup returns an empty group whose breakers use s (see
// [NewBreaker]; it panics if s is invalid).
func NewGroup(s Settings, opts ...GroupOption) *Group {
	if err := s.Validate(); err != nil {
		panic(err)
	}
	g := &Group{s: s, max: DefaultMaxKeys, m: make(map[string]*groupEntry)}
	for _, o := range opts {
		o(g)
	}
	return g
}

// Get returns the breaker for key, creating it if needed.
func (g *Group) Get(key string) *Breaker {
	return g.get(key, false).b
}

func (g *Group) get(key string, pin bool) *groupEntry {
	if !pin {
		g.mu.RLock()
		e := g.m[key]
		g.mu.RUnlock()
		if e != nil {
			if !e.used.Load() {
				e.used.Store(true)
			}
			return e
		}
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	e := g.m[key]
	if e == nil {
		if len(g.m) >= g.max {
			g.evictLocked()
		}
		// A new breaker starts unmarked, so that a flood of one-off keys
		// evicts one-off keys rather than breakers in steady use.
		e = &groupEntry{b: NewBreaker(key, g.s)}
		g.m[key] = e
	} else if !e.used.Load() {
		e.used.Store(true)
	}
	if pin {
		e.pins++
	}
	return e
}

// evictLocked forgets one unpinned breaker, preferring one not used since
// it was created or since the previous sweep passed it (a bounded clock
// sweep: map iteration starts at a random place, entries marked by use get
// a second chance).
func (g *Group) evictLocked() {
	var fallback string
	n := 0
	for k, e := range g.m {
		if e.pins > 0 {
			continue
		}
		if !e.used.Load() {
			delete(g.m, k)
			return
		}
		e.used.Store(false)
		if fallback == "" {
			fallback = k
		}
		if n++; n >= sweepLimit {
			break
		}
	}
	if fallback != "" {
		delete(g.m, fallback)
	}
}

func (g *Group) unpin(key string, e *groupEntry) {
	g.mu.Lock()
	defer g.mu.Unlock()
	e.pins--
	if e.pins <= 0 && g.m[key] == e {
		delete(g.m, key)
	}
}

// Len returns the number of breakers the group holds.
func (g *Group) Len() int {
	g.mu.RLock()
	defer g.mu.RUnlock()
	return len(g.m)
}

// KeyState is one breaker's key and state, for dashboards.
type KeyState struct {
	Key   string
	State State
}

// States returns the state of every breaker in the group, sorted by key.
func (g *Group) States() []KeyState {
	g.mu.RLock()
	bs := make([]*Breaker, 0, len(g.m))
	for _, e := range g.m {
		bs = append(bs, e.b)
	}
	g.mu.RUnlock()
	out := make([]KeyState, len(bs))
	for i, b := range bs {
		out[i] = KeyState{Key: b.Name(), State: b.State()}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Key < out[j].Key })
	return out
}

// Middleware returns endpoint middleware that guards each call with the
// breaker of the key that key computes from the call.
func (g *Group) Middleware(key func(ctx context.Context, request any) string) endpoint.Middleware {
	return func(next endpoint.Endpoint) endpoint.Endpoint {
		return func(ctx context.Context, request any) (any, error) {
			return call(ctx, g.Get(key(ctx, request)), next, request)
		}
	}
}

// Factory wraps f so that the endpoint of every instance is guarded by the
// group's breaker for the instance's ID: per-instance breaking for a
// balancer. The breaker is pinned while the balancer holds the endpoint
// and forgotten when the balancer closes it (the instance left).
//
// Build the balancer with balancer.WithClassifier([Classifier](c)) as
// well, where c is the classifier you would otherwise use (nil for
// outcome.Default), so that outlier detection does not count rejections:
//
//	g := circuitbreaker.NewGroup(circuitbreaker.Settings{})
//	b := balancer.New(roundrobin.New(),
//		balancer.WithFactory(g.Factory(factory)),
//		balancer.WithClassifier(circuitbreaker.Classifier(nil)),
//		balancer.WithOutlierDetection(balancer.OutlierConfig{}))
func (g *Group) Factory(f balancer.Factory) balancer.Factory {
	return func(inst discovery.Instance) (endpoint.Endpoint, io.Closer, error) {
		ep, c, err := f(inst)
		if err != nil {
			return nil, nil, err
		}
		e := g.get(inst.ID, true)
		return Middleware(e.b)(ep), &unpinCloser{g: g, key: inst.ID, e: e, next: c}, nil
	}
}

type unpinCloser struct {
	g    *Group
	key  string
	e    *groupEntry
	next io.Closer
	once sync.Once
}

func (c *unpinCloser) Close() error {
	var err error
	c.once.Do(func() {
		c.g.unpin(c.key, c.e)
		if c.next != nil {
			err = c.next.Close()
		}
	})
	return err
}
