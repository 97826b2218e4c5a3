package dns

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"strconv"
	"sync"
	"time"

	mdns "github.com/miekg/dns"

	"github.com/switchyard/switchyard/discovery"
	"github.com/switchyard/switchyard/internal/clock"
)

// Defaults of a [Resolver].
const (
	DefaultInterval = 5 * time.Second
	DefaultJitter   = 0.1
	DefaultTimeout  = 2 * time.Second
)

// ErrRcode is wrapped by errors for answers whose response code is
// neither success nor NXDOMAIN (SERVFAIL, REFUSED, ...).
var ErrRcode = errors.New("dns: server answered with an error code")

// ErrNoServer is returned when no DNS server is configured and none could
// be read from /etc/resolv.conf.
var ErrNoServer = errors.New("dns: no DNS server configured")

// ErrConfig is wrapped by the error [New] returns for an invalid [Config].
var ErrConfig = errors.New("dns: invalid configuration")

// Config configures a [Resolver]. The zero value reads SRV records of the
// service name itself from the first nameserver of /etc/resolv.conf, every
// [DefaultInterval] with [DefaultJitter], each query bounded by
// [DefaultTimeout].
type Config struct {
	// Port selects the records read. Zero: SRV records; of the records of
	// the lowest priority value (RFC 2782: the others are fallbacks, not
	// load), each target becomes an instance per address it resolves to,
	// on the record's port and with the record's weight. Target addresses
	// come from the answer's additional section when the server includes
	// them (CoreDNS does) and from A/AAAA queries otherwise. 1 to 65535:
	// A and AAAA records, every address reported on Port. Anything else
	// is an [ErrConfig].
	Port int
	// Server is the DNS server to query, as host:port (e.g.
	// "10.96.0.10:53"). Empty: the first nameserver in /etc/resolv.conf,
	// on port 53 unless it says otherwise (read once, by New).
	Server string
	// Name turns a service name into the DNS name to query. Nil: the
	// service name itself. See [KubernetesSRV] and [KubernetesHost].
	Name func(service string) string
	// Interval is how often each watched name is queried. Zero means
	// [DefaultInterval]; negative is an [ErrConfig]. Lower means changes
	// arrive sooner and the DNS server sees more queries; in Kubernetes,
	// CoreDNS caches answers for 30 s by default (its cache plugin), so an
	// interval below the cache TTL only helps when the cache is tuned down
	// too.
	Interval time.Duration
	// Jitter spreads polls: each pause is Interval times a factor drawn
	// uniformly from [1-Jitter, 1+Jitter]. Zero means [DefaultJitter];
	// outside [0, 1] is an [ErrConfig]. Set NoJitter to poll at exactly
	// the interval.
	Jitter float64
	// NoJitter polls at exactly Interval. Jitter must then be zero.
	NoJitter bool
	// Timeout bounds each query (a poll may send several: SRV, then the
	// targets' addresses). Zero means [DefaultTimeout]; negative is an
	// [ErrConfig].
	Timeout time.Duration
}

// validate reports the first invalid field of c.
func (c *Config) validate() error {
	switch {
	case c.Port < 0 || c.Port > 65535:
		return fmt.Errorf("Config.Port %d is outside 0..65535", c.Port)
	case c.Interval < 0:
		return fmt.Errorf("Config.Interval %v is negative", c.Interval)
	case c.Timeout < 0:
		return fmt.Errorf("Config.Timeout %v is negative", c.Timeout)
	case c.Jitter < 0 || c.Jitter > 1:
		return fmt.Errorf("Config.Jitter %v is outside [0, 1]", c.Jitter)
	case c.NoJitter && c.Jitter != 0:
		return fmt.Errorf("Config.NoJitter with Config.Jitter %v", c.Jitter)
	}
	return nil
}

// KubernetesSRV returns a name function for the SRV records of a
// Kubernetes Service: service "catalog" with port name "http" in namespace
// "shop" becomes "_http._tcp.catalog.shop.svc.<domain>." (domain defaults
// to "cluster.local"). For a headless Service (clusterIP: None) the
// records list every ready pod; for a normal Service, only its virtual IP.
func KubernetesSRV(portName, namespace, domain string) func(service string) string {
	if domain == "" {
		domain = "cluster.local"
	}
	return func(service string) string {
		return mdns.Fqdn("_" + portName + "._tcp." + service + "." + namespace + ".svc." + domain)
	}
}

