package etcd_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/switchyard/switchyard/discovery"
	"github.com/switchyard/switchyard/discovery/etcd"
	"github.com/switchyard/switchyard/discovery/etcd/embedded"
)

// requireEtcdServerEnv, when set (to anything), turns a missing etcd
// binary from a skip into a failure; CI sets it to 1.
const requireEtcdServerEnv = "SWITCHYARD_REQUIRE_ETCD_SERVER"

// memberEnv, when set, makes the test binary an embedded etcd member
// configured by the variable's JSON (a memberSpec) instead of running
// tests: the cluster tests start their embedded members as child
// processes, so that stopping the leader can be a SIGKILL, a crash, and
// not a graceful stop that hands the leadership over first.
const memberEnv = "SWITCHYARD_ETCD_TEST_MEMBER"

// memberSpec is what a member process is told.
type memberSpec struct {
	Name, Dir, Client, Peer, InitialCluster string
}

// runMember runs an embedded member until SIGTERM, printing "ready" once
// it serves. It returns the process's exit code.
func runMember(spec string) int {
	var s memberSpec
	if err := json.Unmarshal([]byte(spec), &s); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM)
	defer stop()
	srv, err := embedded.Start(ctx, s.Dir, s.Client, embedded.Config{
		Name: s.Name, PeerAddr: s.Peer, InitialCluster: s.InitialCluster,
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer srv.Close()
	fmt.Println("ready")
	select {
	case <-ctx.Done():
		return 0
	case err := <-srv.Err():
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
}

// findEtcd returns the path of etcd's own server binary (Debian's
// etcd-server package installs /usr/bin/etcd), or skips (or, with
// requireEtcdServerEnv set, fails) the test.
func findEtcd(t *testing.T) string {
	t.Helper()
	if p, err := exec.LookPath("etcd"); err == nil {
		return p
	}
	msg := "no etcd server binary on PATH (install it with: apt-get install -y etcd-server)"
	if _, set := os.LookupEnv(requireEtcdServerEnv); set {
		t.Fatalf("%s, and %s is set", msg, requireEtcdServerEnv)
	}
	t.Skipf("%s; set %s=1 to make this a failure", msg, requireEtcdServerEnv)
	return ""
}

// member is one etcd process of a test cluster.
type member struct {
	name   string
	client string // client URL
	cmd    *exec.Cmd
	exited chan struct{}
	ended  time.Time // when it exited; read after exited is closed
	stderr *syncBuffer
}

// kill stops the member at once, as a crash would, and waits for it.
func (m *member) kill() {
	_ = m.cmd.Process.Kill()
	<-m.exited
}

// cluster is three etcd processes on loopback forming one cluster.
type cluster struct {
	members []*member
}

func (c *cluster) endpoints() []string {
	var eps []string
	for _, m := range c.members {
		eps = append(eps, m.client)
	}
	return eps
}

// startCluster starts a three-member cluster, each member a process of
// etcd's own binary (etcdBin) or, with etcdBin empty, of this test binary
// running embedded.Start, and returns once every member answers and the
// cluster has a leader. The members are killed at cleanup.
func startCluster(t *testing.T, etcdBin string) *cluster {
	t.Helper()
	names := []string{"m1", "m2", "m3"}
	var peers, clients, pairs []string
	for _, n := range names {
		p, c := freeAddr(t), freeAddr(t)
		peers, clients = append(peers, p), append(clients, c)
		pairs = append(pairs, n+"=http://"+p)
	}
	initial := strings.Join(pairs, ",")
	c := &cluster{}
	for i, name := range names {
		dir := filepath.Join(t.TempDir(), name)
		var cmd *exec.Cmd
		if etcdBin != "" {
			cmd = exec.Command(etcdBin,
				"--name", name, "--data-dir", dir,
				"--listen-client-urls", "http://"+clients[i], "--advertise-client-urls", "http://"+clients[i],
				"--listen-peer-urls", "http://"+peers[i], "--initial-advertise-peer-urls", "http://"+peers[i],
				"--initial-cluster", initial, "--initial-cluster-state", "new",
				"--logger", "zap", "--log-level", "error")
		} else {
			spec, _ := json.Marshal(memberSpec{Name: name, Dir: dir, Client: clients[i], Peer: peers[i], InitialCluster: initial})
			cmd = exec.Command(os.Args[0], "-test.run=^$")
			cmd.Env = append(os.Environ(), memberEnv+"="+string(spec))
		}
		m := &member{name: name, client: "http://" + clients[i], cmd: cmd, exited: make(chan struct{}), stderr: &syncBuffer{}}
		cmd.Stderr = m.stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		go func() {
			_ = cmd.Wait()
			m.ended = time.Now()
			close(m.exited)
		}()
		t.Cleanup(m.kill)
		c.members = append(c.members, m)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cli := newClient(t, c.endpoints())
	for {
		if _, _, err := c.leader(ctx, cli, c.members); err == nil {
			return c
		}
		for _, m := range c.members {
			select {
			case <-m.exited:
				t.Fatalf("member %s exited while starting: %s", m.name, m.stderr)
			default:
			}
		}
		select {
		case <-ctx.Done():
			t.Fatalf("cluster did not form within 30 s")
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// leader asks each of the given members for its status and returns the
// leader's member ID and index in c.members, once every one of them
// answers and names the same leader, which is among them.
func (c *cluster) leader(ctx context.Context, cli *clientv3.Client, among []*member) (uint64, int, error) {
	var lead uint64
	ids := map[uint64]int{}
	for _, m := range among {
		sctx, cancel := context.WithTimeout(ctx, 500*time.Millisecond)
		st, err := cli.Status(sctx, m.client)
		cancel()
		if err != nil {
			return 0, 0, err
		}
		if st.Leader == 0 || (lead != 0 && st.Leader != lead) {
			return 0, 0, errors.New("no agreed leader")
		}
		lead = st.Leader
		ids[st.Header.MemberId] = slices.Index(c.members, m)
	}
	i, ok := ids[lead]
	if !ok {
		return 0, 0, errors.New("leader is not among the members asked")
	}
	return lead, i, nil
}

func TestLeaderLoss(t *testing.T) {
	// The leader crashes (SIGKILL), then, on fresh clusters, stops
	// gracefully (SIGTERM: etcd hands the leadership over before it
	// exits). Both clusters of a kind run in parallel: six etcd processes
	// on a small machine lengthen elections, and the bounds must hold
	// anyway.
	for _, crash := range []bool{true, false} {
		name := "crash"
		if !crash {
			name = "stop"
		}
		t.Run(name, func(t *testing.T) {
			t.Run("embedded", func(t *testing.T) {
				t.Parallel()
				testLeaderLoss(t, "", crash)
			})
			t.Run("etcd-server", func(t *testing.T) {
				t.Parallel()
				testLeaderLoss(t, findEtcd(t), crash)
			})
		})
	}
}

// timed is something that happened at a time.
type timed[T any] struct {
	at time.Time
	v  T
}

// testLeaderLoss kills the leader of a three-member cluster while
// instances register, renew their leases and are watched, and checks
// that no watcher sees its list shrink, no lease is lost, registrations
// made during the election reach the watchers within 2 s of its end, and
// a client of all three members keeps working.
func testLeaderLoss(t *testing.T, etcdBin string, crash bool) {
	const (
		service = "leaderloss"
		// The example shop's settings (internal/registry).
		regTTL = 5 * time.Second
		grace  = 2 * regTTL
		// The requirement: what is registered during an election is seen
		// within this long after it.
		seenWithin = 2 * time.Second
	)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	c := startCluster(t, etcdBin)
	eps := c.endpoints()
	kind := "embedded members"
	if etcdBin != "" {
		kind = etcdBin
	}
	if crash {
		kind += ", leader killed"
	} else {
		kind += ", leader stopped"
	}

	// Three processes' worth of steady registrations, each with a client
	// of all three members.
	var steady []*etcd.Registrar
	for i := range 3 {
		reg := newRegistrar(t, newClient(t, eps), etcd.RegistrarConfig{TTL: regTTL})
		defer reg.Close(ctx)
		if err := reg.Register(ctx, inst(service, fmt.Sprintf("steady-%d", i), fmt.Sprintf("127.0.0.1:%d", 9100+i))); err != nil {
			t.Fatal(err)
		}
		steady = append(steady, reg)
	}
	var recs []*recorder
	for range 2 {
		res := newResolver(t, newClient(t, eps), etcd.ResolverConfig{RecoveryGrace: grace})
		defer res.Close()
		w, err := res.Watch(ctx, service)
		if err != nil {
			t.Fatal(err)
		}
		rec := record(t, w)
		rec.waitFor(t, 5*time.Second, "the steady instances", func(u discovery.Update) bool { return len(u.Instances) == 3 })
		recs = append(recs, rec)
	}

	// A registrar adds an instance every 150 ms, before, during and after
	// the election, each registration in a goroutine of its own.
	churn := newRegistrar(t, newClient(t, eps), etcd.RegistrarConfig{TTL: regTTL})
	defer churn.Close(ctx)
	var (
		mu   sync.Mutex // guards regs
		regs []churned
	)
	stopChurn := make(chan struct{})
	churnDone := make(chan struct{})
	go func() {
		defer close(churnDone)
		var wg sync.WaitGroup
		defer wg.Wait()
		tick := time.NewTicker(150 * time.Millisecond)
		defer tick.Stop()
		for n := 0; ; n++ {
			select {
			case <-stopChurn:
				return
			case <-tick.C:
			}
			// Each registration on its own, so that they keep starting
			// while earlier ones wait for a leader.
			wg.Go(func() {
				id := fmt.Sprintf("churn-%03d", n)
				start := time.Now()
				rctx, rcancel := context.WithTimeout(ctx, 10*time.Second)
				err := churn.Register(rctx, inst(service, id, fmt.Sprintf("127.0.0.1:%d", 10000+n)))
				rcancel()
				mu.Lock()
				regs = append(regs, churned{id, start, time.Now(), err})
				mu.Unlock()
			})
		}
	}()

	// A client of all three members reads all along.
	reader := newClient(t, eps)
	var reads []timed[error]
	stopReads := make(chan struct{})
	readsDone := make(chan struct{})
	go func() {
		defer close(readsDone)
		for {
			select {
			case <-stopReads:
				return
			case <-time.After(50 * time.Millisecond):
			}
			rctx, rcancel := context.WithTimeout(ctx, 2*time.Second)
			_, err := reader.Get(rctx, etcd.ServicePrefix(etcd.DefaultPrefix, service), clientv3.WithPrefix(), clientv3.WithCountOnly())
			rcancel()
			reads = append(reads, timed[error]{time.Now(), err})
		}
	}()

	// The steady registrations must stay live throughout.
	var regErrs []timed[error]
	stopWatchRegs := make(chan struct{})
	watchRegsDone := make(chan struct{})
	go func() {
		defer close(watchRegsDone)
		for {
			for _, reg := range steady {
				if err := reg.RegistrationErr(); err != nil {
					regErrs = append(regErrs, timed[error]{time.Now(), err})
				}
			}
			select {
			case <-stopWatchRegs:
				return
			case <-time.After(20 * time.Millisecond):
			}
		}
	}()

	time.Sleep(time.Second) // churn before the election
	leases := leasesOf(t, ctx, reader, service)
	admin := newClient(t, eps)
	_, li, err := c.leader(ctx, admin, c.members)
	if err != nil {
		t.Fatal(err)
	}
	killed := time.Now()
	if crash {
		c.members[li].kill()
	} else if err := c.members[li].cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	var survivors []*member
	for i, m := range c.members {
		if i != li {
			survivors = append(survivors, m)
		}
	}
	var elected time.Time
	for {
		if _, _, err := c.leader(ctx, admin, survivors); err == nil {
			elected = time.Now()
			break
		}
		if time.Since(killed) > 15*time.Second {
			t.Fatalf("no new leader 15 s after the leader was killed")
		}
		time.Sleep(10 * time.Millisecond)
	}
	// Let churn and reads go on past the 2 s the watchers have.
	time.Sleep(seenWithin + 500*time.Millisecond)
	if !crash {
		// The embedded etcd drains its client streams for up to 7 s
		// before it exits; the test does not wait for that (cleanup kills
		// it), only reports it.
		select {
		case <-c.members[li].exited:
			t.Logf("%s: the old leader exited %v after SIGTERM", kind, c.members[li].ended.Sub(killed).Round(time.Millisecond))
		default:
			t.Logf("%s: the old leader was still draining %v after SIGTERM", kind, time.Since(killed).Round(time.Millisecond))
		}
	}
	close(stopChurn)
	<-churnDone
	close(stopReads)
	<-readsDone
	close(stopWatchRegs)
	<-watchRegsDone

	mu.Lock()
	defer mu.Unlock()
	want := []string{"steady-0", "steady-1", "steady-2"}
	for _, r := range regs {
		if r.err != nil {
			t.Errorf("register %s (started %v after the kill): %v", r.id, r.start.Sub(killed).Round(time.Millisecond), r.err)
			continue
		}
		want = append(want, r.id)
	}
	slices.Sort(want)
	for _, rec := range recs {
		rec.waitFor(t, 5*time.Second, "every instance registered", hasIDs(want...))
	}
	t.Logf("%s: leader %s killed; new leader %v later", kind, c.members[li].name, elected.Sub(killed).Round(time.Millisecond))

	// Every lease taken before the kill is the one its key holds now.
	after := leasesOf(t, ctx, reader, service)
	lost := 0
	for key, lease := range leases {
		if after[key] != lease {
			lost++
			t.Errorf("%s: lease %x before the kill, %x after", key, lease, after[key])
		}
	}
	for _, e := range regErrs {
		t.Errorf("a steady registration was not live %v after the kill: %v", e.at.Sub(killed).Round(time.Millisecond), e.v)
	}

	// Registrations started during the election reach every watcher
	// within seenWithin of the new leader.
	var during []churned
	for _, r := range regs {
		if r.err == nil && !r.start.Before(killed) && r.start.Before(elected) {
			during = append(during, r)
		}
	}
	if len(during) == 0 && crash {
		// A crash leaves the cluster without a leader for at least an
		// election timeout (1 s), in which registrations start every
		// 150 ms; a graceful stop may hand over before one starts.
		t.Errorf("no registration started during the election (%v long)", elected.Sub(killed))
	}
	var worstSeen, worstRegistered time.Duration
	for wi, rec := range recs {
		all := rec.all()
		for _, r := range during {
			i := slices.IndexFunc(all, func(u stamped) bool {
				return slices.ContainsFunc(u.u.Instances, func(in discovery.Instance) bool { return in.ID == r.id })
			})
			if i < 0 {
				t.Errorf("watcher %d never saw %s", wi, r.id)
				continue
			}
			seen := all[i].at
			worstSeen = max(worstSeen, seen.Sub(elected))
			worstRegistered = max(worstRegistered, seen.Sub(r.done))
			if seen.Sub(elected) > seenWithin {
				t.Errorf("watcher %d saw %s (registration started %v into the election) %v after the new leader, want ≤ %v",
					wi, r.id, r.start.Sub(killed).Round(time.Millisecond), seen.Sub(elected).Round(time.Millisecond), seenWithin)
			}
		}
		// No update shrinks: instances are only ever added here.
		var prev []string
		for _, u := range all {
			cur := ids(u.u.Instances)
			for _, id := range prev {
				if !slices.Contains(cur, id) {
					t.Errorf("watcher %d: snapshot %v at %v lost %s from %v", wi, cur, u.at.Sub(killed).Round(time.Millisecond), id, prev)
					break
				}
			}
			prev = cur
		}
	}

	// The watcher gap: the longest time a watcher's latest update was
	// not up to date — carrying an error, or missing an instance whose
	// registration had returned.
	var gap time.Duration
	errUpdates := 0
	for _, rec := range recs {
		all := rec.all()
		gap = max(gap, staleFor(all, regs))
		for _, u := range all {
			if u.u.Err != nil {
				errUpdates++
			}
		}
	}
	// The longest pause between two registrations going through: how
	// long the registry took no write.
	var writeGap time.Duration
	var dones []time.Time
	for _, r := range regs {
		if r.err == nil {
			dones = append(dones, r.done)
		}
	}
	slices.SortFunc(dones, time.Time.Compare)
	for i := 1; i < len(dones); i++ {
		writeGap = max(writeGap, dones[i].Sub(dones[i-1]))
	}
	if limit := elected.Sub(killed) + seenWithin; gap > limit {
		t.Errorf("watcher gap %v, want at most the election plus %v (%v)", gap, seenWithin, limit)
	}

	// The reading client: its longest time without a successful read.
	var readGap time.Duration
	last, failed := killed, 0
	for _, r := range reads {
		if r.v != nil {
			failed++
			continue
		}
		if r.at.After(killed) {
			readGap = max(readGap, r.at.Sub(last))
			last = r.at
		}
	}
	if len(reads) == 0 || reads[len(reads)-1].v != nil {
		t.Errorf("the client of all three members did not end with a successful read")
	}
	if i := slices.IndexFunc(reads, func(r timed[error]) bool { return r.v == nil && r.at.After(elected) }); i < 0 {
		t.Errorf("the client of all three members read nothing after the new leader")
	} else if d := reads[i].at.Sub(elected); d > seenWithin {
		t.Errorf("the client of all three members read again %v after the new leader, want ≤ %v", d, seenWithin)
	}
	t.Logf("%s: time to new leader %v; watcher gap %v (%d updates with an error); no registration went through for %v; registrations begun before the new leader (%d) seen ≤ %v after the new leader, ≤ %v after Register returned; lost leases %d of %d; client of three endpoints: %d of %d reads failed, longest time without a read %v",
		kind, elected.Sub(killed).Round(time.Millisecond), gap.Round(time.Millisecond), errUpdates, writeGap.Round(time.Millisecond), len(during),
		worstSeen.Round(time.Millisecond), worstRegistered.Round(time.Millisecond),
		lost, len(leases), failed, len(reads), readGap.Round(time.Millisecond))
}

// leasesOf returns the lease of each key of service.
func leasesOf(t *testing.T, ctx context.Context, cli *clientv3.Client, service string) map[string]int64 {
	t.Helper()
	gctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	resp, err := cli.Get(gctx, etcd.ServicePrefix(etcd.DefaultPrefix, service), clientv3.WithPrefix())
	if err != nil {
		t.Fatal(err)
	}
	out := make(map[string]int64, len(resp.Kvs))
	for _, kv := range resp.Kvs {
		out[string(kv.Key)] = kv.Lease
	}
	return out
}

// churned is one registration of the churning registrar.
type churned struct {
	id          string
	start, done time.Time // Register called and returned
	err         error
}

// staleFor returns the longest stretch of time during which the latest of
// updates (in the order read) carried an error or lacked an instance whose
// registration in regs had returned.
func staleFor(updates []stamped, regs []churned) time.Duration {
	var returns []churned
	for _, r := range regs {
		if r.err == nil {
			returns = append(returns, r)
		}
	}
	slices.SortFunc(returns, func(a, b churned) int { return a.done.Compare(b.done) })
	var (
		longest    time.Duration
		staleSince time.Time // zero while up to date
		latest     map[string]bool
		failing    bool
		registered []string
	)
	check := func(at time.Time) {
		stale := failing
		for _, id := range registered {
			stale = stale || !latest[id]
		}
		switch {
		case stale && staleSince.IsZero():
			staleSince = at
		case !stale && !staleSince.IsZero():
			longest = max(longest, at.Sub(staleSince))
			staleSince = time.Time{}
		}
	}
	ri := 0
	for _, u := range updates {
		for ; ri < len(returns) && returns[ri].done.Before(u.at); ri++ {
			registered = append(registered, returns[ri].id)
			if latest != nil {
				check(returns[ri].done)
			}
		}
		latest = make(map[string]bool, len(u.u.Instances))
		for _, in := range u.u.Instances {
			latest[in.ID] = true
		}
		failing = u.u.Err != nil
		check(u.at)
	}
	return longest
}
