package launcher_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/switchyard/switchyard/discovery/etcd"
	"github.com/switchyard/switchyard/examples/ecommerce/internal/pki"
	"github.com/switchyard/switchyard/examples/ecommerce/internal/settings"
	"github.com/switchyard/switchyard/examples/ecommerce/launcher"
	"github.com/switchyard/switchyard/identity"
	"github.com/switchyard/switchyard/mtls"
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
	chaosRE      = regexp.MustCompile(`Chaos\s+(https://\S+)\?`)
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

// source returns the mtls source of name's certificate in the shop's
// data directory.
func source(t *testing.T, data, name string) *mtls.Source {
	t.Helper()
	f := launcher.IdentityFiles(data, name)
	src, err := mtls.New(mtls.Config{CertFile: f.Cert, KeyFile: f.Key, CAFile: f.CA})
	if err != nil {
		t.Fatalf("the certificate of %s: %v", name, err)
	}
	return src
}

// clientTLS returns the TLS configuration of a client presenting name's
// certificate that accepts only a server holding want's.
func clientTLS(t *testing.T, data, name, want string) *tls.Config {
	t.Helper()
	src := source(t, data, name)
	id, err := src.ServiceID(want)
	if err != nil {
		t.Fatal(err)
	}
	return src.ClientConfig(id)
}