// KubernetesHost returns a name function for the A/AAAA records of a
// headless Kubernetes Service: "catalog" becomes
// "catalog.<namespace>.svc.<domain>." (domain defaults to "cluster.local").
func KubernetesHost(namespace, domain string) func(service string) string {
	if domain == "" {
		domain = "cluster.local"
	}
	return func(service string) string {
		return mdns.Fqdn(service + "." + namespace + ".svc." + domain)
	}
}

// Resolver is a discovery.Resolver over DNS. Build one with [New].
//
// Each Watch polls its name on its own schedule; the instances it reports
// have ID and Addr both set to ip:port, the service name that was watched,
// the SRV weight (SRV mode; zero means the default weight) and, in SRV
// mode, Meta["target"] set to the record's target name. Zone, Version and
// other metadata are not carried by DNS.
//
// A Resolver is safe for concurrent use. Each watch owns at most one
// goroutine at a time, while a poll runs; Stop waits for it. Close stops
// every watch. The zero value is not usable.
type Resolver struct {
	srv      bool // SRV mode; otherwise A/AAAA with port
	port     int
	server   string
	interval time.Duration
	jitter   float64
	timeout  time.Duration
	name     func(string) string
	clock    clock.Clock // the real clock; tests over a real server set a fake (export_test.go)

	mu      sync.Mutex // guards watches and closed
	watches map[*watch]struct{}
	closed  bool
}

var _ discovery.Resolver = (*Resolver)(nil)

// New returns a resolver configured by cfg: of SRV records when cfg.Port
// is zero, of A and AAAA records otherwise. It returns an error wrapping
// [ErrConfig] when cfg holds a value out of range.
func New(cfg Config) (*Resolver, error) {
	if err := cfg.validate(); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrConfig, err)
	}
	r := &Resolver{
		srv:      cfg.Port == 0,
		port:     cfg.Port,
		server:   cfg.Server,
		interval: cmp.Or(cfg.Interval, DefaultInterval),
		jitter:   cmp.Or(cfg.Jitter, DefaultJitter),
		timeout:  cmp.Or(cfg.Timeout, DefaultTimeout),
		name:     cfg.Name,
		clock:    clock.Real{},
		watches:  make(map[*watch]struct{}),
	}
	if cfg.NoJitter {
		r.jitter = 0
	}
	if r.name == nil {
		r.name = func(s string) string { return s }
	}
	if r.server == "" {
		r.server = systemServer()
	}
	return r, nil
}

// systemServer returns the first nameserver of /etc/resolv.conf, or "" if
// there is none.
func systemServer() string {
	cfg, err := mdns.ClientConfigFromFile("/etc/resolv.conf")
	if err != nil || len(cfg.Servers) == 0 {
		return ""
	}
	return net.JoinHostPort(cfg.Servers[0], cfg.Port)
}

// Watch polls the DNS name of service. The first poll starts at once and
// its result is the first update. ctx bounds only the call.
func (r *Resolver) Watch(ctx context.Context, service string) (discovery.Watch, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if service == "" {
		return nil, discovery.ErrNoService
	}
	pctx, cancel := context.WithCancel(context.Background())
	w := &watch{r: r, service: service, name: mdns.Fqdn(r.name(service)), ctx: pctx, cancel: cancel}
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		cancel()
		return nil, discovery.ErrStopped
	}
	r.watches[w] = struct{}{}
	r.mu.Unlock()
	out := w.feed.Watch(w.stop)
	w.mu.Lock()
	w.running.Add(1)
	w.mu.Unlock()
	go w.poll()
	return out, nil
}

// Close stops every watch. Later calls to Watch return
// discovery.ErrStopped.
func (r *Resolver) Close() {
	r.mu.Lock()
	r.closed = true
	ws := make([]*watch, 0, len(r.watches))
	for w := range r.watches {
		ws = append(ws, w)
	}
	r.mu.Unlock()
	for _, w := range ws {
		w.feed.Close() // runs w.stop
	}
}

type watch struct {
	r       *Resolver
	service string
	name    string
	feed    discovery.Feed
	ctx     context.Context // cancelled by stop; bounds the queries
	cancel  context.CancelFunc

	pollMu sync.Mutex // serialises polls, so updates keep their order

	mu       sync.Mutex // guards stopped and next, and orders running.Add before Wait
	stopped  bool
	next     func() bool // cancels the scheduled poll
	running  sync.WaitGroup
	stopOnce sync.Once
}

