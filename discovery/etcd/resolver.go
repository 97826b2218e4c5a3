package etcd

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"go.etcd.io/etcd/api/v3/mvccpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/switchyard/switchyard/discovery"
	"github.com/switchyard/switchyard/internal/clock"
)

// Defaults of a [Resolver].
const (
	// DefaultProbeInterval is how often a watch checks that etcd answers.
	DefaultProbeInterval = time.Second
	// DefaultRecoveryGrace is how long removals are held back after etcd
	// comes back from an outage.
	DefaultRecoveryGrace = 10 * time.Second
)

// ResolverConfig configures a [Resolver]. The zero value reads
// [DefaultPrefix], probes etcd every [DefaultProbeInterval], holds lost
// instances for [DefaultRecoveryGrace] after an outage and logs to
// slog.Default().
type ResolverConfig struct {
	// Prefix is the key prefix. Empty means [DefaultPrefix]. It must be
	// the registrars' ([RegistrarConfig].Prefix).
	Prefix string
	// ProbeInterval is how often each watch checks that etcd answers; a
	// check that fails within the interval reports the error beside the
	// last known good list. etcd's own watch stream retries silently, so
	// without the probe an outage would go unnoticed. Zero means
	// [DefaultProbeInterval]; negative is an [ErrConfig].
	ProbeInterval time.Duration
	// RecoveryGrace is how long, after etcd answers again following an
	// outage (or after it was replaced by a server with another cluster ID
	// or an older revision, such as one restored from an empty data
	// directory), instances missing from etcd are kept in the snapshot.
	// Registrars need that long to notice the lost lease and register
	// again; without the grace a watcher would see its pool shrink,
	// possibly to nothing, in between. Additions and explicit deletions
	// are applied at once. Set it to at least the registrars' TTL. Zero
	// means [DefaultRecoveryGrace]; negative is an [ErrConfig]; set
	// NoRecoveryGrace to apply removals at once.
	RecoveryGrace time.Duration
	// NoRecoveryGrace turns the grace off. RecoveryGrace must then be
	// zero.
	NoRecoveryGrace bool
	// Logger receives records that cannot be decoded (at Warn) and traces
	// reloads (at Debug). Nil means slog.Default().
	Logger *slog.Logger
}

// validate reports the first invalid field of c.
func (c *ResolverConfig) validate() error {
	switch {
	case c.ProbeInterval < 0:
		return fmt.Errorf("ResolverConfig.ProbeInterval %v is negative", c.ProbeInterval)
	case c.RecoveryGrace < 0:
		return fmt.Errorf("ResolverConfig.RecoveryGrace %v is negative", c.RecoveryGrace)
	case c.NoRecoveryGrace && c.RecoveryGrace != 0:
		return fmt.Errorf("ResolverConfig.NoRecoveryGrace with RecoveryGrace %v", c.RecoveryGrace)
	}
	return nil
}

// Resolver watches services registered by a [Registrar].
//
// Each [Resolver.Watch] reads the service's keys once, then follows etcd's
// watch from the revision it read, so no change is missed between the two.
// When etcd compacts past that revision, or the watch is cancelled, it
// reads again. While etcd does not answer, updates keep the last known good
// list with the error beside it, never an empty list; see
// [ResolverConfig].RecoveryGrace for what happens when etcd returns.
//
// Records that do not decode (see [Decode]) are skipped and logged.
//
// A Resolver is safe for concurrent use. Each watch runs one goroutine
// until it is stopped or the Resolver is closed. The client stays the
// caller's: close it after the resolver. The zero value is not usable:
// build one with [NewResolver].
type Resolver struct {
	cli    *clientv3.Client
	prefix string
	probe  time.Duration
	grace  time.Duration
	log    *slog.Logger
	clock  clock.Clock // the real clock

	mu      sync.Mutex // guards watches and closed
	watches map[*serviceWatch]struct{}
	closed  bool
}

var _ discovery.Resolver = (*Resolver)(nil)

// NewResolver returns a resolver that reads through cli, configured by
// cfg. See [ClientConfig] for client settings that suit it. It returns an
// error wrapping [ErrConfig] when cli is nil or cfg holds a value out of
// range.
func NewResolver(cli *clientv3.Client, cfg ResolverConfig) (*Resolver, error) {
	if cli == nil {
		return nil, fmt.Errorf("%w: nil client", ErrConfig)
	}
	if err := cfg.validate(); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrConfig, err)
	}
	r := &Resolver{
		cli:     cli,
		prefix:  cmp.Or(cfg.Prefix, DefaultPrefix),
		probe:   cmp.Or(cfg.ProbeInterval, DefaultProbeInterval),
		grace:   cmp.Or(cfg.RecoveryGrace, DefaultRecoveryGrace),
		log:     cfg.Logger,
		clock:   clock.Real{},
		watches: make(map[*serviceWatch]struct{}),
	}
	if cfg.NoRecoveryGrace {
		r.grace = 0
	}
	if r.log == nil {
		r.log = slog.Default()
	}
	return r, nil
}

