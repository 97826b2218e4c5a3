package etcd

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"math"
	"strings"
	"sync"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/switchyard/switchyard/discovery"
	"github.com/switchyard/switchyard/internal/clock"
)

// DefaultTTL is the lease TTL of a [Registrar] unless
// [RegistrarConfig].TTL says otherwise.
const DefaultTTL = 10 * time.Second

// ErrLeaseLost is reported by [Registrar.RegistrationErr] while a
// registration's lease has been lost (its keep-alive stream ended) and the
// registrar is re-granting it.
var ErrLeaseLost = errors.New("etcd: registration lease lost")

// ErrNotRegistered is reported by [Registrar.RegistrationErr] for a
// registration that has not reached etcd yet.
var ErrNotRegistered = errors.New("etcd: not registered yet")

// ErrConfig is wrapped by the error [NewRegistrar] and [NewResolver]
// return for an invalid configuration or a nil client, and by the error of
// [ClientConfigTLS] and [NewClientTLS] for a nil TLS configuration or an
// endpoint that is not host:port or https://host:port.
var ErrConfig = errors.New("etcd: invalid configuration")

// RegistrarConfig configures a [Registrar]. The zero value registers
// under [DefaultPrefix] with leases of [DefaultTTL], and retries a lost
// registration after 100 ms, doubling up to TTL/4 (at most 5 s).
type RegistrarConfig struct {
	// Prefix is the key prefix. Empty means [DefaultPrefix]. A registrar
	// and the resolvers that read it must agree on it
	// ([ResolverConfig].Prefix).
	Prefix string
	// TTL is the lease TTL: how long a registration outlives the last
	// keep-alive of a process that stopped (crashed, or cut off from
	// etcd). Zero means [DefaultTTL]; negative is an [ErrConfig]. etcd
	// counts TTLs in whole seconds, so it is rounded up; etcd also raises
	// TTLs below its own minimum (about 2 s with default election
	// settings). Keep-alives go out every TTL/3.
	TTL time.Duration
	// MinRetryBackoff and MaxRetryBackoff bound the pause between attempts
	// to re-establish a lost registration: it starts at MinRetryBackoff
	// and doubles up to MaxRetryBackoff. Zero means 100 ms and TTL/4 (at
	// most 5 s, at least the minimum), which brings registrations back
	// within about 2 × TTL of etcd's return. Negative values, or a maximum
	// below the minimum, are an [ErrConfig].
	MinRetryBackoff time.Duration
	MaxRetryBackoff time.Duration
}

// validate reports the first invalid field of c.
func (c *RegistrarConfig) validate() error {
	switch {
	case c.TTL < 0:
		return fmt.Errorf("RegistrarConfig.TTL %v is negative", c.TTL)
	case c.MinRetryBackoff < 0:
		return fmt.Errorf("RegistrarConfig.MinRetryBackoff %v is negative", c.MinRetryBackoff)
	case c.MaxRetryBackoff < 0:
		return fmt.Errorf("RegistrarConfig.MaxRetryBackoff %v is negative", c.MaxRetryBackoff)
	case c.MaxRetryBackoff != 0 && c.MaxRetryBackoff < cmp.Or(c.MinRetryBackoff, defaultMinRetryBackoff):
		return fmt.Errorf("RegistrarConfig.MaxRetryBackoff %v is below the minimum %v",
			c.MaxRetryBackoff, cmp.Or(c.MinRetryBackoff, defaultMinRetryBackoff))
	}
	return nil
}

const defaultMinRetryBackoff = 100 * time.Millisecond

// Registrar registers instances in etcd and keeps them registered.
//
// Each registration is a key (see [DefaultPrefix] for the layout) attached
// to its own lease, kept alive by the client's keep-alive stream. When that
// stream ends without a Deregister — the lease expired during a partition,
// etcd restarted, was restored from an empty data directory, or the client
// gave up waiting — the registrar grants a new lease and puts the key
// again, retrying with backoff, forever, until Deregister or Close. The
// application makes no call for this; [Registrar.RegistrationErr] tells a
// readiness probe whether every registration is currently live.
//
// A Registrar is safe for concurrent use. It starts one goroutine per
// registration; Deregister, Close and Kill stop them. The client stays the
// caller's: close it after the registrar. The zero value is not usable:
// build one with [NewRegistrar].
type Registrar struct {
	cli       *clientv3.Client
	prefix    string
	ttl       time.Duration
	backoffLo time.Duration
	backoffHi time.Duration
	clock     clock.Clock // the real clock

	mu     sync.Mutex // guards regs and closed
	regs   map[string]*registration
	closed bool
}