// instances counts the instances of service in the registry, asking as
// the loadgen.
func instances(t *testing.T, data, registryAddr, service string) int {
	t.Helper()
	cli, err := etcd.NewClientTLS(clientTLS(t, data, launcher.LoadgenService, launcher.RegistryService), registryAddr)
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	r, err := etcd.NewResolver(cli, etcd.ResolverConfig{})
	if err != nil {
		t.Fatal(err)
	}
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
	// Certificates this short-lived are past half their life 30 s after
	// they are issued, so the renewal loop renews them during the test.
	cfg.CertLifetime = launcher.MinCertLifetime
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
		if n := instances(t, cfg.Data, reg[1], s); n != 2 {
			t.Errorf("%s has %d instances in the registry, want 2", s, n)
		}
	}
	// Mutual TLS: the development CA, a certificate per identity, each
	// child given its own, and a registry that admits nobody else.
	serials := checkPKI(t, cfg.Data)
	for name, rs := range records(t, cfg.Data) {
		want := launcher.IdentityFiles(cfg.Data, name)
		for _, r := range rs {
			args := strings.Join(r.Args, " ")
			if !strings.Contains(args, "--tls-cert "+want.Cert+" --tls-key "+want.Key+" --tls-ca "+want.CA) {
				t.Errorf("%s was started without its certificate %s: %q", name, want.Cert, r.Args)
			}
			if strings.Contains(args, "--public-tls") {
				t.Errorf("%s was given a public certificate without --public-tls-*: %q", name, r.Args)
			}
		}
	}
	checkRegistryRefusesStrangers(t, cfg.Data, reg[1])

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

	// The chaos API refuses a request without the run's secret, and
	// whoever is not the loadgen even with it.
	secretPath := filepath.Join(cfg.Data, launcher.ChaosSecretFile)
	secret := readSecret(t, secretPath, 0o600)
	if _, err := chaosPostTLS(&tls.Config{InsecureSkipVerify: true}, chaos[1]+"?service=orders", "Bearer "+secret); err == nil {
		t.Error("the chaos API answered a client without a certificate")
	}
	resp, err = chaosPostTLS(clientTLS(t, cfg.Data, "catalog", launcher.ControlService), chaos[1]+"?service=orders", "Bearer "+secret)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Errorf("the chaos API answered %d to catalog's certificate, want 403", resp.StatusCode)
	}
	if strings.Contains(banner, secret) {
		t.Errorf("the banner shows the chaos secret:\n%s", banner)
	}
	for _, tc := range []struct{ name, auth string }{
		{"no secret", ""},
		{"wrong secret", "Bearer " + strings.Repeat("A", len(secret))},
		{"secret without Bearer", secret},
		{"secret with a suffix", "Bearer " + secret + "x"},
	} {
		resp := chaosPost(t, cfg.Data, chaos[1]+"?service=orders", tc.auth)
		var body struct {
			Error struct{ Code, Message string }
		}
		err := json.NewDecoder(resp.Body).Decode(&body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusForbidden || err != nil || body.Error.Code != "forbidden" || body.Error.Message == "" {
			t.Errorf("%s: status %d, body %+v (%v); want 403 with a JSON error", tc.name, resp.StatusCode, body, err)
		}
	}
	if n := len(pids(t, cfg.Data)["orders"]); n != 2 {
		t.Fatalf("%d orders processes after refused kills, want 2", n)
	}

	// With the secret it kills a replica; the supervisor starts it again.
	resp = chaosPost(t, cfg.Data, chaos[1]+"?service=orders", "Bearer "+secret)
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

	resp = chaosPost(t, cfg.Data, chaos[1]+"?service=gateway", "Bearer "+secret)
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest {
		t.Errorf("killing the gateway: status %d, want 400", resp.StatusCode)
	}

	// The certificates are renewed while the shop runs; the registry
	// serves its new one at once, and the shop goes on as before.
	regFile := launcher.IdentityFiles(cfg.Data, launcher.RegistryService).Cert
	waitFor(t, 45*time.Second, "the registry's certificate to be renewed", func() bool {
		return serialOf(t, regFile).Cmp(serials[launcher.RegistryService]) != 0
	})
	conn, err := tls.Dial("tcp", reg[1], clientTLS(t, cfg.Data, launcher.LoadgenService, launcher.RegistryService))
	if err != nil {
		t.Fatalf("TLS to the registry after the renewal: %v", err)
	}
	served := conn.ConnectionState().PeerCertificates[0].SerialNumber
	conn.Close()
	if served.Cmp(serials[launcher.RegistryService]) == 0 {
		t.Errorf("the registry still serves the certificate it started with")
	}
	for _, s := range launcher.Services {
		// The killed replica's registration lives on until its lease
		// expires (5 s).
		waitFor(t, 10*time.Second, "2 instances of "+s+" listed after the renewal", func() bool {
			return instances(t, cfg.Data, reg[1], s) == 2
		})
	}
	if resp, err := http.Get(base[1] + "/readyz"); err != nil || resp.StatusCode != http.StatusOK {
		t.Errorf("gateway /readyz after the renewal: %v %v", resp, err)
	} else {
		resp.Body.Close()
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
	if _, err := os.Stat(secretPath); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("the chaos secret outlives the run: %v", err)
	}
}

