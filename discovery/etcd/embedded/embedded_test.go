package embedded_test

import (
	"context"
	"errors"
	"net"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/goleak"
	"go.uber.org/zap"

	"github.com/switchyard/switchyard/discovery/etcd/embedded"
)

func TestMain(m *testing.M) {
	// The members of a stopped cluster leave peer connections behind
	// (etcd's rafthttp keeps idle HTTP connections between members that
	// Close does not close); they end on their 5 s read timeout. Give them
	// up to 10 s before calling them leaked.
	goleak.VerifyTestMain(patientRunner{m})
}

// patientRunner runs the tests, then waits until no goroutine is left or
// 10 s have passed, before goleak looks.
type patientRunner struct{ m *testing.M }

func (r patientRunner) Run() int {
	code := r.m.Run()
	for deadline := time.Now().Add(10 * time.Second); goleak.Find() != nil && time.Now().Before(deadline); {
		time.Sleep(100 * time.Millisecond)
	}
	return code
}

func newClient(t *testing.T, srv *embedded.Server) *clientv3.Client {
	t.Helper()
	cli, err := clientv3.New(clientv3.Config{
		Endpoints:   srv.Endpoints(),
		DialTimeout: 5 * time.Second,
		Logger:      zap.NewNop(),
	})
	if err != nil {
		t.Fatal(err)
	}
	return cli
}

func TestStartServesAndKeepsDataAcrossRestart(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	dir := t.TempDir()
	srv, err := embedded.Start(ctx, dir, "127.0.0.1:0", embedded.Config{})
	if err != nil {
		t.Fatal(err)
	}
	addr := srv.Addr()
	if host, port, _ := net.SplitHostPort(addr); host != "127.0.0.1" || port == "0" {
		t.Fatalf("Addr() = %q, want 127.0.0.1 with a concrete port", addr)
	}
	if got := srv.Endpoints(); len(got) != 1 || got[0] != "http://"+addr {
		t.Fatalf("Endpoints() = %v, want [http://%s]", got, addr)
	}
	cli := newClient(t, srv)
	if _, err := cli.Put(ctx, "k", "v1"); err != nil {
		t.Fatal(err)
	}
	cli.Close()
	if err := srv.Close(); err != nil {
		t.Fatal(err)
	}
	if err := srv.Close(); err != nil { // idempotent
		t.Fatal(err)
	}

	srv, err = embedded.Start(ctx, dir, addr, embedded.Config{})
	if err != nil {
		t.Fatalf("restart on the same directory and address: %v", err)
	}
	defer srv.Close()
	cli = newClient(t, srv)
	defer cli.Close()
	resp, err := cli.Get(ctx, "k")
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.Kvs) != 1 || string(resp.Kvs[0].Value) != "v1" {
		t.Fatalf("after restart k = %v, want v1", resp.Kvs)
	}
}

func TestStartRejectsBadConfig(t *testing.T) {
	ctx := context.Background()
	for _, addr := range []string{"", "127.0.0.1", "127.0.0.1:x", "127.0.0.1:70000", "127.0.0.1:-1"} {
		if srv, err := embedded.Start(ctx, t.TempDir(), addr, embedded.Config{}); !errors.Is(err, embedded.ErrConfig) {
			if srv != nil {
				srv.Close()
			}
			t.Errorf("Start(%q) = %v, want ErrConfig", addr, err)
		}
		if addr == "" {
			continue // an empty PeerAddr is the default
		}
		cfg := embedded.Config{PeerAddr: addr}
		if srv, err := embedded.Start(ctx, t.TempDir(), "127.0.0.1:0", cfg); !errors.Is(err, embedded.ErrConfig) {
			if srv != nil {
				srv.Close()
			}
			t.Errorf("Start with PeerAddr %q = %v, want ErrConfig", addr, err)
		}
	}
	if srv, err := embedded.Start(ctx, "", "127.0.0.1:0", embedded.Config{}); !errors.Is(err, embedded.ErrConfig) {
		if srv != nil {
			srv.Close()
		}
		t.Errorf("Start with an empty directory = %v, want ErrConfig", err)
	}
}

func TestStartHonoursContext(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	srv, err := embedded.Start(ctx, t.TempDir(), "127.0.0.1:0", embedded.Config{})
	if err == nil {
		srv.Close()
		t.Fatal("Start succeeded with a cancelled context")
	}
	if !errors.Is(err, embedded.ErrNotReady) || !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want ErrNotReady wrapping context.Canceled", err)
	}
}
