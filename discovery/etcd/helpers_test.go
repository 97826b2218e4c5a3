package etcd_test

import (
	"bytes"
	"context"
	"io"
	"net"
	"os"
	"slices"
	"sync"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/goleak"

	"github.com/switchyard/switchyard/discovery"
	"github.com/switchyard/switchyard/discovery/etcd"
	"github.com/switchyard/switchyard/discovery/etcd/embedded"
)

// sharedSrv is the etcd server used by every test that does not stop its
// server; tests keep apart by using their own service names. It starts on
// first use, so that tests which never use it (the conformance suite,
// whose leak checks would see its goroutines start) run without it.
var (
	sharedOnce sync.Once
	sharedSrv  *embedded.Server
	sharedErr  error
	sharedDir  string
)

func shared(t *testing.T) *embedded.Server {
	t.Helper()
	sharedOnce.Do(func() {
		sharedDir, sharedErr = os.MkdirTemp("", "switchyard-etcd-test")
		if sharedErr != nil {
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		sharedSrv, sharedErr = embedded.Start(ctx, sharedDir, "127.0.0.1:0", embedded.Config{})
	})
	if sharedErr != nil {
		t.Fatal(sharedErr)
	}
	return sharedSrv
}

type mainRunner struct{ m *testing.M }

func (r mainRunner) Run() int {
	code := r.m.Run()
	if sharedSrv != nil {
		sharedSrv.Close()
	}
	if sharedDir != "" {
		os.RemoveAll(sharedDir)
	}
	return code
}

func TestMain(m *testing.M) {
	if spec := os.Getenv(memberEnv); spec != "" {
		os.Exit(runMember(spec))
	}
	goleak.VerifyTestMain(mainRunner{m})
}

// startServer starts a server of the test's own, closed at cleanup.
func startServer(t *testing.T, dir, addr string) *embedded.Server {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	srv, err := embedded.Start(ctx, dir, addr, embedded.Config{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	return srv
}

// newClient returns a client closed at cleanup, after anything registered
// with t.Cleanup later (cleanups run last-in first-out).
func newClient(t *testing.T, endpoints []string) *clientv3.Client {
	t.Helper()
	cli, err := etcd.NewClient(endpoints...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cli.Close() })
	return cli
}

func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

func inst(service, id, addr string) discovery.Instance {
	return discovery.Instance{ID: id, Service: service, Addr: addr}
}

func ids(list []discovery.Instance) []string {
	out := make([]string, len(list))
	for i, in := range list {
		out[i] = in.ID
	}
	return out
}

// stamped is an update and when it was read.
type stamped struct {
	at time.Time
	u  discovery.Update
}

// recorder reads every update of a watch and keeps them all.
type recorder struct {
	mu      sync.Mutex // guards updates
	updates []stamped
	notify  chan struct{}
	done    chan struct{}
}

func record(t *testing.T, w discovery.Watch) *recorder {
	r := &recorder{notify: make(chan struct{}, 1), done: make(chan struct{})}
	go func() {
		defer close(r.done)
		for u := range w.Updates() {
			r.mu.Lock()
			r.updates = append(r.updates, stamped{time.Now(), u})
			r.mu.Unlock()
			select {
			case r.notify <- struct{}{}:
			default:
			}
		}
	}()
	t.Cleanup(func() {
		w.Stop()
		<-r.done
	})
	return r
}

func (r *recorder) all() []stamped {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.updates)
}

// waitFor waits until the newest update satisfies ok, and returns it with
// the time it was read.
func (r *recorder) waitFor(t *testing.T, timeout time.Duration, what string, ok func(discovery.Update) bool) stamped {
	t.Helper()
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		r.mu.Lock()
		n := len(r.updates)
		var last stamped
		if n > 0 {
			last = r.updates[n-1]
		}
		r.mu.Unlock()
		if n > 0 && ok(last.u) {
			return last
		}
		select {
		case <-r.notify:
		case <-r.done:
			t.Fatalf("watch ended while waiting for %s", what)
		case <-deadline.C:
			t.Fatalf("no update with %s within %v; last: %+v", what, timeout, last.u)
		}
	}
}

// hasIDs reports whether u is error-free and lists exactly want.
func hasIDs(want ...string) func(discovery.Update) bool {
	return func(u discovery.Update) bool {
		return u.Err == nil && slices.Equal(ids(u.Instances), want)
	}
}