var (
	_ discovery.Registrar     = (*Registrar)(nil)
	_ discovery.StateReporter = (*Registrar)(nil)
)

// NewRegistrar returns a registrar that writes through cli, configured by
// cfg. See [ClientConfig] for client settings that suit it. It returns an
// error wrapping [ErrConfig] when cli is nil or cfg holds a value out of
// range.
func NewRegistrar(cli *clientv3.Client, cfg RegistrarConfig) (*Registrar, error) {
	if cli == nil {
		return nil, fmt.Errorf("%w: nil client", ErrConfig)
	}
	if err := cfg.validate(); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrConfig, err)
	}
	g := &Registrar{
		cli:       cli,
		prefix:    cmp.Or(cfg.Prefix, DefaultPrefix),
		ttl:       cmp.Or(cfg.TTL, DefaultTTL),
		backoffLo: cmp.Or(cfg.MinRetryBackoff, defaultMinRetryBackoff),
		clock:     clock.Real{},
		regs:      make(map[string]*registration),
	}
	g.backoffHi = cfg.MaxRetryBackoff
	if g.backoffHi == 0 {
		g.backoffHi = max(min(g.ttl/4, 5*time.Second), g.backoffLo)
	}
	return g, nil
}

// registration is one instance kept alive by its own goroutine.
type registration struct {
	inst  discovery.Instance
	key   string
	value string

	cancel context.CancelFunc
	done   chan struct{} // closed when the goroutine has returned
	first  chan struct{} // closed at the first successful put

	mu    sync.Mutex // guards err and lease
	err   error
	lease clientv3.LeaseID
}

func (r *registration) setState(err error, lease clientv3.LeaseID) {
	r.mu.Lock()
	r.err, r.lease = err, lease
	r.mu.Unlock()
}

func (r *registration) state() (clientv3.LeaseID, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.lease, r.err
}

// Register puts inst under a new lease and keeps it there. It returns nil
// once etcd has stored the key. If ctx ends first, Register returns the
// context's error but the registration stands: it is retried in the
// background until it succeeds or is deregistered.
//
// Registering an instance again (same service and ID) replaces the stored
// value.
func (g *Registrar) Register(ctx context.Context, inst discovery.Instance) error {
	value, err := Encode(inst)
	if err != nil {
		return err
	}
	key := Key(g.prefix, inst)
	g.mu.Lock()
	if g.closed {
		g.mu.Unlock()
		return discovery.ErrStopped
	}
	old := g.regs[key]
	rctx, cancel := context.WithCancel(context.Background())
	r := &registration{
		inst:   inst,
		key:    key,
		value:  string(value),
		cancel: cancel,
		done:   make(chan struct{}),
		first:  make(chan struct{}),
		err:    ErrNotRegistered,
	}
	g.regs[key] = r
	g.mu.Unlock()
	if old != nil {
		// The new registration's put moves the key to a new lease. The old
		// lease is not revoked, since that could delete the key before the
		// put; without keep-alives it expires, keyless, within the TTL.
		old.stop()
	}
	go g.keep(rctx, r)
	select {
	case <-r.first:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("etcd: register %s: %w", key, ctx.Err())
	}
}

// Deregister stops keeping inst alive and deletes its key and lease. If
// etcd cannot be reached the error is returned; the key then disappears
// when its lease expires, within the TTL. Deregistering an unknown
// instance deletes its key if present and is not an error.
func (g *Registrar) Deregister(ctx context.Context, inst discovery.Instance) error {
	key := Key(g.prefix, inst)
	g.mu.Lock()
	r := g.regs[key]
	delete(g.regs, key)
	g.mu.Unlock()
	var lease clientv3.LeaseID
	if r != nil {
		r.stop()
		lease, _ = r.state()
	}
	if _, err := g.cli.Delete(ctx, key); err != nil {
		return fmt.Errorf("etcd: deregister %s: %w", key, err)
	}
	g.revoke(lease)
	return nil
}

// RegistrationErr returns nil when every registration is live in etcd.
// Otherwise it returns, joined, why each of the others is not: it wraps
// [ErrNotRegistered] before the first put, [ErrLeaseLost] or the error of
// the latest attempt while healing. After Close or Kill it returns
// discovery.ErrStopped.
func (g *Registrar) RegistrationErr() error {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.closed {
		return discovery.ErrStopped
	}
	var errs []error
	for key, r := range g.regs {
		if _, err := r.state(); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", key, err))
		}
	}
	return errors.Join(errs...)
}