// checkPKI checks the development CA's directory under data: mode 0700,
// the CA and a certificate for every identity the launcher uses, each
// file 0600, each leaf carrying its identity and signed by the CA. It
// returns each leaf's serial number, by identity.
func checkPKI(t *testing.T, data string) map[string]*big.Int {
	t.Helper()
	dir := filepath.Join(data, launcher.PKIDir)
	if st, err := os.Stat(dir); err != nil || st.Mode().Perm() != 0o700 {
		t.Fatalf("%s: %v, %v; want a directory of mode 0700", dir, st, err)
	}
	caPEM, err := os.ReadFile(filepath.Join(dir, "ca.pem"))
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(caPEM) {
		t.Fatal("ca.pem holds no certificate")
	}
	serials := map[string]*big.Int{}
	names := append(slices.Clone(launcher.Services), launcher.GatewayService, launcher.RegistryService, launcher.ControlService, launcher.LoadgenService)
	for _, f := range append([]string{"ca", "ca-key"}, names...) {
		p := filepath.Join(dir, f+".pem")
		if st, err := os.Stat(p); err != nil || st.Mode().Perm() != 0o600 {
			t.Errorf("%s: %v, %v; want a file of mode 0600", p, st, err)
		}
	}
	for _, name := range names {
		pair, err := tls.LoadX509KeyPair(filepath.Join(dir, name+".pem"), filepath.Join(dir, name+".pem"))
		if err != nil {
			t.Fatalf("%s.pem: %v", name, err)
		}
		leaf, err := x509.ParseCertificate(pair.Certificate[0])
		if err != nil {
			t.Fatal(err)
		}
		if _, err := leaf.Verify(x509.VerifyOptions{Roots: roots, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
			t.Errorf("%s.pem does not verify against ca.pem: %v", name, err)
		}
		if id, err := identity.FromCertificate(leaf); err != nil || id.String() != "spiffe://shop.internal/"+name {
			t.Errorf("%s.pem carries %v (%v), want spiffe://shop.internal/%s", name, id, err, name)
		}
		serials[name] = leaf.SerialNumber
	}
	return serials
}

// serialOf returns the serial number of the certificate in file.
func serialOf(t *testing.T, file string) *big.Int {
	t.Helper()
	pair, err := tls.LoadX509KeyPair(file, file)
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := x509.ParseCertificate(pair.Certificate[0])
	if err != nil {
		t.Fatal(err)
	}
	return leaf.SerialNumber
}

// checkRegistryRefusesStrangers checks that the registry at addr answers
// neither a plaintext etcd client nor plain HTTP, nor a TLS client
// without a certificate, while the loadgen's certificate is served.
func checkRegistryRefusesStrangers(t *testing.T, data, addr string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	plain, err := etcd.NewClient("http://" + addr)
	if err != nil {
		t.Fatal(err)
	}
	defer plain.Close()
	if _, err := plain.Get(ctx, "/", clientv3.WithPrefix()); err == nil {
		t.Error("the registry answered a plaintext etcd client")
	}
	rangeQuery := `{"key":"Lw==","range_end":"MA=="}`
	hc := &http.Client{Timeout: 3 * time.Second}
	if resp, err := hc.Post("http://"+addr+"/v3/kv/range", "application/json", strings.NewReader(rangeQuery)); err == nil {
		resp.Body.Close()
		if resp.StatusCode == http.StatusOK {
			t.Error("the registry answered a range query in plain HTTP")
		}
	}
	for _, tc := range []struct {
		name string
		cfg  *tls.Config
		ok   bool
	}{
		{"TLS without a certificate", &tls.Config{InsecureSkipVerify: true}, false},
		{"the loadgen's certificate", clientTLS(t, data, launcher.LoadgenService, launcher.RegistryService), true},
	} {
		tr := &http.Transport{TLSClientConfig: tc.cfg}
		resp, err := (&http.Client{Transport: tr, Timeout: 3 * time.Second}).Post("https://"+addr+"/v3/kv/range", "application/json", strings.NewReader(rangeQuery))
		tr.CloseIdleConnections()
		if err == nil {
			resp.Body.Close()
		}
		if got := err == nil && resp.StatusCode == http.StatusOK; got != tc.ok {
			t.Errorf("%s: a range query answered %v (%v), want answered %v", tc.name, got, err, tc.ok)
		}
	}
}

// chaosPost posts to the chaos control API with the Authorization header
// auth (none if empty), as the loadgen.
func chaosPost(t *testing.T, data, url, auth string) *http.Response {
	t.Helper()
	resp, err := chaosPostTLS(clientTLS(t, data, launcher.LoadgenService, launcher.ControlService), url, auth)
	if err != nil {
		t.Fatal(err)
	}
	return resp
}

// chaosPostTLS posts to the chaos control API over a connection made with
// cfg.
func chaosPostTLS(cfg *tls.Config, url, auth string) (*http.Response, error) {
	req, err := http.NewRequest(http.MethodPost, url, nil)
	if err != nil {
		return nil, err
	}
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	tr := &http.Transport{TLSClientConfig: cfg, DisableKeepAlives: true}
	defer tr.CloseIdleConnections()
	return (&http.Client{Transport: tr, Timeout: 10 * time.Second}).Do(req)
}

// readSecret returns the first line of the file at path, checking that it
// has the given mode and holds a non-trivial secret.
func readSecret(t *testing.T, path string, mode fs.FileMode) string {
	t.Helper()
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != mode {
		t.Errorf("%s: mode %v, want %v", path, st.Mode().Perm(), mode)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	s := strings.TrimSuffix(string(b), "\n")
	if len(s) < 20 || strings.ContainsAny(s, "\n ") {
		t.Fatalf("%s holds %q, want one line of at least 20 characters", path, s)
	}
	return s
}

// records returns what the fake children recorded, by service.
func records(t *testing.T, data string) map[string][]childRecord {
	t.Helper()
	out := map[string][]childRecord{}
	for name, ps := range pids(t, data) {
		for _, p := range ps {
			b, err := os.ReadFile(filepath.Join(data, "pids", name+"-"+strconv.Itoa(p)))
			if err != nil {
				t.Fatal(err)
			}
			var r childRecord
			if err := json.Unmarshal(b, &r); err != nil {
				t.Fatalf("record of %s-%d: %v", name, p, err)
			}
			out[name] = append(out[name], r)
		}
	}
	return out
}

// runUntilReady runs the launcher with cfg until its banner is printed and
// returns the banner and a function that stops it and checks that Run
// returned nil.
func runUntilReady(t *testing.T, cfg launcher.Config) (banner string, stop func()) {
	t.Helper()
	out := &lockedBuffer{}
	cfg.Out = out
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- launcher.Run(ctx, cfg) }()
	waitFor(t, 30*time.Second, "the banner", func() bool {
		select {
		case err := <-done:
			cancel()
			t.Fatalf("Run returned early: %v\n%s", err, out)
		default:
		}
		return strings.Contains(out.String(), "Press Ctrl-C")
	})
	return out.String(), func() {
		t.Helper()
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Fatalf("Run = %v, want nil after a requested stop", err)
			}
		case <-time.After(30 * time.Second):
			t.Fatal("Run did not return after cancel")
		}
	}
}

