package embedded_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"

	"github.com/switchyard/switchyard/discovery/etcd/embedded"
)

// freePorts returns n distinct free ports on 127.0.0.1. A port may be
// taken by another program before the test binds it again; the tests
// accept that small risk, as every test of a cluster must.
func freePorts(t *testing.T, n int) []string {
	t.Helper()
	var ls []net.Listener
	defer func() {
		for _, l := range ls {
			l.Close()
		}
	}()
	var out []string
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		ls = append(ls, l)
		out = append(out, l.Addr().String())
	}
	return out
}

// startCluster starts the members named in names as one new cluster, in
// parallel (a member of a new cluster is ready only once a majority run),
// and closes them at cleanup.
func startCluster(t *testing.T, ctx context.Context, names []string, cfg func(name string) embedded.Config) []*embedded.Server {
	t.Helper()
	srvs := make([]*embedded.Server, len(names))
	errs := make([]error, len(names))
	var wg sync.WaitGroup
	for i, name := range names {
		wg.Go(func() {
			srvs[i], errs[i] = embedded.Start(ctx, t.TempDir(), "127.0.0.1:0", cfg(name))
		})
	}
	wg.Wait()
	t.Cleanup(func() { closeCluster(t, srvs) })
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
	return srvs
}

// closeCluster closes the followers, then the leader. A leader that stops
// hands its leadership to a follower first and waits up to etcd's request
// timeout (7 s) for it to take over, which a follower stopping at the same
// time never does; a leader without followers skips the hand-over.
func closeCluster(t *testing.T, srvs []*embedded.Server) {
	var live []*embedded.Server
	for _, s := range srvs {
		if s != nil {
			live = append(live, s)
		}
	}
	var leader *embedded.Server
	if len(live) > 0 {
		var eps []string
		for _, s := range live {
			eps = append(eps, s.Endpoints()...)
		}
		cli, err := clientv3.New(clientv3.Config{Endpoints: eps, Logger: zap.NewNop()})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		for _, s := range live {
			if st, err := cli.Status(ctx, s.Endpoints()[0]); err == nil && st.Leader == st.Header.MemberId {
				leader = s
			}
		}
		cancel()
		cli.Close()
	}
	var wg sync.WaitGroup
	for _, s := range live {
		if s != leader {
			wg.Go(func() { s.Close() })
		}
	}
	wg.Wait()
	if leader != nil {
		leader.Close()
	}
}

func clusterClient(t *testing.T, srvs ...*embedded.Server) *clientv3.Client {
	t.Helper()
	var eps []string
	for _, s := range srvs {
		eps = append(eps, s.Endpoints()...)
	}
	cli, err := clientv3.New(clientv3.Config{Endpoints: eps, DialTimeout: 5 * time.Second, Logger: zap.NewNop()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cli.Close() })
	return cli
}