// Close deregisters every instance (see Deregister) and stops the
// registrar; later calls to Register return discovery.ErrStopped. It
// returns the errors of the deletions that failed.
func (g *Registrar) Close(ctx context.Context) error {
	regs := g.shut()
	var errs []error
	for _, r := range regs {
		if _, err := g.cli.Delete(ctx, r.key); err != nil {
			errs = append(errs, fmt.Errorf("etcd: deregister %s: %w", r.key, err))
			continue
		}
		lease, _ := r.state()
		g.revoke(lease)
	}
	return errors.Join(errs...)
}

// Kill stops keeping registrations alive without deleting them, so they
// expire when their leases do, as a crashed process's would. It is meant
// for tests and game days.
func (g *Registrar) Kill() {
	g.shut()
}

// shut marks the registrar closed, stops every goroutine and returns the
// registrations it had.
func (g *Registrar) shut() []*registration {
	g.mu.Lock()
	g.closed = true
	regs := make([]*registration, 0, len(g.regs))
	for _, r := range g.regs {
		regs = append(regs, r)
	}
	clear(g.regs)
	g.mu.Unlock()
	for _, r := range regs {
		r.stop()
	}
	return regs
}

func (r *registration) stop() {
	r.cancel()
	<-r.done
}

// keep establishes r and re-establishes it whenever its keep-alive stream
// ends, until ctx is cancelled.
func (g *Registrar) keep(ctx context.Context, r *registration) {
	defer close(r.done)
	firstDone := false
	attempt := 0
	for {
		lease, alive, err := g.establish(ctx, r)
		if ctx.Err() != nil {
			return
		}
		if err != nil {
			r.setState(err, 0)
			if !sleep(ctx, g.clock, backoff(attempt, g.backoffLo, g.backoffHi)) {
				return
			}
			attempt++
			continue
		}
		attempt = 0
		r.setState(nil, lease)
		if !firstDone {
			close(r.first)
			firstDone = true
		}
		for range alive {
			// Responses only confirm the lease; the channel closing is
			// what matters.
		}
		if ctx.Err() != nil {
			return
		}
		r.setState(fmt.Errorf("%w: lease %x", ErrLeaseLost, int64(lease)), 0)
		// Pause briefly even on the first retry so that a registry which
		// drops every stream at once is not hammered.
		if !sleep(ctx, g.clock, backoff(0, g.backoffLo, g.backoffHi)) {
			return
		}
	}
}

// attemptTimeout bounds one attempt to establish a registration (grant
// and put). A healthy cluster answers in milliseconds; a request that a
// follower forwarded to a leader which has just died is never answered
// (etcd drops it, and nothing tells the client), so only a short bound
// lets the registrar try again soon after a new leader is elected.
const attemptTimeout = time.Second

// establish grants a lease, puts r's key under it and starts keeping it
// alive. The attempt is bounded by attemptTimeout (or the TTL, past which
// the lease would be worthless, if shorter) and requires a leader: a
// member that knows it has none, during an election, refuses at once
// instead of holding the request until the bound.
func (g *Registrar) establish(ctx context.Context, r *registration) (clientv3.LeaseID, <-chan *clientv3.LeaseKeepAliveResponse, error) {
	opctx, cancel := context.WithTimeout(clientv3.WithRequireLeader(ctx), min(g.ttl, attemptTimeout))
	defer cancel()
	grant, err := g.cli.Grant(opctx, ttlSeconds(g.ttl))
	if err != nil {
		return 0, nil, fmt.Errorf("etcd: grant lease for %s: %w", r.key, err)
	}
	if _, err := g.cli.Put(opctx, r.key, r.value, clientv3.WithLease(grant.ID)); err != nil {
		g.revoke(grant.ID)
		return 0, nil, fmt.Errorf("etcd: put %s: %w", r.key, err)
	}
	alive, err := g.cli.KeepAlive(ctx, grant.ID)
	if err != nil {
		return 0, nil, fmt.Errorf("etcd: keep alive %s: %w", r.key, err)
	}
	return grant.ID, alive, nil
}

// revoke drops lease, best effort: an unrevoked lease expires on its own.
func (g *Registrar) revoke(lease clientv3.LeaseID) {
	if lease == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	_, _ = g.cli.Revoke(ctx, lease)
}

func ttlSeconds(ttl time.Duration) int64 {
	return int64(math.Ceil(ttl.Seconds()))
}

func checkService(service string) error {
	if service == "" {
		return discovery.ErrNoService
	}
	if strings.Contains(service, "/") {
		return fmt.Errorf("%w: %q", ErrBadName, service)
	}
	return nil
}
