package e2e_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/switchyard/switchyard/examples/ecommerce/internal/pki"
	"github.com/switchyard/switchyard/examples/ecommerce/internal/registry"
	"github.com/switchyard/switchyard/mtls"
)

// Bounds of the shop's life cycle. Start-up takes about 1.5 s on the
// 2-core CI machine and a drain about 4 s (the gateway's, then the
// services'); the bounds leave room for a loaded machine.
const (
	startTimeout = 60 * time.Second
	stopTimeout  = 30 * time.Second
	adminEmail   = "admin@example.com"
)

// shop is one run of "ecommerce up" started by a test.
type shop struct {
	data, addr, registry string
	base                 string // http://addr
	cmd                  *exec.Cmd
	stdout, stderr       *lockedBuffer
	exited               chan struct{} // closed once cmd.Wait has returned
	waitErr              error         // cmd.Wait's result, set before exited is closed
	stopOnce             sync.Once
}

// lockedBuffer collects a child's output while it runs.
type lockedBuffer struct {
	mu sync.Mutex // guards b
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// freeAddr returns a loopback address with a port that was free a moment
// ago.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// startShop runs "ecommerce up" on data with the gateway on addr and the
// embedded etcd on registry, and returns once the launcher has printed its
// banner and the gateway answers GET /readyz with 200. The shop is killed
// (not drained) at the end of the test if the test has not stopped it.
func startShop(t *testing.T, data, addr, registry string) *shop {
	t.Helper()
	s, err := launch(t, data, addr, registry)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// startShopOnFreePorts is startShop on ports chosen here, trying other
// ports when one was taken between the choice and the launcher's listen.
// env adds KEY=VALUE variables to the launcher's environment.
func startShopOnFreePorts(t *testing.T, data string, env ...string) *shop {
	t.Helper()
	for attempt := 1; ; attempt++ {
		addr, registry := freeAddr(t), freeAddr(t)
		if addr == registry {
			continue
		}
		s, err := launch(t, data, addr, registry, env...)
		if err == nil {
			return s
		}
		if attempt == 3 || !strings.Contains(err.Error(), "already in use") {
			t.Fatal(err)
		}
		t.Logf("ports taken meanwhile, trying others: %v", err)
	}
}

// launch starts "ecommerce up" with env added to the environment that
// shopEnv leaves it, and waits until the shop is ready.
func launch(t *testing.T, data, addr, registry string, env ...string) (*shop, error) {
	t.Helper()
	s := &shop{
		data: data, addr: addr, registry: registry, base: "http://" + addr,
		stdout: &lockedBuffer{}, stderr: &lockedBuffer{}, exited: make(chan struct{}),
	}
	s.cmd = exec.Command(binary, "up",
		"--addr", addr,
		"--registry-listen", registry,
		"--data", data,
		"--admin-email", adminEmail,
	)
	s.cmd.Env = append(shopEnv(), env...)
	s.cmd.Stdout = s.stdout
	s.cmd.Stderr = s.stderr
	if err := s.cmd.Start(); err != nil {
		return nil, fmt.Errorf("start ecommerce up: %w", err)
	}
	go func() {
		s.waitErr = s.cmd.Wait()
		close(s.exited)
	}()
	t.Cleanup(func() { s.kill(t) })

	began := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
	defer cancel()
	hc := &http.Client{Timeout: time.Second}
	defer hc.CloseIdleConnections()
	for {
		if strings.Contains(s.stdout.String(), "Switchyard shop is up") && s.ready(ctx, hc) {
			break
		}
		select {
		case <-s.exited:
			return nil, fmt.Errorf("ecommerce up exited during start-up (%v)\nstdout:\n%s\nstderr:\n%s\n%s",
				s.waitErr, s.stdout, s.stderr, s.logs())
		case <-ctx.Done():
			s.kill(t)
			return nil, fmt.Errorf("the shop was not ready within %v\nstdout:\n%s\nstderr:\n%s\n%s",
				startTimeout, s.stdout, s.stderr, s.logs())
		case <-time.After(50 * time.Millisecond):
		}
	}
	t.Logf("shop up at %s in %v (data %s)", s.base, time.Since(began).Round(time.Millisecond), data)
	return s, nil
}

// shopEnv is the test's environment without ECOMMERCE_* variables, so that
// a developer's settings cannot change what the tests start.
func shopEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "ECOMMERCE_") {
			env = append(env, kv)
		}
	}
	return env
}