func memberNames(t *testing.T, ctx context.Context, cli *clientv3.Client) []string {
	t.Helper()
	resp, err := cli.MemberList(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, m := range resp.Members {
		names = append(names, m.Name)
	}
	slices.Sort(names)
	return names
}

// Three members form a cluster from one InitialCluster, a write through
// one is read through another, and a fourth joins the running cluster
// after the members API has added it.
func TestStartFormsAndJoinsACluster(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	peers := freePorts(t, 4)
	var pairs []string
	for i, name := range []string{"a", "b", "c"} {
		pairs = append(pairs, fmt.Sprintf("%s=http://%s", name, peers[i]))
	}
	initial := strings.Join(pairs, ",")
	srvs := startCluster(t, ctx, []string{"a", "b", "c"}, func(name string) embedded.Config {
		return embedded.Config{Name: name, InitialCluster: initial, UnsafeNoFsync: true}
	})
	for i, s := range srvs {
		if want := "http://" + peers[i]; s.PeerURL() != want {
			t.Errorf("member %d: PeerURL() = %q, want %q from InitialCluster", i, s.PeerURL(), want)
		}
	}
	if got := memberNames(t, ctx, clusterClient(t, srvs...)); !slices.Equal(got, []string{"a", "b", "c"}) {
		t.Fatalf("members %v, want a, b, c", got)
	}
	if _, err := clusterClient(t, srvs[0]).Put(ctx, "k", "v"); err != nil {
		t.Fatal(err)
	}
	resp, err := clusterClient(t, srvs[2]).Get(ctx, "k")
	if err != nil || len(resp.Kvs) != 1 || string(resp.Kvs[0].Value) != "v" {
		t.Fatalf("get through c = %v, %v; want the value put through a", resp, err)
	}

	// etcd refuses to add a member until every member has been connected
	// for 5 s (its strict reconfiguration check), so a cluster this young
	// answers "unhealthy cluster" for a while: retry, as an operator would.
	dURL := "http://" + peers[3]
	admin := clusterClient(t, srvs...)
	for {
		_, err := admin.MemberAdd(ctx, []string{dURL})
		if err == nil {
			break
		}
		if !errors.Is(err, rpctypes.ErrUnhealthy) {
			t.Fatalf("add d: %v", err)
		}
		select {
		case <-ctx.Done():
			t.Fatalf("add d: %v", err)
		case <-time.After(200 * time.Millisecond):
		}
	}
	d, err := embedded.Start(ctx, t.TempDir(), "127.0.0.1:0", embedded.Config{
		Name:                "d",
		InitialCluster:      initial + ",d=" + dURL,
		InitialClusterState: embedded.StateExisting,
		UnsafeNoFsync:       true,
	})
	if err != nil {
		t.Fatalf("join as d: %v", err)
	}
	defer d.Close()
	cli := clusterClient(t, d)
	if got := memberNames(t, ctx, cli); !slices.Equal(got, []string{"a", "b", "c", "d"}) {
		t.Fatalf("members %v after d joined, want a, b, c, d", got)
	}
	resp, err = cli.Get(ctx, "k")
	if err != nil || len(resp.Kvs) != 1 {
		t.Fatalf("get through d = %v, %v; want the value put before it joined", resp, err)
	}

	// d leaves the way it came, through the members API.
	status, err := cli.Status(ctx, d.Endpoints()[0])
	if err != nil {
		t.Fatal(err)
	}
	if _, err := admin.MemberRemove(ctx, status.Header.MemberId); err != nil {
		t.Fatalf("remove d: %v", err)
	}
	d.Close()
	if got := memberNames(t, ctx, admin); !slices.Equal(got, []string{"a", "b", "c"}) {
		t.Fatalf("members %v after d left, want a, b, c", got)
	}
}

func TestStartRejectsBadClusterConfig(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	for _, tc := range []struct {
		name string
		cfg  embedded.Config
		want string
	}{
		{"unknown state", embedded.Config{InitialClusterState: "joining"}, `InitialClusterState "joining"`},
		{"existing alone", embedded.Config{InitialClusterState: embedded.StateExisting}, "needs InitialCluster"},
		{"not listed", embedded.Config{Name: "a", InitialCluster: "b=http://127.0.0.1:2380"}, `does not list this member, "a"`},
		{"not a pair", embedded.Config{Name: "a", InitialCluster: "a=http://127.0.0.1:2380,http://127.0.0.1:2381"}, "is not name=URL"},
		{"scheme without TLS", embedded.Config{Name: "a", InitialCluster: "a=https://127.0.0.1:2380"}, "https:// URL"},
		{"no port", embedded.Config{Name: "a", InitialCluster: "a=http://127.0.0.1"}, "non-zero port"},
		{"port 0", embedded.Config{Name: "a", InitialCluster: "a=http://127.0.0.1:0"}, "non-zero port"},
		{"path", embedded.Config{Name: "a", InitialCluster: "a=http://127.0.0.1:2380/x"}, "nothing more"},
		{"twice", embedded.Config{Name: "a", InitialCluster: "a=http://127.0.0.1:2380,a=http://127.0.0.1:2381"}, "2 URLs"},
		{"same URL twice", embedded.Config{Name: "a", InitialCluster: "a=http://127.0.0.1:2380,b=http://127.0.0.1:2380"}, "listed twice"},
		{"peer port 0 in a cluster", embedded.Config{Name: "a", PeerAddr: "127.0.0.1:0", InitialCluster: "a=http://127.0.0.1:2380"}, "port 0"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv, err := embedded.Start(ctx, t.TempDir(), "127.0.0.1:0", tc.cfg)
			if srv != nil {
				srv.Close()
			}
			if !errors.Is(err, embedded.ErrConfig) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Start = %v, want ErrConfig saying %q", err, tc.want)
			}
		})
	}
}

func TestCheckInitialCluster(t *testing.T) {
	const list = "a=https://10.0.0.1:2380,b=https://10.0.0.2:2380"
	if got, err := embedded.CheckInitialCluster(list, "b", true); err != nil || got != "https://10.0.0.2:2380" {
		t.Errorf("CheckInitialCluster(b, TLS) = %q, %v; want b's URL", got, err)
	}
	if _, err := embedded.CheckInitialCluster(list, "b", false); !errors.Is(err, embedded.ErrConfig) {
		t.Errorf("https:// URLs without TLS: %v, want ErrConfig", err)
	}
	if _, err := embedded.CheckInitialCluster(list, "c", true); !errors.Is(err, embedded.ErrConfig) {
		t.Errorf("a member not listed: %v, want ErrConfig", err)
	}
}
