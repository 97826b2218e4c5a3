package launcher_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/switchyard/switchyard/discovery/etcd"
	"github.com/switchyard/switchyard/examples/ecommerce/internal/platform"
	"github.com/switchyard/switchyard/examples/ecommerce/launcher"
)

// lockedBuffer collects the banner while Run writes it.
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

func testConfig(t *testing.T) launcher.Config {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	return launcher.Config{
		Addr:           "127.0.0.1:0",
		RegistryListen: "127.0.0.1:0",
		Data:           t.TempDir(),
		Replicas:       2,
		AdminEmail:     "admin@example.com",
		Executable:     exe,
		Env:            []string{"LAUNCHER_TEST_FAKE_CHILD=1"},
		Logger:         slog.New(slog.NewTextHandler(io.Discard, nil)),
		ReadyTimeout:   30 * time.Second,
		StopTimeout:    10 * time.Second,
		NoSignals:      true,
	}
}

var (
	storefrontRE = regexp.MustCompile(`Storefront\s+(http://\S+)/`)
	registryRE   = regexp.MustCompile(`Registry\s+etcd://(\S+)`)
	chaosRE      = regexp.MustCompile(`Chaos\s+(http://\S+)\?`)
)

// waitFor polls cond every 20 ms until it holds or d passes.
func waitFor(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", d, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// pids returns the pids the fake children recorded, by service.
func pids(t *testing.T, data string) map[string][]int {
	t.Helper()
	ents, err := os.ReadDir(filepath.Join(data, "pids"))
	if errors.Is(err, fs.ErrNotExist) {
		return nil // no child got as far as writing its pid
	}
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]int{}
	for _, e := range ents {
		name, pid, _ := strings.Cut(e.Name(), "-")
		n, err := strconv.Atoi(pid)
		if err != nil {
			t.Fatal(err)
		}
		out[name] = append(out[name], n)
	}
	return out
}

func alive(pid int) bool {
	return syscall.Kill(pid, 0) == nil
}

func instances(t *testing.T, registryAddr, service string) int {
	t.Helper()
	cli, err := etcd.NewClient("http://" + registryAddr)
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	r := etcd.NewResolver(cli)
	defer r.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	w, err := r.Watch(ctx, service)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	select {
	case u := <-w.Updates():
		return len(u.Instances)
	case <-ctx.Done():
		t.Fatal("no update from the registry")
	}
	return 0
}

func TestRunStartsSupervisesAndStops(t *testing.T) {
	cfg := testConfig(t)
	cfg.Chaos = true
	out := &lockedBuffer{}
	cfg.Out = out
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- launcher.Run(ctx, cfg) }()

	waitFor(t, 30*time.Second, "the banner", func() bool {
		select {
		case err := <-done:
			t.Fatalf("Run returned early: %v\n%s", err, out)
		default:
		}
		return strings.Contains(out.String(), "Press Ctrl-C")
	})
	banner := out.String()
	base := storefrontRE.FindStringSubmatch(banner)
	reg := registryRE.FindStringSubmatch(banner)
	chaos := chaosRE.FindStringSubmatch(banner)
	if base == nil || reg == nil || chaos == nil {
		t.Fatalf("banner lacks URLs:\n%s", banner)
	}
	for _, want := range []string{"/admin/", "/api/v1/products", "admin@example.com"} {
		if !strings.Contains(banner, want) {
			t.Errorf("banner lacks %q:\n%s", want, banner)
		}
	}
	resp, err := http.Get(base[1] + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("gateway /readyz = %d", resp.StatusCode)
	}
	for _, s := range launcher.Services {
		if n := instances(t, reg[1], s); n != 2 {
			t.Errorf("%s has %d instances in the registry, want 2", s, n)
		}
	}
	before := pids(t, cfg.Data)
	for _, s := range append(launcher.Services, launcher.GatewayService) {
		want := 2
		if s == launcher.GatewayService {
			want = 1
		}
		if len(before[s]) != want {
			t.Fatalf("%s: %d processes, want %d (%v)", s, len(before[s]), want, before)
		}
	}

	// The chaos API kills a replica; the supervisor starts it again.
	resp, err = http.Post(chaos[1]+"?service=orders", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	var kill launcher.KillResult
	if err := json.NewDecoder(resp.Body).Decode(&kill); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("kill: status %d, %v", resp.StatusCode, err)
	}
	resp.Body.Close()
	if kill.Service != "orders" || kill.PID == 0 {
		t.Fatalf("kill answered %+v", kill)
	}
	waitFor(t, 5*time.Second, "the killed replica to die", func() bool { return !alive(kill.PID) })
	waitFor(t, 10*time.Second, "the killed replica to restart", func() bool { return len(pids(t, cfg.Data)["orders"]) == 3 })

	resp, err = http.Post(chaos[1]+"?service=gateway", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest {
		t.Errorf("killing the gateway: status %d, want 400", resp.StatusCode)
	}

	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Run = %v, want nil after a requested stop", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("Run did not return after cancel")
	}
	for s, ps := range pids(t, cfg.Data) {
		for _, p := range ps {
			if alive(p) {
				t.Errorf("%s process %d is still running", s, p)
			}
		}
	}
	if c, err := net.DialTimeout("tcp", reg[1], time.Second); err == nil {
		c.Close()
		t.Errorf("the registry still listens on %s", reg[1])
	}
}