func (s *shop) ready(ctx context.Context, hc *http.Client) bool {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.base+"/readyz", nil)
	if err != nil {
		return false
	}
	resp, err := hc.Do(req)
	if err != nil {
		return false
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

// stop sends SIGTERM to the launcher and checks that it exits with status 0
// within stopTimeout and that no process of the shop is left.
func (s *shop) stop(t *testing.T) {
	t.Helper()
	stopped := false
	s.stopOnce.Do(func() {
		stopped = true
		began := time.Now()
		if err := s.cmd.Process.Signal(syscall.SIGTERM); err != nil {
			t.Errorf("SIGTERM to the launcher: %v", err)
		}
		select {
		case <-s.exited:
		case <-time.After(stopTimeout):
			t.Errorf("ecommerce up did not exit within %v of SIGTERM; killing the shop\nstderr:\n%s", stopTimeout, s.stderr)
			s.killTree()
			<-s.exited
		}
		if s.waitErr != nil {
			t.Errorf("ecommerce up exited with %v after SIGTERM, want status 0\nstderr:\n%s", s.waitErr, s.stderr)
		}
		t.Logf("shop stopped in %v", time.Since(began).Round(time.Millisecond))
		// The launcher reaps its children before it exits, so nothing may
		// be left by now; a short grace only tolerates /proc lagging.
		var left []proc
		for deadline := time.Now().Add(2 * time.Second); ; {
			if left = shopProcesses(s.data); len(left) == 0 || time.Now().After(deadline) {
				break
			}
			time.Sleep(50 * time.Millisecond)
		}
		if len(left) > 0 {
			t.Errorf("processes of the shop left after the launcher exited: %v", left)
			for _, p := range left {
				_ = syscall.Kill(p.pid, syscall.SIGKILL)
			}
		}
	})
	if !stopped {
		t.Errorf("shop already stopped")
	}
}

// kill ends whatever is left of the shop at once (test clean-up).
func (s *shop) kill(t *testing.T) {
	s.stopOnce.Do(func() {
		s.killTree()
		select {
		case <-s.exited:
		case <-time.After(10 * time.Second):
			t.Errorf("ecommerce up did not exit after SIGKILL")
		}
		if t.Failed() {
			t.Logf("shop stderr:\n%s\n%s", s.stderr, s.logs())
		}
	})
}

func (s *shop) killTree() {
	_ = s.cmd.Process.Kill()
	for _, p := range shopProcesses(s.data) {
		_ = syscall.Kill(p.pid, syscall.SIGKILL)
	}
}

// logs returns the tail of every child's log, for failure messages.
func (s *shop) logs() string {
	files, _ := filepath.Glob(filepath.Join(s.data, "logs", "*.log"))
	var b strings.Builder
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		const max = 3000
		if len(data) > max {
			data = data[len(data)-max:]
		}
		fmt.Fprintf(&b, "--- %s (tail)\n%s\n", filepath.Base(f), data)
	}
	return b.String()
}

// proc is a process found in /proc.
type proc struct {
	pid  int
	args []string
}

func (p proc) String() string { return fmt.Sprintf("%d %q", p.pid, p.args) }

// shopProcesses returns every live process whose command line mentions
// data: the launcher and its children. Zombies have an empty command line
// and are not listed.
func shopProcesses(data string) []proc {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	self := os.Getpid()
	var out []proc
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == self {
			continue
		}
		raw, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err != nil || !bytes.Contains(raw, []byte(data)) {
			continue
		}
		args := strings.Split(strings.TrimRight(string(raw), "\x00"), "\x00")
		out = append(out, proc{pid: pid, args: args})
	}
	return out
}

// servicePIDs returns the pids of the running "serve service" children.
func (s *shop) servicePIDs(service string) []int {
	var pids []int
	for _, p := range shopProcesses(s.data) {
		if len(p.args) >= 3 && p.args[1] == "serve" && p.args[2] == service {
			pids = append(pids, p.pid)
		}
	}
	return pids
}

// rssKiB returns the resident memory of pid (VmRSS in /proc/pid/status).
func rssKiB(pid int) (int64, error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for line := range strings.SplitSeq(string(data), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			f := strings.Fields(rest)
			if len(f) == 0 {
				break
			}
			return strconv.ParseInt(f[0], 10, 64)
		}
	}
	return 0, errors.New("e2e: no VmRSS in /proc status")
}

// issue returns the files of a new certificate for service from the
// shop's development CA, as someone who can read the shop's data directory
// could make one. The CA is copied into a directory of the test's own, so
// the shop's files, which its processes watch, are left alone.
func (s *shop) issue(t *testing.T, service string) pki.Files {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "pki")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{pki.CAFile, pki.CAKeyFile} {
		b, err := os.ReadFile(s.pkiFile(name))
		if err != nil {
			t.Fatalf("the shop's CA: %v", err)
		}
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	a, err := pki.Open(dir, pki.Config{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	f, err := a.Issue(service)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// connectRegistry connects to the shop's registry over mutual TLS with
// src's certificate, accepting only a server that holds the registry's
// identity. The connection is closed at the end of the test.
func (s *shop) connectRegistry(ctx context.Context, t *testing.T, src *mtls.Source) *registry.Conn {
	t.Helper()
	want, err := src.ServiceID("registry")
	if err != nil {
		t.Fatal(err)
	}
	reg, err := registry.Connect(ctx, "etcd://"+s.registry, registry.WithTLS(src.ClientConfig(want)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { reg.Close() })
	return reg
}