func (w *watch) stop() {
	w.stopOnce.Do(func() {
		w.mu.Lock()
		w.stopped = true
		if w.next != nil {
			w.next()
		}
		w.mu.Unlock()
		w.cancel()
		w.running.Wait()
		w.r.mu.Lock()
		delete(w.r.watches, w)
		w.r.mu.Unlock()
	})
}

// fire runs when the clock says a poll is due.
func (w *watch) fire() {
	w.mu.Lock()
	if w.stopped {
		w.mu.Unlock()
		return
	}
	w.running.Add(1)
	w.mu.Unlock()
	w.poll()
}

// poll queries DNS once, schedules the next poll and publishes the result.
// running has been incremented for it.
func (w *watch) poll() {
	defer w.running.Done()
	w.pollMu.Lock()
	defer w.pollMu.Unlock()
	list, err := w.r.lookup(w.ctx, w.service, w.name)
	// Schedule before publishing, so that whoever reads the update can
	// rely on the next poll being on the clock already.
	w.mu.Lock()
	if w.stopped {
		w.mu.Unlock()
		return
	}
	w.next = w.r.clock.AfterFunc(w.r.pause(), w.fire)
	w.mu.Unlock()
	if err != nil {
		w.feed.Fail(fmt.Errorf("dns: %s (%s): %w", w.service, w.name, err))
		return
	}
	w.feed.Publish(list)
}

func (r *Resolver) pause() time.Duration {
	if r.jitter == 0 {
		return r.interval
	}
	f := 1 - r.jitter + 2*r.jitter*rand.Float64()
	return time.Duration(float64(r.interval) * f)
}

// lookup resolves name into the instances of service.
func (r *Resolver) lookup(ctx context.Context, service, name string) ([]discovery.Instance, error) {
	if r.server == "" {
		return nil, ErrNoServer
	}
	if !r.srv {
		ips, err := r.addrs(ctx, name)
		if err != nil {
			return nil, err
		}
		list := make([]discovery.Instance, 0, len(ips))
		for _, ip := range ips {
			addr := net.JoinHostPort(ip, strconv.Itoa(r.port))
			list = append(list, discovery.Instance{ID: addr, Service: service, Addr: addr})
		}
		return list, nil
	}
	resp, err := r.query(ctx, name, mdns.TypeSRV)
	if err != nil {
		return nil, err
	}
	recs, known := srvRecords(resp)
	for _, rec := range recs {
		if _, ok := known[rec.Target]; ok {
			continue
		}
		ips, err := r.addrs(ctx, rec.Target)
		if err != nil {
			return nil, fmt.Errorf("target %s: %w", rec.Target, err)
		}
		known[rec.Target] = ips
	}
	return srvInstances(service, recs, known), nil
}

// addrs returns the IPv4 and IPv6 addresses of name.
func (r *Resolver) addrs(ctx context.Context, name string) ([]string, error) {
	var ips []string
	for _, t := range []uint16{mdns.TypeA, mdns.TypeAAAA} {
		resp, err := r.query(ctx, name, t)
		if err != nil {
			return nil, err
		}
		ips = append(ips, addrRecords(resp, name)...)
	}
	return ips, nil
}

// query sends one question over UDP, and again over TCP if the answer was
// truncated. An NXDOMAIN answer is returned as an answer, not an error.
func (r *Resolver) query(ctx context.Context, name string, qtype uint16) (*mdns.Msg, error) {
	ctx, cancel := context.WithTimeout(ctx, r.timeout)
	defer cancel()
	m := new(mdns.Msg)
	m.SetQuestion(mdns.Fqdn(name), qtype)
	m.SetEdns0(4096, false)
	c := &mdns.Client{Net: "udp", UDPSize: 4096}
	resp, _, err := c.ExchangeContext(ctx, m, r.server)
	if err == nil && resp.Truncated {
		c = &mdns.Client{Net: "tcp"}
		resp, _, err = c.ExchangeContext(ctx, m, r.server)
	}
	if err != nil {
		return nil, fmt.Errorf("query %s %s: %w", mdns.TypeToString[qtype], name, err)
	}
	switch resp.Rcode {
	case mdns.RcodeSuccess, mdns.RcodeNameError:
		return resp, nil
	}
	return nil, fmt.Errorf("%w: %s for %s %s", ErrRcode, mdns.RcodeToString[resp.Rcode], mdns.TypeToString[qtype], name)
}