func TestRunRefusesTakenAddresses(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	taken := ln.Addr().String()
	for _, tc := range []struct {
		flag, env string
		set       func(*launcher.Config)
	}{
		{"--addr", "ECOMMERCE_ADDR", func(c *launcher.Config) { c.Addr = taken }},
		{"--registry-listen", "ECOMMERCE_REGISTRY_LISTEN", func(c *launcher.Config) { c.RegistryListen = taken }},
	} {
		t.Run(tc.flag, func(t *testing.T) {
			cfg := testConfig(t)
			tc.set(&cfg)
			start := time.Now()
			err := launcher.Run(context.Background(), cfg)
			if !errors.Is(err, launcher.ErrAddrInUse) {
				t.Fatalf("Run = %v, want ErrAddrInUse", err)
			}
			for _, want := range []string{tc.flag, tc.env, taken} {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q does not mention %q", err, want)
				}
			}
			if d := time.Since(start); d > 2*time.Second {
				t.Errorf("took %v to fail; want at once", d)
			}
		})
	}
}

func TestRunReportsChildFailingAtStart(t *testing.T) {
	cfg := testConfig(t)
	cfg.Env = append(cfg.Env, "LAUNCHER_TEST_FAIL=catalog")
	err := launcher.Run(context.Background(), cfg)
	if !errors.Is(err, launcher.ErrChildFailed) {
		t.Fatalf("Run = %v, want ErrChildFailed", err)
	}
	for _, want := range []string{"catalog-", "the database is on fire"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error does not mention %q:\n%v", want, err)
		}
	}
	for s, ps := range pids(t, cfg.Data) {
		for _, p := range ps {
			if alive(p) {
				t.Errorf("%s process %d is still running", s, p)
			}
		}
	}
}

// A launcher killed with SIGKILL takes its children with it (Pdeathsig).
func TestChildrenDieWithKilledLauncher(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("Pdeathsig is Linux-only")
	}
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	data := t.TempDir()
	cmd := exec.Command(exe)
	cmd.Env = append(os.Environ(), "LAUNCHER_TEST_FAKE_UP="+data)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	ready := make(chan bool, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if strings.Contains(sc.Text(), "Press Ctrl-C") {
				ready <- true
				break
			}
		}
		_, _ = io.Copy(io.Discard, stdout)
		close(ready)
	}()
	select {
	case ok := <-ready:
		if !ok {
			_ = cmd.Wait()
			t.Fatalf("launcher exited before it was ready: %s", stderr.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatal("launcher not ready in time")
	}
	children := pids(t, data)
	if len(children) != 4 {
		t.Fatalf("children: %v, want one per service and the gateway", children)
	}
	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()
	waitFor(t, 10*time.Second, "every child to die with the launcher", func() bool {
		for _, ps := range children {
			for _, p := range ps {
				if alive(p) {
					return false
				}
			}
		}
		return true
	})
}

func TestConfigValidate(t *testing.T) {
	valid := func() launcher.Config {
		return launcher.Config{Addr: "127.0.0.1:8080", RegistryListen: "127.0.0.1:2379", Data: "d", Replicas: 2, AdminEmail: "a@b.c"}
	}
	for _, tc := range []struct {
		name, flag string
		edit       func(*launcher.Config)
	}{
		{"ok", "", func(*launcher.Config) {}},
		{"addr without port", "--addr", func(c *launcher.Config) { c.Addr = "localhost" }},
		{"addr bad port", "--addr", func(c *launcher.Config) { c.Addr = "127.0.0.1:99999" }},
		{"registry", "--registry-listen", func(c *launcher.Config) { c.RegistryListen = "nope" }},
		{"data", "--data", func(c *launcher.Config) { c.Data = " " }},
		{"no replicas", "--replicas", func(c *launcher.Config) { c.Replicas = 0 }},
		{"too many replicas", "--replicas", func(c *launcher.Config) { c.Replicas = launcher.MaxReplicas + 1 }},
		{"admin email", "--admin-email", func(c *launcher.Config) { c.AdminEmail = "admin" }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := valid()
			tc.edit(&c)
			err := c.Validate()
			if tc.flag == "" {
				if err != nil {
					t.Fatalf("Validate = %v", err)
				}
				return
			}
			if !errors.Is(err, launcher.ErrConfig) || !strings.Contains(err.Error(), tc.flag) {
				t.Fatalf("Validate = %v, want ErrConfig naming %s", err, tc.flag)
			}
			if !strings.Contains(err.Error(), platform.EnvName(strings.TrimPrefix(tc.flag, "--"))) {
				t.Errorf("error %q does not name the environment variable", err)
			}
		})
	}
}