// eventually polls cond every 20 ms until it holds or timeout passes, and
// returns how long it took.
func eventually(t *testing.T, timeout time.Duration, what string, cond func() bool) time.Duration {
	t.Helper()
	start := time.Now()
	for !cond() {
		if time.Since(start) > timeout {
			t.Fatalf("%s: not within %v", what, timeout)
		}
		time.Sleep(20 * time.Millisecond)
	}
	return time.Since(start)
}

// syncBuffer is a bytes.Buffer safe for a logger and a test to share.
type syncBuffer struct {
	mu  sync.Mutex // guards buf
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// proxy forwards TCP connections to target and can cut them all, which
// looks to a client like a partition from etcd.
type proxy struct {
	ln net.Listener
	wg sync.WaitGroup

	mu     sync.Mutex // guards target, conns and paused
	target string
	conns  map[net.Conn]struct{}
	paused bool
}

func startProxy(t *testing.T, target string) *proxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &proxy{ln: ln, target: target, conns: make(map[net.Conn]struct{})}
	p.wg.Add(1)
	go p.accept()
	t.Cleanup(p.close)
	return p
}

func (p *proxy) endpoints() []string { return []string{"http://" + p.ln.Addr().String()} }

func (p *proxy) accept() {
	defer p.wg.Done()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.mu.Lock()
		paused, target := p.paused, p.target
		p.mu.Unlock()
		if paused {
			c.Close()
			continue
		}
		u, err := net.Dial("tcp", target)
		if err != nil {
			c.Close()
			continue
		}
		p.mu.Lock()
		p.conns[c], p.conns[u] = struct{}{}, struct{}{}
		p.mu.Unlock()
		p.wg.Add(2)
		go p.pipe(c, u)
		go p.pipe(u, c)
	}
}

func (p *proxy) pipe(dst, src net.Conn) {
	defer p.wg.Done()
	_, _ = io.Copy(dst, src)
	dst.Close()
	src.Close()
}

// retarget sends new connections to target: etcd restarted on another
// port. (Restarting on the same port races with every program on the
// machine that takes a free port meanwhile.)
func (p *proxy) retarget(target string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.target = target
}

// cut closes every connection and refuses new ones until heal.
func (p *proxy) cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.paused = true
	for c := range p.conns {
		c.Close()
	}
	clear(p.conns)
}

func (p *proxy) heal() {
	p.mu.Lock()
	p.paused = false
	p.mu.Unlock()
}

func (p *proxy) close() {
	p.ln.Close()
	p.cut()
	p.wg.Wait()
}

// canary notices when the process is not scheduled: it sleeps 1 ms at a
// time and records every wake-up that comes more than limit late.
type canary struct {
	limit time.Duration
	quit  chan struct{}
	done  chan struct{}

	mu     sync.Mutex // guards stalls
	stalls [][2]time.Time
}

func startCanary(limit time.Duration) *canary {
	c := &canary{limit: limit, quit: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(c.done)
		last := time.Now()
		for {
			select {
			case <-c.quit:
				return
			default:
			}
			time.Sleep(time.Millisecond)
			now := time.Now()
			if now.Sub(last) > c.limit {
				c.mu.Lock()
				c.stalls = append(c.stalls, [2]time.Time{last, now})
				c.mu.Unlock()
			}
			last = now
		}
	}()
	return c
}

// stalled reports whether a stall overlapped [from, to].
func (c *canary) stalled(from, to time.Time) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, s := range c.stalls {
		if s[0].Before(to) && s[1].After(from) {
			return true
		}
	}
	return false
}

func (c *canary) stop() {
	close(c.quit)
	<-c.done
}

// newRegistrar returns etcd.NewRegistrar(cli, cfg), failing t on an error.
func newRegistrar(t testing.TB, cli *clientv3.Client, cfg etcd.RegistrarConfig) *etcd.Registrar {
	t.Helper()
	g, err := etcd.NewRegistrar(cli, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return g
}

// newResolver returns etcd.NewResolver(cli, cfg), failing t on an error.
func newResolver(t testing.TB, cli *clientv3.Client, cfg etcd.ResolverConfig) *etcd.Resolver {
	t.Helper()
	r, err := etcd.NewResolver(cli, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return r
}
