package e2e_test

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	osuser "os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"google.golang.org/grpc"

	"github.com/switchyard/switchyard/discovery/etcd"
	"github.com/switchyard/switchyard/identity"
	"github.com/switchyard/switchyard/mtls"
	"github.com/switchyard/switchyard/mtls/mtlstest"
)

// The multi-host rehearsal's hosts, in a netlab: PostgreSQL on one, an
// etcd member and service replicas on each of three, the gateway on one,
// and the test's client on the last.
const (
	hostDB      = 1
	hostGateway = 5
	hostClient  = 6
	labHosts    = 6
	cutHost     = 3 // an etcd member, users and catalog replicas
)

// labServices places the replicas: every service on two hosts, so that
// each survives the cut of any one of them.
var labServices = []struct {
	service string
	hosts   []int
}{
	{"users", []int{2, 3}},
	{"catalog", []int{3, 4}},
	{"orders", []int{2, 4}},
}

// requireNetlab is set by .ci/run, which runs as root with iproute2 and
// PostgreSQL installed: there the rehearsal fails rather than skips.
const requireNetlab = "SWITCHYARD_REQUIRE_NETLAB"

// TestMultiHostRehearsal runs the shop across six network namespaces —
// PostgreSQL on one, a three-member etcd over three, two replicas of each
// service on different hosts, the gateway on a fifth — and cuts one host
// off (every process on it killed, its link removed) under order load from
// a sixth. A careful client that resends with the same idempotency key
// loses no order and gets none twice; stock stays consistent; the cut
// host's instances leave the registry within its TTL + 1 s.
func TestMultiHostRehearsal(t *testing.T) {
	reason := skipReason
	if reason == "" {
		reason = netlabReason()
	}
	pgBin := postgresBin()
	if reason == "" && pgBin == "" {
		reason = "PostgreSQL's server programs (Debian's postgresql) are missing"
	}
	if reason != "" {
		if os.Getenv(requireNetlab) != "" {
			t.Fatalf("%s is set but %s", requireNetlab, reason)
		}
		t.Skip(reason)
	}
	lab := newNetlab(t, labHosts)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	pki := labPKI(t, lab)
	dsn := startLabPostgres(t, lab, pgBin)

	// The registry: three members forming one cluster.
	members := []int{2, 3, 4}
	var cluster, endpoints []string
	for _, h := range members {
		cluster = append(cluster, fmt.Sprintf("r%d=https://%s:2380", h, lab.addr(h)))
		endpoints = append(endpoints, lab.addr(h)+":2379")
	}
	data := t.TempDir()
	procs := &labProcs{t: t}
	for _, h := range members {
		f := pki.files("registry")
		procs.start(lab, h, fmt.Sprintf("registry r%d", h), nil, "registry",
			"--name", fmt.Sprintf("r%d", h), "--listen", lab.addr(h)+":2379",
			"--peer-listen", lab.addr(h)+":2380", "--initial-cluster", strings.Join(cluster, ","),
			"--data", filepath.Join(data, fmt.Sprintf("r%d", h)),
			"--tls-cert", f[0], "--tls-key", f[0], "--tls-ca", f[1])
	}
	registryURL := "etcd://" + strings.Join(endpoints, ",")

	// The services and the gateway, sharing one data directory (users'
	// signing key, as a shared volume would hold it) and the database.
	shopData := filepath.Join(data, "shop")
	const adminPassword = "rehearsal-admin-9"
	serve := func(h int, service string, extra ...string) {
		f := pki.files(service)
		env := []string{"ECOMMERCE_DB=" + dsn, "ECOMMERCE_ADMIN_PASSWORD=" + adminPassword}
		args := append([]string{"serve", service, "--registry", registryURL, "--data", shopData,
			"--tls-cert", f[0], "--tls-key", f[0], "--tls-ca", f[1]}, extra...)
		procs.start(lab, h, fmt.Sprintf("%s@h%d", service, h), env, args...)
	}
	for _, s := range labServices {
		for _, h := range s.hosts {
			extra := []string{"--listen", lab.addr(h) + ":0"}
			if s.service == "users" {
				extra = append(extra, "--admin-email", adminEmail)
			}
			serve(h, s.service, extra...)
		}
	}
	gateway := lab.addr(hostGateway) + ":8080"
	serve(hostGateway, "gateway", "--listen", gateway)

	hc := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		DialContext: lab.dialer(hostClient), MaxIdleConnsPerHost: 64}}
	t.Cleanup(hc.CloseIdleConnections)
	c := &client{base: "http://" + gateway, hc: hc}
	began := time.Now()
	for {
		r, err := c.call(ctx, "GET", "/readyz", "", nil)
		if err == nil && r.status == http.StatusOK {
			break
		}
		if time.Since(began) > 90*time.Second {
			t.Fatalf("the shop across hosts was not ready in 90 s (last: %v %v)\n%s", r, err, procs.output())
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Logf("shop ready across %d hosts in %v", labHosts, time.Since(began).Round(time.Millisecond))

	admin := &account{password: adminPassword}
	admin.Email = adminEmail
	c.logIn(ctx, t, admin)
	w := &world{c: c, admin: admin}
	const stock = 1_000_000
	p := c.createProduct(ctx, t, admin, "Rehearsal stock", 100, stock)
	var buyers []*account
	for i := range 4 {
		buyers = append(buyers, c.signUp(ctx, t, fmt.Sprintf("host%d@example.com", i), "Host"))
	}
	// Every service must have both its replicas in the gateway's view
	// before the cut, or the cut proves nothing.
	cutAddrs := waitInstances(ctx, t, w, lab.addr(cutHost), 2)

	// The registry's leader moves off the host to be cut, so that the
	// timing of lease expiry measured below is the registry's steady
	// state rather than an election (the etcd tests cover leader loss).
	moveLeaderOff(ctx, t, lab, pki, endpoints, cutHost)

	// Order load: four careful clients, each resending an order with the
	// same idempotency key until it is answered 201 or 200.
	var (
		placed, firstFailures, retries, lost atomic.Int64
		mu                                   sync.Mutex            // guards ids, during
		ids                                  = map[string]string{} // key → order id
		during                               []time.Time           // answers while the cut happened
		wg                                   sync.WaitGroup
	)
	stop := make(chan struct{})
	var cutAt atomic.Pointer[time.Time]
	for bi, b := range buyers {
		wg.Go(func() {
			for n := 0; ; n++ {
				select {
				case <-stop:
					return
				default:
				}
				key := fmt.Sprintf("rehearsal-%d-%d", bi, n)
				deadline := time.Now().Add(30 * time.Second)
				for attempt := 0; ; attempt++ {
					r, err := c.call(ctx, "POST", "/api/v1/orders", b.token, orderBody(p.ID, 1), "Idempotency-Key", key)
					if err == nil && (r.status == http.StatusCreated || r.status == http.StatusOK) {
						var o order
						r.decode(t, &o)
						mu.Lock()
						ids[key] = o.ID
						if at := cutAt.Load(); at != nil && time.Since(*at) < 10*time.Second {
							during = append(during, time.Now())
						}
						mu.Unlock()
						placed.Add(1)
						break
					}
					if attempt == 0 {
						firstFailures.Add(1)
					}
					if time.Now().After(deadline) || ctx.Err() != nil {
						lost.Add(1)
						t.Errorf("order %s not placed in 30 s: %v %v", key, r, err)
						break
					}
					retries.Add(1)
					time.Sleep(100 * time.Millisecond)
				}
			}
		})
	}

	time.Sleep(5 * time.Second) // steady load before the cut
	now := time.Now()
	cutAt.Store(&now)
	lab.cut(cutHost)
	t.Logf("host %d cut: its etcd member, %s killed and its link removed", cutHost, strings.Join(cutAddrs, ", "))
	left := waitGone(ctx, t, w, lab.addr(cutHost), now)
	time.Sleep(5 * time.Second) // load on the survivors
	close(stop)
	wg.Wait()

	ttl := 5 * time.Second // registry.RegistrationTTL
	t.Logf("cut host's instances left the gateway's view of the registry %v after the cut (TTL %v)", left.Round(10*time.Millisecond), ttl)
	t.Logf("orders: %d placed (%.0f/s in the 10 s after the cut), %d first attempts failed, %d resends, %d lost",
		placed.Load(), float64(len(during))/10, firstFailures.Load(), retries.Load(), lost.Load())
	if left > ttl+time.Second {
		t.Errorf("the cut host's instances took %v to leave, more than TTL + 1 s", left)
	}
	if lost.Load() != 0 {
		t.Errorf("%d orders were never placed", lost.Load())
	}

	// No order lost or twice: each key has its own order, each buyer has
	// exactly its keys' orders, all confirmed, and the stock taken is one
	// item per order.
	seen := map[string]bool{}
	for key, id := range ids {
		if seen[id] {
			t.Errorf("order %s answered two keys (one is %s)", id, key)
		}
		seen[id] = true
	}
	total := 0
	for _, b := range buyers {
		for _, o := range c.orders(ctx, t, b) {
			total++
			if !seen[o.ID] {
				t.Errorf("order %s of %s answers no key the client sent", o.ID, b.Email)
			}
			if o.Status != "confirmed" {
				t.Errorf("order %s is %s, want confirmed", o.ID, o.Status)
			}
		}
	}
	if total != len(ids) {
		t.Errorf("the buyers hold %d orders, the client placed %d", total, len(ids))
	}
	if got := c.product(ctx, t, p.ID).Stock; got != stock-int64(len(ids)) {
		t.Errorf("stock %d after %d orders of one item from %d", got, len(ids), stock)
	}
}

// postgresBin returns the directory of PostgreSQL's server programs, or
// "" when they are not installed.
func postgresBin() string {
	m, _ := filepath.Glob("/usr/lib/postgresql/*/bin/pg_ctl")
	if len(m) == 0 {
		return ""
	}
	slices.Sort(m)
	return filepath.Dir(m[len(m)-1])
}

// startLabPostgres runs a throwaway PostgreSQL on the lab's database host
// (as the postgres user, which the Debian package makes; initdb refuses
// root) and returns its URL. It trusts the lab's network only.
func startLabPostgres(t *testing.T, lab *netlab, bin string) string {
	t.Helper()
	pg, err := osuser.Lookup("postgres")
	if err != nil {
		t.Fatalf("the postgres user: %v", err)
	}
	uid, _ := strconv.Atoi(pg.Uid)
	gid, _ := strconv.Atoi(pg.Gid)
	root, err := os.MkdirTemp("", "sy-netlab-pg-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(root) })
	if err := os.Chmod(root, 0o755); err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(root, "data")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(dir, uid, gid); err != nil {
		t.Fatal(err)
	}
	asPostgres := func(cmd string) *exec.Cmd { return exec.Command("su", "postgres", "-s", "/bin/sh", "-c", cmd) }
	if out, err := asPostgres(fmt.Sprintf("%s/initdb -D %s -A trust -U postgres", bin, dir)).CombinedOutput(); err != nil {
		t.Fatalf("initdb: %v\n%s", err, out)
	}
	hba, err := os.OpenFile(filepath.Join(dir, "pg_hba.conf"), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(hba, "host all all %s trust\n", lab.cidr())
	hba.Close()
	start := fmt.Sprintf("%s/pg_ctl -D %s -l %s/log -o \"-p 5432 -k %s -c listen_addresses=%s -c max_connections=200\" -w start",
		bin, dir, dir, dir, lab.addr(hostDB))
	cmd := exec.Command("ip", "netns", "exec", lab.ns(hostDB), "su", "postgres", "-s", "/bin/sh", "-c", start)
	if out, err := cmd.CombinedOutput(); err != nil {
		log, _ := os.ReadFile(filepath.Join(dir, "log"))
		t.Fatalf("pg_ctl start: %v\n%s\n%s", err, out, log)
	}
	// Stopped before its directory is removed (cleanups run last first).
	t.Cleanup(func() { _ = asPostgres(fmt.Sprintf("%s/pg_ctl -D %s -m immediate stop", bin, dir)).Run() })
	return fmt.Sprintf("postgres://postgres@%s:5432/postgres?sslmode=disable", lab.addr(hostDB))
}

// labPKI is a CA of the shop's trust domain whose certificates also name
// every lab address: etcd members check each other's addresses.
type labCA struct {
	dir string
}

func labPKI(t *testing.T, lab *netlab) *labCA {
	t.Helper()
	ca := mtlstest.NewCA("netlab shop CA")
	p := &labCA{dir: t.TempDir()}
	mtlstest.WriteFile(filepath.Join(p.dir, "ca.pem"), ca.PEM)
	for _, name := range []string{"registry", "users", "catalog", "orders", "gateway", "loadgen"} {
		id, err := identity.ForService("shop.internal", name)
		if err != nil {
			t.Fatal(err)
		}
		tmpl := mtlstest.Template(id)
		for h := 1; h <= lab.hosts; h++ {
			tmpl.IPAddresses = append(tmpl.IPAddresses, net.ParseIP(lab.addr(h)))
		}
		f := filepath.Join(p.dir, name+".pem")
		ca.IssueTemplate(tmpl).Write(f, f)
	}
	return p
}

// files returns the certificate-and-key file and the CA file of name.
func (p *labCA) files(name string) [2]string {
	return [2]string{filepath.Join(p.dir, name+".pem"), filepath.Join(p.dir, "ca.pem")}
}

// labProcs are the processes a rehearsal started, with their output.
type labProcs struct {
	t    *testing.T
	mu   sync.Mutex // guards outs
	outs []labOut
}

type labOut struct {
	name string
	buf  *lockedBuffer
}

// start runs "ecommerce args…" on host h with env added to the test's
// environment (less its ECOMMERCE_* variables).
func (ps *labProcs) start(lab *netlab, h int, name string, env []string, args ...string) {
	ps.t.Helper()
	cmd := lab.command(h, binary, args...)
	cmd.Env = append(shopEnv(), env...)
	buf := &lockedBuffer{}
	cmd.Stdout, cmd.Stderr = buf, buf
	if err := cmd.Start(); err != nil {
		ps.t.Fatalf("start %s: %v", name, err)
	}
	go cmd.Wait() // reaped whenever it ends; the lab kills what is left
	ps.mu.Lock()
	ps.outs = append(ps.outs, labOut{name, buf})
	ps.mu.Unlock()
}

// output returns the last lines of every process's output.
func (ps *labProcs) output() string {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	var b strings.Builder
	for _, o := range ps.outs {
		lines := strings.Split(strings.TrimSpace(o.buf.String()), "\n")
		fmt.Fprintf(&b, "--- %s\n%s\n", o.name, strings.Join(lines[max(0, len(lines)-8):], "\n"))
	}
	return b.String()
}

// waitInstances waits until the gateway sees want instances on the host
// with address host, and returns their addresses.
func waitInstances(ctx context.Context, t *testing.T, w *world, host string, want int) []string {
	t.Helper()
	for {
		var on []string
		for _, s := range w.state(ctx, t).Services {
			for _, in := range s.Instances {
				if h, _, _ := net.SplitHostPort(in.Addr); h == host {
					on = append(on, s.Service+"@"+in.Addr)
				}
			}
		}
		if len(on) >= want {
			return on
		}
		select {
		case <-ctx.Done():
			t.Fatalf("the gateway sees %v on %s, want %d instances", on, host, want)
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// waitGone waits until the gateway's view of the registry holds no
// instance on host and returns how long after since that took.
func waitGone(ctx context.Context, t *testing.T, w *world, host string, since time.Time) time.Duration {
	t.Helper()
	for {
		found := false
		for _, s := range w.state(ctx, t).Services {
			for _, in := range s.Instances {
				if h, _, _ := net.SplitHostPort(in.Addr); h == host {
					found = true
				}
			}
		}
		if !found {
			return time.Since(since)
		}
		select {
		case <-ctx.Done():
			t.Fatalf("instances on %s never left the registry", host)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// moveLeaderOff makes sure the etcd member on host h is not the leader,
// moving leadership to another member when it is.
func moveLeaderOff(ctx context.Context, t *testing.T, lab *netlab, p *labCA, endpoints []string, h int) {
	t.Helper()
	f := p.files("loadgen")
	src, err := mtls.New(mtls.Config{CertFile: f[0], KeyFile: f[0], CAFile: f[1]})
	if err != nil {
		t.Fatal(err)
	}
	reg, err := src.ServiceID("registry")
	if err != nil {
		t.Fatal(err)
	}
	dial := lab.dialer(hostClient)
	status := func(ep string) (*clientv3.StatusResponse, *clientv3.Client) {
		cfg, err := etcd.ClientConfigTLS(src.ClientConfig(reg), ep)
		if err != nil {
			t.Fatal(err)
		}
		cfg.DialOptions = append(cfg.DialOptions, grpc.WithContextDialer(func(ctx context.Context, addr string) (net.Conn, error) {
			return dial(ctx, "tcp", addr)
		}))
		cli, err := clientv3.New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		st, err := cli.Status(sctx, "https://"+ep)
		if err != nil {
			cli.Close()
			t.Fatalf("etcd status of %s: %v", ep, err)
		}
		return st, cli
	}
	cutEP := lab.addr(h) + ":2379"
	st, cli := status(cutEP)
	defer cli.Close()
	if st.Leader != st.Header.MemberId {
		return
	}
	var other *clientv3.StatusResponse
	for _, ep := range endpoints {
		if ep != cutEP {
			var oc *clientv3.Client
			other, oc = status(ep)
			oc.Close()
			break
		}
	}
	mctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if _, err := cli.MoveLeader(mctx, other.Header.MemberId); err != nil {
		t.Fatalf("moving etcd's leader off host %d: %v", h, err)
	}
	t.Logf("etcd's leader moved off host %d", h)
}
