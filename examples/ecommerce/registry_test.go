package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"

	"github.com/switchyard/switchyard/identity"
	"github.com/switchyard/switchyard/mtls/mtlstest"
)

// registryPKI writes a CA, the registry's certificate and key (one file),
// a client's, a file of garbage and a CA file holding a key into dir.
func registryPKI(t *testing.T, dir string) (ca *mtlstest.CA, files map[string]string) {
	t.Helper()
	ca = mtlstest.NewCA("shop CA")
	files = map[string]string{}
	for _, name := range []string{"ca", "registry", "orders", "garbage"} {
		files[name] = filepath.Join(dir, name+".pem")
	}
	mtlstest.WriteFile(files["ca"], ca.PEM)
	for _, svc := range []string{"registry", "orders"} {
		id, err := identity.ForService("shop.test", svc)
		if err != nil {
			t.Fatal(err)
		}
		ca.Issue(id).Write(files[svc], files[svc])
	}
	mtlstest.WriteFile(files["garbage"], []byte("not PEM"))
	return ca, files
}

func TestRegistryTLSFlags(t *testing.T) {
	clearEnv(t)
	_, f := registryPKI(t, t.TempDir())
	missing := filepath.Join(t.TempDir(), "missing.pem")
	for _, tc := range []struct {
		name string
		args []string
		env  map[string]string
		out  string
	}{
		{"cert alone", []string{"--tls-cert", f["registry"]}, nil, "--tls-key (ECOMMERCE_TLS_KEY) is missing"},
		{"no CA", []string{"--tls-cert", f["registry"], "--tls-key", f["registry"]}, nil, "--tls-ca (ECOMMERCE_TLS_CA) is missing"},
		{"CA alone", []string{"--tls-ca", f["ca"]}, nil, "--tls-cert (ECOMMERCE_TLS_CERT) is missing"},
		{"partly from the environment", []string{"--tls-ca", f["ca"]}, map[string]string{"ECOMMERCE_TLS_CERT": f["registry"]}, "--tls-key (ECOMMERCE_TLS_KEY) is missing"},
		{"missing cert", []string{"--tls-cert", missing, "--tls-key", f["registry"], "--tls-ca", f["ca"]}, nil, "--tls-cert (ECOMMERCE_TLS_CERT)"},
		{"missing key", []string{"--tls-cert", f["registry"], "--tls-key", missing, "--tls-ca", f["ca"]}, nil, "--tls-key (ECOMMERCE_TLS_KEY)"},
		{"garbage cert", []string{"--tls-cert", f["garbage"], "--tls-key", f["registry"], "--tls-ca", f["ca"]}, nil, "--tls-cert (ECOMMERCE_TLS_CERT)"},
		{"key of another certificate", []string{"--tls-cert", f["registry"], "--tls-key", f["orders"], "--tls-ca", f["ca"]}, nil, "--tls-cert (ECOMMERCE_TLS_CERT)"},
		{"garbage CA", []string{"--tls-cert", f["registry"], "--tls-key", f["registry"], "--tls-ca", f["garbage"]}, nil, "--tls-ca (ECOMMERCE_TLS_CA)"},
		{"CA file with a key", []string{"--tls-cert", f["registry"], "--tls-key", f["registry"], "--tls-ca", f["orders"]}, nil, "PRIVATE KEY block"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for k, v := range tc.env {
				t.Setenv(k, v)
			}
			args := append([]string{"registry", "--listen", "127.0.0.1:0", "--data", t.TempDir()}, tc.args...)
			var stdout, stderr bytes.Buffer
			if code := run(args, &stdout, &stderr); code != 2 || !strings.Contains(stderr.String(), tc.out) {
				t.Errorf("exit %d, stderr %q; want 2 and %q", code, &stderr, tc.out)
			}
			if stdout.Len() != 0 {
				t.Errorf("stdout %q: the registry started", &stdout)
			}
		})
	}
}