// Watch follows service. The first update arrives once etcd has been read
// (or has failed to answer, in which case it is an empty list with the
// error). ctx bounds only the call, not the watch: stop the watch to end
// it.
func (r *Resolver) Watch(ctx context.Context, service string) (discovery.Watch, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if err := checkService(service); err != nil {
		return nil, err
	}
	wctx, cancel := context.WithCancel(context.Background())
	sw := &serviceWatch{
		r:       r,
		service: service,
		prefix:  ServicePrefix(r.prefix, service),
		cancel:  cancel,
		done:    make(chan struct{}),
		probeC:  make(chan struct{}, 1),
		graceC:  make(chan struct{}, 1),
		insts:   make(map[string]discovery.Instance),
	}
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		cancel()
		return nil, discovery.ErrStopped
	}
	r.watches[sw] = struct{}{}
	r.mu.Unlock()
	w := sw.feed.Watch(sw.stop)
	go sw.run(wctx)
	return w, nil
}

// Close stops every watch of the resolver. Later calls to Watch return
// discovery.ErrStopped.
func (r *Resolver) Close() {
	r.mu.Lock()
	r.closed = true
	ws := make([]*serviceWatch, 0, len(r.watches))
	for sw := range r.watches {
		ws = append(ws, sw)
	}
	r.mu.Unlock()
	for _, sw := range ws {
		sw.feed.Close() // runs sw.stop
	}
}

// serviceWatch is the state of one Watch call. Every field below done is
// owned by the run goroutine.
type serviceWatch struct {
	r       *Resolver
	service string
	prefix  string
	feed    discovery.Feed
	cancel  context.CancelFunc
	done    chan struct{}

	stopOnce sync.Once

	probeC    chan struct{} // a probe is due
	graceC    chan struct{} // the recovery grace has ended
	probeStop func() bool   // cancels the pending probe; nil when none
	graceStop func() bool   // cancels the pending grace end; nil when none

	insts   map[string]discovery.Instance // key → instance, as etcd holds them
	held    map[string]discovery.Instance // recovery grace: last good list, minus deletions
	rev     int64                         // revision the snapshot reflects
	cluster uint64                        // cluster ID the snapshot came from
	failing bool                          // an error was reported since the last good read
	loaded  bool                          // at least one good read
}

func (sw *serviceWatch) stop() {
	sw.stopOnce.Do(func() {
		sw.cancel()
		<-sw.done
		sw.r.mu.Lock()
		delete(sw.r.watches, sw)
		sw.r.mu.Unlock()
	})
}

func (sw *serviceWatch) run(ctx context.Context) {
	defer close(sw.done)
	defer func() {
		for _, stop := range []func() bool{sw.probeStop, sw.graceStop} {
			if stop != nil {
				stop()
			}
		}
	}()
	for ctx.Err() == nil {
		if !sw.load(ctx) {
			sw.probeStop = sw.after(sw.probeStop, sw.r.probe, sw.probeC)
			select {
			case <-ctx.Done():
				return
			case <-sw.probeC:
			}
			continue
		}
		sw.follow(ctx)
	}
}

// load reads the service's keys and publishes them. It reports whether
// the read succeeded.
func (sw *serviceWatch) load(ctx context.Context) bool {
	opctx, cancel := context.WithTimeout(ctx, sw.r.probe)
	defer cancel()
	resp, err := sw.r.cli.Get(opctx, sw.prefix, clientv3.WithPrefix())
	if err != nil {
		if ctx.Err() == nil {
			sw.fail(err)
		}
		return false
	}
	recovering := sw.failing ||
		(sw.loaded && (resp.Header.ClusterId != sw.cluster || resp.Header.Revision < sw.rev))
	if recovering && sw.r.grace > 0 && sw.loaded {
		sw.hold()
	}
	clear(sw.insts)
	for _, kv := range resp.Kvs {
		sw.put(kv)
	}
	sw.rev, sw.cluster = resp.Header.Revision, resp.Header.ClusterId
	sw.failing, sw.loaded = false, true
	sw.publish()
	sw.r.log.Debug("etcd: loaded service", "service", sw.service, "revision", sw.rev, "instances", len(sw.insts))
	return true
}

