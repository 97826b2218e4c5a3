package main

import (
	"bufio"
	"context"
	"crypto/tls"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"

	"github.com/switchyard/switchyard/discovery"
	"github.com/switchyard/switchyard/examples/ecommerce/internal/registry"
	"github.com/switchyard/switchyard/examples/ecommerce/internal/secure"
	"github.com/switchyard/switchyard/examples/ecommerce/internal/secure/securetest"
	"github.com/switchyard/switchyard/mtls/mtlstest"
)

// buildShop compiles the ecommerce command into a temporary directory of
// t, without -race whatever the test binary was built with.
func buildShop(t *testing.T) string {
	t.Helper()
	// go test puts its own GOROOT/bin first on the test's PATH.
	goCmd, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("the go command is needed to build the shop: %v", err)
	}
	out := filepath.Join(t.TempDir(), "ecommerce")
	cmd := exec.Command(goCmd, "build", "-o", out, "github.com/switchyard/switchyard/examples/ecommerce")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build ./examples/ecommerce: %v\n%s", err, b)
	}
	return out
}

// registryProc is one "ecommerce registry" process, a cluster member.
type registryProc struct {
	name, client string
	args         []string
	cmd          *exec.Cmd
	ready        chan struct{} // closed when it printed that it serves
	exited       chan struct{}
	stderr       *syncBuffer
}

// start starts bin with p.args and returns at once; p.ready is closed
// once the member says it serves.
func (p *registryProc) start(t *testing.T, bin string) {
	t.Helper()
	p.cmd = exec.Command(bin, p.args...)
	p.cmd.Env = withoutEcommerceEnv()
	p.stderr = &syncBuffer{}
	p.cmd.Stderr = p.stderr
	out, err := p.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p.ready, p.exited = make(chan struct{}), make(chan struct{})
	go func() {
		sc := bufio.NewScanner(out)
		member := "Member " + p.name + " of the cluster"
		for sc.Scan() {
			if strings.HasPrefix(sc.Text(), member) {
				close(p.ready)
				break
			}
		}
		_, _ = io.Copy(io.Discard, out)
		_ = p.cmd.Wait()
		close(p.exited)
	}()
	t.Cleanup(p.kill)
}

func (p *registryProc) kill() {
	_ = p.cmd.Process.Kill()
	<-p.exited
}

// wait waits for the member to serve, failing t if it exits or takes
// longer than timeout.
func (p *registryProc) wait(t *testing.T, timeout time.Duration) {
	t.Helper()
	select {
	case <-p.ready:
	case <-p.exited:
		t.Fatalf("registry %s exited: %s", p.name, p.stderr)
	case <-time.After(timeout):
		t.Fatalf("registry %s did not serve within %v: %s", p.name, timeout, p.stderr)
	}
}

// withoutEcommerceEnv is the test's environment without ECOMMERCE_*
// variables, so that the runner's settings do not reach the members.
func withoutEcommerceEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "ECOMMERCE_") {
			env = append(env, kv)
		}
	}
	return env
}

func freeLoopbackAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// Three "ecommerce registry" processes with the shop's TLS files form a
// cluster; a service's registry connection (registry.Connect with
// etcd://three endpoints, over mutual TLS as orders) registers and
// watches through it; the leader is killed; the connection keeps its
// registration and its watch, registers again and reads; the killed
// member, restarted with the same command, rejoins.
func TestRegistryClusterSurvivesTheLeader(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the shop and runs three registry processes")
	}
	clearEnv(t)
	bin := buildShop(t)
	pki := securetest.New(t, "shop CA")
	regFiles := pki.Issue(t, "registry")
	ordersFiles := pki.Issue(t, "orders")

	names := []string{"r1", "r2", "r3"}
	var clients, pairs []string
	for _, n := range names {
		clients = append(clients, freeLoopbackAddr(t))
		pairs = append(pairs, n+"=https://"+freeLoopbackAddr(t))
	}
	initial := strings.Join(pairs, ",")
	procs := make([]*registryProc, len(names))
	for i, n := range names {
		procs[i] = &registryProc{name: n, client: clients[i], args: []string{
			"registry", "--listen", clients[i], "--data", filepath.Join(t.TempDir(), n),
			"--name", n, "--initial-cluster", initial,
			"--tls-cert", regFiles.Cert, "--tls-key", regFiles.Key, "--tls-ca", regFiles.CA,
		}}
		procs[i].start(t, bin)
	}
	for _, p := range procs {
		p.wait(t, 30*time.Second)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	id, err := secure.Load(ordersFiles, "orders", slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	conn, err := registry.Connect(ctx, "etcd://"+strings.Join(clients, ","), id.Registry())
	if err != nil {
		t.Fatal(err)
	}
	closeConn := sync.OnceValue(conn.Close)
	t.Cleanup(func() { closeConn() })
	a := discovery.Instance{ID: "orders-a", Service: "orders", Addr: "127.0.0.1:9101"}
	if err := conn.Registrar.Register(ctx, a); err != nil {
		t.Fatalf("register through the cluster: %v", err)
	}
	w, err := conn.Resolver.Watch(ctx, "orders")
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	next := func(what string, ok func(discovery.Update) bool) discovery.Update {
		t.Helper()
		deadline := time.After(10 * time.Second)
		for {
			select {
			case u := <-w.Updates():
				if len(u.Instances) == 0 {
					t.Errorf("the watch was pushed an empty list (err %v)", u.Err)
				}
				if ok(u) {
					return u
				}
			case <-deadline:
				t.Fatalf("no update with %s within 10 s", what)
			}
		}
	}
	next("orders-a", func(u discovery.Update) bool { return u.Err == nil && len(u.Instances) == 1 })

	// A real service on the same three endpoints, whose readiness (its
	// registration is one of the checks) is probed from now to the end.
	catFiles := pki.Issue(t, "catalog")
	catalog := exec.Command(bin, "serve", "catalog", "--registry", "etcd://"+strings.Join(clients, ","),
		"--listen", "127.0.0.1:0", "--data", t.TempDir(),
		"--tls-cert", catFiles.Cert, "--tls-key", catFiles.Key, "--tls-ca", catFiles.CA)
	catalog.Env = withoutEcommerceEnv()
	catStderr := &syncBuffer{}
	catalog.Stderr = catStderr
	if err := catalog.Start(); err != nil {
		t.Fatal(err)
	}
	catExited := make(chan struct{})
	go func() {
		_ = catalog.Wait()
		close(catExited)
	}()
	t.Cleanup(func() {
		_ = catalog.Process.Kill()
		<-catExited
	})
	cw, err := conn.Resolver.Watch(ctx, "catalog")
	if err != nil {
		t.Fatal(err)
	}
	defer cw.Stop()
	var catAddr string
	for catAddr == "" {
		select {
		case u := <-cw.Updates():
			if len(u.Instances) == 1 {
				catAddr = u.Instances[0].Addr
			}
		case <-catExited:
			t.Fatalf("catalog exited: %s", catStderr)
		case <-time.After(20 * time.Second):
			t.Fatalf("catalog did not register within 20 s: %s", catStderr)
		}
	}
	type probe struct {
		at   time.Time
		code int
		err  error
	}
	var probes []probe
	stopProbes, probesDone := make(chan struct{}), make(chan struct{})
	prober := &http.Client{Timeout: time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: mtlstest.Pool(pki.CA)}}}
	defer prober.CloseIdleConnections()
	go func() {
		defer close(probesDone)
		for {
			p := probe{at: time.Now()}
			resp, err := prober.Get("https://" + catAddr + "/readyz")
			if err != nil {
				p.err = err
			} else {
				p.code = resp.StatusCode
				resp.Body.Close()
			}
			probes = append(probes, p)
			select {
			case <-stopProbes:
				return
			case <-time.After(100 * time.Millisecond):
			}
		}
	}()
	for ready := time.Now().Add(15 * time.Second); ; {
		resp, err := prober.Get("https://" + catAddr + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				break
			}
		}
		if time.Now().After(ready) {
			t.Fatalf("catalog not ready within 15 s: %v %s", err, catStderr)
		}
		time.Sleep(100 * time.Millisecond)
	}

	time.Sleep(500 * time.Millisecond) // probes before the kill too

	leader := -1
	for i, p := range procs {
		st, err := conn.Client.Status(ctx, "https://"+p.client)
		if err != nil {
			t.Fatalf("status of %s: %v", p.name, err)
		}
		if st.Leader == st.Header.MemberId {
			leader = i
		}
	}
	if leader < 0 {
		t.Fatal("no member says it leads")
	}
	killed := time.Now()
	procs[leader].kill()

	b := discovery.Instance{ID: "orders-b", Service: "orders", Addr: "127.0.0.1:9102"}
	rctx, rcancel := context.WithTimeout(ctx, 10*time.Second)
	err = conn.Registrar.Register(rctx, b)
	rcancel()
	if err != nil {
		t.Fatalf("register after the leader %s was killed: %v", procs[leader].name, err)
	}
	registered := time.Since(killed)
	u := next("orders-a and orders-b", func(u discovery.Update) bool { return u.Err == nil && len(u.Instances) == 2 })
	seen := time.Since(killed)
	if got := []string{u.Instances[0].ID, u.Instances[1].ID}; !slices.Equal(got, []string{"orders-a", "orders-b"}) {
		t.Fatalf("watch lists %v, want orders-a and orders-b", got)
	}
	if sr, ok := conn.Registrar.(discovery.StateReporter); !ok {
		t.Errorf("the etcd registrar %T reports no registration state", conn.Registrar)
	} else if err := sr.RegistrationErr(); err != nil {
		t.Errorf("registration not live after the leader was killed: %v", err)
	}
	gctx, gcancel := context.WithTimeout(ctx, 5*time.Second)
	resp, err := conn.Client.Get(gctx, "/switchyard/services/orders/", clientv3.WithPrefix())
	gcancel()
	if err != nil || len(resp.Kvs) != 2 {
		t.Fatalf("read through the connection after the kill: %v, %v; want both keys", resp, err)
	}
	t.Logf("leader %s killed; a new registration went through %v later and the watch saw it %v later",
		procs[leader].name, registered.Round(time.Millisecond), seen.Round(time.Millisecond))

	// The killed member comes back with the same command and data: it
	// rejoins (its data directory knows the cluster).
	back := &registryProc{name: procs[leader].name, client: procs[leader].client, args: procs[leader].args}
	back.start(t, bin)
	back.wait(t, 30*time.Second)
	sctx, scancel := context.WithTimeout(ctx, 10*time.Second)
	defer scancel()
	for {
		st, err := conn.Client.Status(sctx, "https://"+back.client)
		if err == nil && st.Leader != 0 {
			if st.Header.Revision < resp.Header.Revision {
				t.Errorf("the restarted member is at revision %d, behind %d", st.Header.Revision, resp.Header.Revision)
			}
			break
		}
		if sctx.Err() != nil {
			t.Fatalf("the restarted member %s did not rejoin: %v", back.name, err)
		}
		time.Sleep(50 * time.Millisecond)
	}

	// The catalog was ready throughout: from its first 200 on, every
	// probe answered 200, until at least 3 s after the kill.
	time.Sleep(3*time.Second - time.Since(killed))
	close(stopProbes)
	<-probesDone
	first := slices.IndexFunc(probes, func(p probe) bool { return p.code == http.StatusOK })
	if first < 0 {
		t.Fatal("no probe of the catalog answered 200")
	}
	for _, p := range probes[first:] {
		if p.code != http.StatusOK {
			t.Errorf("catalog /readyz %v after the kill: %d %v", p.at.Sub(killed).Round(time.Millisecond), p.code, p.err)
		}
	}
	last := probes[len(probes)-1].at
	t.Logf("catalog on etcd:// three endpoints: %d readiness probes from %v before the kill to %v after it",
		len(probes)-first, killed.Sub(probes[first].at).Round(time.Millisecond), last.Sub(killed).Round(time.Millisecond))
	if !probes[first].at.Before(killed) {
		t.Errorf("the catalog's first good probe came after the kill")
	}
	if err := catalog.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	termed := time.Now()
	select {
	case <-catExited:
		t.Logf("catalog stopped %v after SIGTERM", time.Since(termed).Round(time.Millisecond))
		if code := catalog.ProcessState.ExitCode(); code != 0 {
			t.Errorf("catalog exited %d after SIGTERM: %s", code, catStderr)
		}
	case <-time.After(20 * time.Second):
		t.Errorf("catalog did not stop within 20 s of SIGTERM")
	}

	// The service leaves: its instances are deregistered through the
	// cluster.
	cw.Stop()
	w.Stop()
	if err := closeConn(); err != nil {
		t.Errorf("close the registry connection (deregister): %v", err)
	}

	// Every member stops cleanly on SIGTERM: the followers, then the
	// leader (a leader stopping hands its leadership over first, and waits
	// 7 s for a follower that is stopping too).
	running := append(slices.Delete(slices.Clone(procs), leader, leader+1), back)
	admin, err := clientv3.New(clientv3.Config{Endpoints: []string{"https://" + running[0].client}, TLS: id.Source().ClientConfig(securetest.ID(t, "registry")), Logger: zap.NewNop()})
	if err != nil {
		t.Fatal(err)
	}
	for i, p := range running {
		st, err := admin.Status(ctx, "https://"+p.client)
		if err == nil && st.Leader == st.Header.MemberId {
			running = append(slices.Delete(running, i, i+1), p)
			break
		}
	}
	admin.Close()
	for _, p := range running {
		if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
			t.Fatal(err)
		}
		select {
		case <-p.exited:
			if code := p.cmd.ProcessState.ExitCode(); code != 0 {
				t.Errorf("registry %s exited %d after SIGTERM: %s", p.name, code, p.stderr)
			}
		case <-time.After(20 * time.Second):
			t.Errorf("registry %s did not stop within 20 s of SIGTERM", p.name)
		}
	}
}