func TestRegistryClusterFlags(t *testing.T) {
	clearEnv(t)
	_, f := registryPKI(t, t.TempDir())
	tlsArgs := []string{"--tls-cert", f["registry"], "--tls-key", f["registry"], "--tls-ca", f["ca"]}
	const plain = "a=http://127.0.0.1:2380,b=http://127.0.0.1:2381"
	for _, tc := range []struct {
		name string
		args []string
		env  map[string]string
		out  string
	}{
		{"cluster without a name", []string{"--initial-cluster", plain}, nil, "--name (ECOMMERCE_NAME) is missing"},
		{"cluster from the environment without a name", nil, map[string]string{"ECOMMERCE_INITIAL_CLUSTER": plain}, "--name (ECOMMERCE_NAME) is missing"},
		{"name not in the cluster", []string{"--name", "c", "--initial-cluster", plain}, nil, `--initial-cluster (ECOMMERCE_INITIAL_CLUSTER): embedded: invalid configuration: InitialCluster "` + plain + `": it does not list this member, "c"`},
		{"not name=URL", []string{"--name", "a", "--initial-cluster", "a=http://127.0.0.1:2380,127.0.0.1:2381"}, nil, "--initial-cluster (ECOMMERCE_INITIAL_CLUSTER)"},
		{"https without TLS files", []string{"--name", "a", "--initial-cluster", "a=https://127.0.0.1:2380"}, nil, "this server speaks http"},
		{"http with TLS files", append([]string{"--name", "a", "--initial-cluster", "a=http://127.0.0.1:2380"}, tlsArgs...), nil, "this server speaks https"},
		{"no port", []string{"--name", "a", "--initial-cluster", "a=http://127.0.0.1"}, nil, "non-zero port"},
		{"bad state", []string{"--initial-cluster-state", "joined"}, nil, `--initial-cluster-state (ECOMMERCE_INITIAL_CLUSTER_STATE) is "joined": want new or existing`},
		{"existing without a cluster", []string{"--initial-cluster-state", "existing"}, nil, "needs --initial-cluster (ECOMMERCE_INITIAL_CLUSTER)"},
		{"bad peer address", []string{"--peer-listen", "127.0.0.1"}, nil, "--peer-listen (ECOMMERCE_PEER_LISTEN)"},
		{"peer port 0 in a cluster", []string{"--name", "a", "--initial-cluster", plain, "--peer-listen", "127.0.0.1:0"}, nil, "--peer-listen (ECOMMERCE_PEER_LISTEN) \"127.0.0.1:0\" has port 0"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for k, v := range tc.env {
				t.Setenv(k, v)
			}
			args := append([]string{"registry", "--listen", "127.0.0.1:0", "--data", t.TempDir()}, tc.args...)
			var stdout, stderr bytes.Buffer
			if code := run(args, &stdout, &stderr); code != 2 || !strings.Contains(stderr.String(), tc.out) {
				t.Errorf("exit %d, stderr %q; want 2 and %q", code, &stderr, tc.out)
			}
			if stdout.Len() != 0 {
				t.Errorf("stdout %q: the registry started", &stdout)
			}
		})
	}
}

// syncBuffer is a bytes.Buffer safe for one writer and one reader.
type syncBuffer struct {
	mu sync.Mutex // guards b
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// "ecommerce registry" with its TLS files taken from the environment
// serves clients with a certificate of the shop's CA and no others, and
// stops on SIGTERM with exit code 0.
func TestRegistryServesTLS(t *testing.T) {
	clearEnv(t)
	ca, f := registryPKI(t, t.TempDir())
	t.Setenv("ECOMMERCE_TLS_CERT", f["registry"])
	t.Setenv("ECOMMERCE_TLS_KEY", f["registry"])
	t.Setenv("ECOMMERCE_TLS_CA", f["ca"])
	var stdout, stderr syncBuffer
	done := make(chan int, 1)
	go func() {
		done <- run([]string{"registry", "--listen", "127.0.0.1:0", "--data", t.TempDir()}, &stdout, &stderr)
	}()
	serving := regexp.MustCompile(`etcd://(127\.0\.0\.1:\d+) \(TLS, client certificates`)
	var addr string
	deadline := time.Now().Add(30 * time.Second)
	for addr == "" {
		if m := serving.FindStringSubmatch(stdout.String()); m != nil {
			addr = m[1]
			continue
		}
		select {
		case code := <-done:
			t.Fatalf("registry exited %d: %s %s", code, stdout.String(), stderr.String())
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("registry did not start: %s %s", stdout.String(), stderr.String())
		}
	}

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	get := func(cfg *tls.Config, timeout time.Duration) error {
		cli, err := clientv3.New(clientv3.Config{Endpoints: []string{"https://" + addr}, TLS: cfg, Logger: zap.NewNop()})
		if err != nil {
			t.Fatal(err)
		}
		defer cli.Close()
		gctx, gcancel := context.WithTimeout(ctx, timeout)
		defer gcancel()
		_, err = cli.Get(gctx, "k")
		return err
	}
	roots := mtlstest.Pool(ca)
	good := &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS13, Certificates: []tls.Certificate{loadPair(t, f["orders"])}}
	if err := get(good, 5*time.Second); err != nil {
		t.Fatalf("get with the shop's certificate: %v", err)
	}
	if err := get(&tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS13}, time.Second); err == nil {
		t.Error("get without a client certificate succeeded")
	}

	if err := syscall.Kill(syscall.Getpid(), syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case code := <-done:
		if code != 0 {
			t.Errorf("exit %d after SIGTERM: %s", code, stderr.String())
		}
	case <-time.After(20 * time.Second):
		t.Fatal("registry did not stop on SIGTERM")
	}
}

func loadPair(t *testing.T, file string) tls.Certificate {
	t.Helper()
	c, err := tls.LoadX509KeyPair(file, file)
	if err != nil {
		t.Fatal(err)
	}
	return c
}