// follow applies etcd's watch events until the watch must be reloaded
// (compaction, cancellation, etcd back from an outage or replaced) or ctx
// ends.
func (sw *serviceWatch) follow(ctx context.Context) {
	wctx, cancel := context.WithCancel(clientv3.WithRequireLeader(ctx))
	// clientv3's Watch blocks until its stream is up, which never happens
	// while etcd is down; start it aside so that probes go on meanwhile.
	var events clientv3.WatchChan
	started := make(chan clientv3.WatchChan, 1)
	go func() {
		started <- sw.r.cli.Watch(wctx, sw.prefix, clientv3.WithPrefix(), clientv3.WithRev(sw.rev+1))
	}()
	defer func() {
		cancel()
		if events == nil {
			<-started // Watch returns once wctx is cancelled
		}
	}()
	sw.probeStop = sw.after(sw.probeStop, sw.r.probe, sw.probeC)
	for {
		select {
		case <-ctx.Done():
			return
		case events = <-started:
		case resp, ok := <-events:
			if !ok {
				return
			}
			if err := resp.Err(); err != nil {
				if errors.Is(err, rpctypes.ErrCompacted) {
					sw.r.log.Debug("etcd: watch compacted, reloading", "service", sw.service,
						"revision", sw.rev, "compacted", resp.CompactRevision)
				} else if ctx.Err() == nil {
					sw.fail(err)
				}
				return
			}
			if resp.IsProgressNotify() {
				continue
			}
			for _, ev := range resp.Events {
				switch ev.Type {
				case mvccpb.PUT:
					sw.put(ev.Kv)
				case mvccpb.DELETE:
					delete(sw.insts, string(ev.Kv.Key))
					delete(sw.held, string(ev.Kv.Key))
				}
			}
			sw.rev = resp.Header.Revision
			sw.publish()
		case <-sw.probeC:
			if sw.check(ctx) {
				return
			}
			sw.probeStop = sw.after(sw.probeStop, sw.r.probe, sw.probeC)
		case <-sw.graceC:
			sw.held = nil
			sw.publish()
		}
	}
}

// check asks etcd for the service's key count. It reports whether the
// watch must be reloaded: etcd answers again after an error, or the answer
// comes from another cluster or an older revision (a server restored from
// an empty or older data directory), whose events the current watch, bound
// to a revision of the old history, would not deliver.
func (sw *serviceWatch) check(ctx context.Context) bool {
	opctx, cancel := context.WithTimeout(ctx, sw.r.probe)
	defer cancel()
	resp, err := sw.r.cli.Get(opctx, sw.prefix, clientv3.WithPrefix(), clientv3.WithCountOnly())
	if err != nil {
		if ctx.Err() == nil {
			sw.fail(err)
		}
		return false
	}
	return sw.failing || resp.Header.ClusterId != sw.cluster || resp.Header.Revision < sw.rev
}

func (sw *serviceWatch) fail(err error) {
	sw.failing = true
	sw.feed.Fail(fmt.Errorf("etcd: watch %s: %w", sw.service, err))
}

// put decodes kv into the current view, dropping the key if the record is
// bad so that a broken rewrite does not leave a stale instance behind.
func (sw *serviceWatch) put(kv *mvccpb.KeyValue) {
	inst, err := Decode(sw.r.prefix, kv.Key, kv.Value)
	if err != nil {
		delete(sw.insts, string(kv.Key))
		sw.r.log.Warn("etcd: skipping bad registry record", "service", sw.service, "err", err)
		return
	}
	sw.insts[string(kv.Key)] = inst
}

// hold starts the recovery grace with the list last published.
func (sw *serviceWatch) hold() {
	cur, _ := sw.feed.Current()
	held := make(map[string]discovery.Instance, len(cur.Instances))
	for _, inst := range cur.Instances {
		held[Key(sw.r.prefix, inst)] = inst
	}
	sw.held = held
	// Drain a grace end from an earlier hold so it does not cut this one
	// short.
	select {
	case <-sw.graceC:
	default:
	}
	sw.graceStop = sw.after(sw.graceStop, sw.r.grace, sw.graceC)
	sw.r.log.Debug("etcd: holding last known instances after recovery", "service", sw.service,
		"instances", len(held), "grace", sw.r.grace)
}

func (sw *serviceWatch) publish() {
	list := make([]discovery.Instance, 0, len(sw.insts)+len(sw.held))
	for _, inst := range sw.insts {
		list = append(list, inst)
	}
	for key, inst := range sw.held {
		if _, ok := sw.insts[key]; !ok {
			list = append(list, inst)
		}
	}
	sw.feed.Publish(list)
}

// after cancels the callback prev (if any) and signals c once d has
// passed on the resolver's clock. It returns the new callback's stop.
func (sw *serviceWatch) after(prev func() bool, d time.Duration, c chan struct{}) func() bool {
	if prev != nil {
		prev()
	}
	return sw.r.clock.AfterFunc(d, func() {
		select {
		case c <- struct{}{}:
		default:
		}
	})
}
