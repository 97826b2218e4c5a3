package circuitbreaker

import (
	"context"
	"fmt"
	"github.com/switchyard/switchyard/outcome"
	"io"
	"net/http"
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

// GroupConfig configures a [Group]. The zero value is valid: breakers with
// the default [Config], at most [DefaultMaxKeys] of them, and every
// [Group.Endpoint] call sharing one breaker.
type GroupConfig struct {
	// Breaker configures every breaker of the group; each is named after
	// its key, and Breaker.Hooks receives that name. The zero value takes
	// the defaults of [Config].
	Breaker Config

	// MaxKeys caps the number of breakers the group keeps. When a new key
	// would exceed it, a breaker that has not been used recently is
	// forgotten. Breakers pinned by [Group.Factory] for live instances are
	// never evicted, so the cap can be exceeded by their number. Default
	// [DefaultMaxKeys]; negative is invalid.
	MaxKeys int

	// Key picks the breaker that guards a call made through
	// [Group.Endpoint] (an upstream, a tenant, a route). nil means every
	// such call uses the breaker of the empty key. [Group.Factory] and
	// [Group.Get] do not use it.
	Key func(ctx context.Context, request any) string
}

// Group keeps one [Breaker] per key (an instance ID, a route, a tenant),
// created on first use with the group's [Config] and named after its key.
// Its memory is bounded: see [GroupConfig.MaxKeys]. The zero value is not
// usable; create one with [NewGroup]. All methods are safe for concurrent
// use.
type Group struct {
	cfg Config // validated, with defaults
	max int
	key func(ctx context.Context, request any) string

	mu sync.RWMutex // guards m and each entry's pins
	m  map[string]*groupEntry
}

type groupEntry struct {
	b    *Breaker
	used atomic.Bool // set on use, cleared by the eviction sweep
	pins int         // live Factory endpoints using b; guarded by Group.mu
}

// NewGroup returns an empty group, or an error wrapping [ErrConfig] if cfg
// is invalid.
func NewGroup(cfg GroupConfig) (*Group, error) {
	if err := cfg.Breaker.validate(); err != nil {
		return nil, err
	}
	if cfg.MaxKeys < 0 {
		return nil, fmt.Errorf("%w: negative MaxKeys", ErrConfig)
	}
	g := &Group{
		cfg: cfg.Breaker.withDefaults(),
		max: cfg.MaxKeys,
		key: cfg.Key,
		m:   make(map[string]*groupEntry),
	}
	if g.max == 0 {
		g.max = DefaultMaxKeys
	}
	if g.key == nil {
		g.key = func(context.Context, any) string { return "" }
	}
	return g, nil
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
		e = &groupEntry{b: newBreaker(key, g.cfg)}
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

// Endpoint returns next guarded, call by call, by the breaker of the key
// [GroupConfig.Key] computes from the call. The method value g.Endpoint is
// an endpoint.Middleware.
func (g *Group) Endpoint(next endpoint.Endpoint) endpoint.Endpoint {
	return func(ctx context.Context, request any) (any, error) {
		return call(ctx, g.Get(g.key(ctx, request)), next, request)
	}
}

// Transport is the client HTTP face: it sends each request through the
// breaker of its host (req.URL.Host, the instance a balancer or gateway
// has already chosen), so that one sick instance opens its own breaker. A
// 5xx answer is passed on unchanged and counted as a server failure; while
// a breaker is open its requests are not sent and RoundTrip returns the
// breaker's *[RejectedError]. A nil base means http.DefaultTransport.
func (g *Group) Transport(base http.RoundTripper) http.RoundTripper {
	if base == nil {
		base = http.DefaultTransport
	}
	return &hostTransport{g: g, next: base}
}

type hostTransport struct {
	g    *Group
	next http.RoundTripper
}

func (t *hostTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	var resp *http.Response
	err := t.g.Get(req.URL.Host).Execute(req.Context(), func(context.Context) error {
		var err error
		if resp, err = t.next.RoundTrip(req); err != nil {
			return err
		}
		if resp.StatusCode >= 500 {
			return &outcome.StatusError{Status: resp.StatusCode}
		}
		return nil
	})
	if resp != nil {
		return resp, nil
	}
	return nil, err
}

// CloseIdleConnections closes the idle connections of the base transport,
// when it can.
func (t *hostTransport) CloseIdleConnections() {
	if c, ok := t.next.(interface{ CloseIdleConnections() }); ok {
		c.CloseIdleConnections()
	}
}

// Factory wraps f so that the endpoint of every instance is guarded by the
// group's breaker for the instance's ID: per-instance breaking for a
// balancer. The breaker is pinned while the balancer holds the endpoint
// and forgotten when the balancer closes it (the instance left).
//
// Build the balancer with Config.Classifier [SkipRejections](c) as
// well, where c is the classifier you would otherwise use (nil for
// outcome.Default), so that outlier detection does not count rejections:
//
//	g, err := circuitbreaker.NewGroup(circuitbreaker.GroupConfig{})
//	…
//	b, err := balancer.New(roundrobin.New(), balancer.Config{
//		Factory:    g.Factory(factory),
//		Classifier: circuitbreaker.SkipRejections(nil),
//		Outlier:    &balancer.OutlierConfig{},
//	})
func (g *Group) Factory(f balancer.Factory) balancer.Factory {
	return func(inst discovery.Instance) (endpoint.Endpoint, io.Closer, error) {
		ep, c, err := f(inst)
		if err != nil {
			return nil, nil, err
		}
		e := g.get(inst.ID, true)
		return e.b.Endpoint(ep), &unpinCloser{g: g, key: inst.ID, e: e, next: c}, nil
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