// privateModes lists every file and directory under root whose mode gives
// anything to the group or others.
func privateModes(t *testing.T, root string) []string {
	t.Helper()
	var wide []string
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		want := fs.FileMode(0o600)
		if d.IsDir() {
			want = 0o700
		}
		if info.Mode().Perm() != want {
			wide = append(wide, fmt.Sprintf("%s %v", path, info.Mode().Perm()))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return wide
}

// With a umask that lets everything through, and a data directory left
// world-readable by an earlier run, every directory under the data
// directory ends up 0700 and every file 0600; the generated admin password
// is passed to the users children by file and reused by the next run.
func TestRunKeepsTheDataPrivate(t *testing.T) {
	old := syscall.Umask(0)
	defer syscall.Umask(old)
	cfg := testConfig(t)
	cfg.Replicas = 1
	cfg.Chaos = true
	var logs lockedBuffer
	cfg.Logger = slog.New(slog.NewTextHandler(&logs, nil))
	// What an older build left: a world-readable directory, database, log.
	if err := os.Chmod(cfg.Data, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(filepath.Join(cfg.Data, "logs"), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"users.db", "logs/users-1.log"} {
		if err := os.WriteFile(filepath.Join(cfg.Data, f), nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}

	banner, stop := runUntilReady(t, cfg)
	passwordPath := filepath.Join(cfg.Data, launcher.AdminPasswordFile)
	password := readSecret(t, passwordPath, 0o600)
	if !strings.Contains(banner, passwordPath) || strings.Contains(banner, password) {
		t.Errorf("the banner should name %s and not show the password:\n%s", passwordPath, banner)
	}
	if wide := privateModes(t, cfg.Data); len(wide) > 0 {
		t.Errorf("not private to the owner under a umask of 0:\n%s", strings.Join(wide, "\n"))
	}
	for _, f := range []string{"users.db", "logs/users-1.log"} {
		if !strings.Contains(logs.String(), filepath.Join(cfg.Data, f)) {
			t.Errorf("tightening %s was not logged:\n%s", f, &logs)
		}
	}
	recs := records(t, cfg.Data)
	if len(recs["users"]) != 1 {
		t.Fatalf("users children: %+v", recs["users"])
	}
	u := recs["users"][0]
	if u.AdminPasswordFile != passwordPath || strings.TrimSpace(u.AdminPassword) != password || u.AdminPasswordEnv != "" {
		t.Errorf("the users child got --admin-password-file %q holding %q, env %q; want %s holding %q",
			u.AdminPasswordFile, u.AdminPassword, u.AdminPasswordEnv, passwordPath, password)
	}
	for name, rs := range recs {
		for _, r := range rs {
			if strings.Contains(strings.Join(r.Args, " "), password) {
				t.Errorf("the password is on the command line of %s: %q", name, r.Args)
			}
			if name != "users" && r.AdminPasswordFile != "" {
				t.Errorf("%s was given the admin password file", name)
			}
		}
	}
	stop()

	// The next run reuses the password, and tightens the file if needed.
	if err := os.Chmod(passwordPath, 0o644); err != nil {
		t.Fatal(err)
	}
	banner, stop = runUntilReady(t, cfg)
	if again := readSecret(t, passwordPath, 0o600); again != password {
		t.Errorf("the second run changed the admin password from %q to %q", password, again)
	}
	if strings.Contains(banner, "generated") {
		t.Errorf("the second run says it generated the password:\n%s", banner)
	}
	stop()
}

// A password from ECOMMERCE_ADMIN_PASSWORD reaches the users children in
// their environment only: not on a command line, not on disk, not in the
// other children's environment.
func TestRunPassesAdminPasswordFromEnvironment(t *testing.T) {
	const password = "from-the-environment-Jq7vX"
	cfg := testConfig(t)
	cfg.Replicas = 1
	cfg.AdminPassword = password
	t.Setenv("ECOMMERCE_ADMIN_PASSWORD", password) // as the command sees it
	banner, stop := runUntilReady(t, cfg)
	defer stop()
	if strings.Contains(banner, password) || !strings.Contains(banner, "ECOMMERCE_ADMIN_PASSWORD") {
		t.Errorf("the banner should name the variable and not show the password:\n%s", banner)
	}
	for name, rs := range records(t, cfg.Data) {
		for _, r := range rs {
			if strings.Contains(strings.Join(r.Args, " "), password) || r.AdminPasswordFile != "" {
				t.Errorf("%s got the password on its command line: %q", name, r.Args)
			}
			want := ""
			if name == "users" {
				want = password
			}
			if r.AdminPasswordEnv != want {
				t.Errorf("%s has ECOMMERCE_ADMIN_PASSWORD=%q, want %q", name, r.AdminPasswordEnv, want)
			}
		}
	}
	if _, err := os.Stat(filepath.Join(cfg.Data, launcher.AdminPasswordFile)); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("a password given in the environment was written to disk: %v", err)
	}
}

// --db reaches users, catalog and orders as ECOMMERCE_DB in their
// environment — never on a command line, where its password would show —
// and the gateway not at all, even when the launcher itself was given it in
// its environment; the banner names it without the password.
func TestRunPassesDBInEnvironment(t *testing.T) {
	const db = "postgres://shop:s3cret-db@127.0.0.1:5432/shop"
	cfg := testConfig(t)
	cfg.Replicas = 1
	cfg.DB = db
	t.Setenv("ECOMMERCE_DB", db) // as the command sees it
	banner, stop := runUntilReady(t, cfg)
	defer stop()
	if !strings.Contains(banner, "postgres://shop:xxxxx@127.0.0.1:5432/shop") || strings.Contains(banner, "s3cret-db") {
		t.Errorf("the banner should name the database without its password:\n%s", banner)
	}
	seen := 0
	for name, rs := range records(t, cfg.Data) {
		for _, r := range rs {
			seen++
			if strings.Contains(strings.Join(r.Args, " "), "s3cret-db") {
				t.Errorf("%s got the database URL on its command line: %q", name, r.Args)
			}
			want := db
			if name == launcher.GatewayService {
				want = ""
			}
			if r.DBEnv != want {
				t.Errorf("%s has ECOMMERCE_DB=%q, want %q", name, r.DBEnv, want)
			}
		}
	}
	if seen != 4 {
		t.Fatalf("%d children recorded, want 4", seen)
	}
}

func TestRunRefusesUnreadableAdminPasswordFile(t *testing.T) {
	cfg := testConfig(t)
	for _, tc := range []struct {
		name, content string
		mode          fs.FileMode
	}{
		{"missing", "", 0},
		{"empty", "\n", 0o600},
		{"readable by others", "a-long-enough-password\n", 0o644},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "pw")
			if tc.mode != 0 {
				if err := os.WriteFile(path, []byte(tc.content), tc.mode); err != nil {
					t.Fatal(err)
				}
				if err := os.Chmod(path, tc.mode); err != nil {
					t.Fatal(err)
				}
			}
			cfg.AdminPasswordFile = path
			err := launcher.Run(context.Background(), cfg)
			if !errors.Is(err, launcher.ErrConfig) || !strings.Contains(err.Error(), "--admin-password-file") {
				t.Fatalf("Run = %v, want ErrConfig naming --admin-password-file", err)
			}
		})
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
	dir := t.TempDir()
	pub, _, err := pki.SelfSigned(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	other, _, err := pki.SelfSigned(t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	otherKey := filepath.Join(dir, "other-key.pem")
	raw, err := os.ReadFile(other)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(otherKey, raw[bytes.Index(raw, []byte("-----BEGIN PRIVATE KEY")):], 0o600); err != nil {
		t.Fatal(err)
	}
	garbage := filepath.Join(dir, "garbage.pem")
	if err := os.WriteFile(garbage, []byte("not PEM\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	missing := filepath.Join(dir, "missing.pem")
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
		{"admin password twice", "--admin-password-file", func(c *launcher.Config) { c.AdminPassword, c.AdminPasswordFile = "pw", "f" }},
		{"public cert without key", "--public-tls-key", func(c *launcher.Config) { c.PublicTLSCert = pub }},
		{"public key without cert", "--public-tls-cert", func(c *launcher.Config) { c.PublicTLSKey = pub }},
		{"public cert and self-signed", "--public-tls-self-signed", func(c *launcher.Config) { c.PublicTLSCert, c.PublicTLSKey, c.PublicTLSSelfSigned = pub, pub, true }},
		{"public key and self-signed", "--public-tls-self-signed", func(c *launcher.Config) { c.PublicTLSKey, c.PublicTLSSelfSigned = pub, true }},
		{"public cert missing", "--public-tls-cert", func(c *launcher.Config) { c.PublicTLSCert, c.PublicTLSKey = missing, pub }},
		{"public key missing", "--public-tls-key", func(c *launcher.Config) { c.PublicTLSCert, c.PublicTLSKey = pub, missing }},
		{"public cert not PEM", "--public-tls-cert", func(c *launcher.Config) { c.PublicTLSCert, c.PublicTLSKey = garbage, pub }},
		{"public key of another cert", "--public-tls-cert", func(c *launcher.Config) { c.PublicTLSCert, c.PublicTLSKey = pub, otherKey }},
		{"public cert and key", "", func(c *launcher.Config) { c.PublicTLSCert, c.PublicTLSKey = pub, pub }},
		{"self-signed", "", func(c *launcher.Config) { c.PublicTLSSelfSigned = true }},
		{"cert lifetime too short", launcher.CertLifetimeEnv, func(c *launcher.Config) { c.CertLifetime = 59 * time.Second }},
		{"cert lifetime negative", launcher.CertLifetimeEnv, func(c *launcher.Config) { c.CertLifetime = -time.Hour }},
		{"cert lifetime", "", func(c *launcher.Config) { c.CertLifetime = launcher.MinCertLifetime }},
		{"db", "", func(c *launcher.Config) { c.DB = "postgres://shop@127.0.0.1/shop" }},
		{"db scheme", "--db", func(c *launcher.Config) { c.DB = "mysql://127.0.0.1/shop" }},
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
			if strings.HasPrefix(tc.flag, "--") && !strings.Contains(err.Error(), settings.EnvName(strings.TrimPrefix(tc.flag, "--"))) {
				t.Errorf("error %q does not name the environment variable", err)
			}
		})
	}
}

// With --public-tls-self-signed the gateway is given a self-signed
// certificate kept in DATA/pki, the launcher waits for it over HTTPS
// and the banner's URLs are https://; with --public-tls-cert and
// --public-tls-key the gateway is given those files.
func TestRunServesPublicTLS(t *testing.T) {
	given := t.TempDir()
	givenCert, givenKey, err := pki.SelfSigned(given, []string{"shop.example"})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		set  func(*launcher.Config)
		// cert is the certificate file the gateway must be given, from
		// the data directory when relative.
		cert, key string
	}{
		{"self-signed", func(c *launcher.Config) { c.PublicTLSSelfSigned = true }, filepath.Join(launcher.PKIDir, pki.SelfSignedFile), filepath.Join(launcher.PKIDir, pki.SelfSignedFile)},
		{"given", func(c *launcher.Config) { c.PublicTLSCert, c.PublicTLSKey = givenCert, givenKey }, givenCert, givenKey},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := testConfig(t)
			cfg.Replicas = 1
			tc.set(&cfg)
			cert, key := tc.cert, tc.key
			if !filepath.IsAbs(cert) {
				cert, key = filepath.Join(cfg.Data, cert), filepath.Join(cfg.Data, key)
			}
			banner, stop := runUntilReady(t, cfg)
			defer stop()
			m := regexp.MustCompile(`Storefront\s+(https://\S+)/`).FindStringSubmatch(banner)
			if m == nil {
				t.Fatalf("banner lacks an https:// storefront:\n%s", banner)
			}
			recs := records(t, cfg.Data)[launcher.GatewayService]
			if len(recs) != 1 {
				t.Fatalf("gateway records: %+v", recs)
			}
			if args := strings.Join(recs[0].Args, " "); !strings.Contains(args, "--public-tls-cert "+cert+" --public-tls-key "+key) {
				t.Errorf("the gateway was started with %q, want --public-tls-cert %s --public-tls-key %s", recs[0].Args, cert, key)
			}
			pemBytes, err := os.ReadFile(cert)
			if err != nil {
				t.Fatal(err)
			}
			roots := x509.NewCertPool()
			roots.AppendCertsFromPEM(pemBytes)
			tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots}}
			defer tr.CloseIdleConnections()
			resp, err := (&http.Client{Transport: tr, Timeout: 5 * time.Second}).Get(m[1] + "/readyz")
			if err != nil {
				t.Fatalf("GET %s/readyz with the public certificate as the only root: %v", m[1], err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				t.Errorf("GET %s/readyz: %d", m[1], resp.StatusCode)
			}
			if resp, err := http.Get(strings.Replace(m[1], "https://", "http://", 1) + "/readyz"); err == nil {
				resp.Body.Close()
				if resp.StatusCode == http.StatusOK {
					t.Error("the gateway answered /readyz in plain HTTP too")
				}
			}
			if st, err := os.Stat(cert); err != nil || st.Mode().Perm() != 0o600 {
				t.Errorf("%s: %v %v, want mode 0600", cert, st, err)
			}
		})
	}
}
