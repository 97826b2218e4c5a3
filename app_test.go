package switchyard_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/switchyard/switchyard"
	"github.com/switchyard/switchyard/discovery"
	"github.com/switchyard/switchyard/discovery/memory"
	"github.com/switchyard/switchyard/internal/clock"
	shttp "github.com/switchyard/switchyard/transport/http"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

var quiet = slog.New(slog.DiscardHandler)

// runApp runs app in a goroutine and waits until it is ready. The returned
// channel delivers Run's result.
func runApp(t *testing.T, ctx context.Context, app *switchyard.App) <-chan error {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- app.Run(ctx) }()
	select {
	case <-app.Ready():
	case err := <-done:
		t.Fatalf("Run returned before ready: %v", err)
	case <-time.After(5 * time.Second):
		t.Fatal("app not ready")
	}
	return done
}

func waitRun(t *testing.T, done <-chan error, within time.Duration) error {
	t.Helper()
	select {
	case err := <-done:
		return err
	case <-time.After(within):
		t.Fatalf("Run did not return within %v", within)
		return nil
	}
}

// eventually polls cond every millisecond for up to 5s. It waits for other
// goroutines to make progress, never for a timer.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

func newClient(t *testing.T) *http.Client {
	tr := shttp.NewTransport()
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr, Timeout: 10 * time.Second}
}

func get(c *http.Client, url string) (int, string, error) {
	resp, err := c.Get(url)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body), err
}

func readyStatus(t *testing.T, c *http.Client, addr string) (int, string) {
	t.Helper()
	code, body, err := get(c, "http://"+addr+"/readyz")
	if err != nil {
		t.Fatal(err)
	}
	var b struct{ Status string }
	_ = json.Unmarshal([]byte(body), &b)
	return code, b.Status
}

func instancesOf(t *testing.T, r discovery.Resolver, service string) []discovery.Instance {
	t.Helper()
	w, err := r.Watch(context.Background(), service)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	return (<-w.Updates()).Instances
}

// newApp returns switchyard.New(cfg), failing t on an error.
func newApp(t *testing.T, cfg switchyard.Config) *switchyard.App {
	t.Helper()
	app, err := switchyard.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return app
}

// newClockedApp is newApp with the drain, confirm and shutdown timers on
// c: the tests serve over real listeners, which rules out a
// testing/synctest bubble.
func newClockedApp(t *testing.T, cfg switchyard.Config, c clock.Clock) *switchyard.App {
	t.Helper()
	app := newApp(t, cfg)
	switchyard.SetClock(app, c)
	return app
}

// TestNewRejectsInvalidConfig: negative durations and contradictory
// fields are an ErrConfig from New, never clamped.
func TestNewRejectsInvalidConfig(t *testing.T) {
	for name, cfg := range map[string]switchyard.Config{
		"negative drain delay":      {DrainDelay: -time.Second},
		"negative confirm timeout":  {ConfirmTimeout: -time.Second},
		"negative shutdown timeout": {ShutdownTimeout: -time.Second},
		"negative register timeout": {RegisterTimeout: -time.Second},
		"NoDrainDelay and delay":    {DrainDelay: time.Second, NoDrainDelay: true},
		"NoSignals and signals":     {Signals: []os.Signal{syscall.SIGUSR2}, NoSignals: true},
	} {
		if app, err := switchyard.New(cfg); !errors.Is(err, switchyard.ErrConfig) || app != nil {
			t.Errorf("New(%s) = %v, %v; want nil, ErrConfig", name, app, err)
		}
	}
}

// TestAppLifecycleOrder drives an App on a fake clock and checks each step
// of a graceful stop in order: ready and registered; on cancel, readiness
// fails and the instance is deregistered while requests are still served
// for the whole drain delay; then the listener closes and Run returns nil.
func TestAppLifecycleOrder(t *testing.T) {
	fake := clock.NewFake(time.Unix(1000, 0))
	reg := memory.New()
	defer reg.Close()
	app := newClockedApp(t, switchyard.Config{Registrar: reg, DrainDelay: 2 * time.Second, NoSignals: true, Logger: quiet}, fake)
	mux := http.NewServeMux()
	app.Health().Mount(mux)
	mux.HandleFunc("GET /work", func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "done") })
	if err := app.Add(switchyard.Server{Service: "work", Addr: "127.0.0.1:0", Handler: mux,
		Instance: discovery.Instance{Zone: "z1", Meta: map[string]string{"v": "1"}}}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := runApp(t, ctx, app)
	c := newClient(t)

	addr := app.Addrs()[0].String()
	insts := app.Instances()
	if len(insts) != 1 || insts[0].Addr != addr || insts[0].Service != "work" || insts[0].Zone != "z1" || insts[0].Meta["v"] != "1" {
		t.Fatalf("instances %+v, listener %s", insts, addr)
	}
	if got := instancesOf(t, reg, "work"); len(got) != 1 || got[0].ID != insts[0].ID {
		t.Fatalf("registry holds %+v", got)
	}
	if code, status := readyStatus(t, c, addr); code != 200 || status != "ready" {
		t.Fatalf("readyz %d %s", code, status)
	}

	cancel()
	// The drain delay is the only timer pending once draining started.
	eventually(t, "the drain delay", func() bool { return fake.Pending() == 1 })
	if app.Health().State() != shttp.Draining {
		t.Fatalf("state %v", app.Health().State())
	}
	if got := instancesOf(t, reg, "work"); len(got) != 0 {
		t.Fatalf("still registered while draining: %+v", got)
	}
	if code, status := readyStatus(t, c, addr); code != 503 || status != "draining" {
		t.Fatalf("readyz while draining: %d %s", code, status)
	}
	fake.Advance(2*time.Second - time.Nanosecond)
	if code, body, err := get(c, "http://"+addr+"/work"); err != nil || code != 200 || body != "done" {
		t.Fatalf("not serving during the drain delay: %d %q %v", code, body, err)
	}
	select {
	case err := <-done:
		t.Fatalf("Run returned before the drain delay: %v", err)
	default:
	}
	fake.Advance(time.Nanosecond)
	if err := waitRun(t, done, 5*time.Second); err != nil {
		t.Fatalf("Run: %v", err)
	}
	if _, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
		t.Fatal("listener still open after Run returned")
	}
	if err := app.Run(context.Background()); !errors.Is(err, switchyard.ErrAppStarted) {
		t.Fatalf("second Run: %v", err)
	}
}

// TestAppShutdownTimeoutCutsHungRequests: a request that never finishes is
// waited for up to the shutdown timeout, then its connection is closed and
// Run reports it.
func TestAppShutdownTimeoutCutsHungRequests(t *testing.T) {
	fake := clock.NewFake(time.Unix(1000, 0))
	started := make(chan struct{})
	release := make(chan struct{})
	defer close(release)
	app := newClockedApp(t, switchyard.Config{NoDrainDelay: true, ShutdownTimeout: 15 * time.Second, NoSignals: true, Logger: quiet}, fake)
	_ = app.Add(switchyard.Server{Addr: "127.0.0.1:0", Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(started)
		select {
		case <-release:
		case <-r.Context().Done():
		}
	})})
	ctx, cancel := context.WithCancel(context.Background())
	done := runApp(t, ctx, app)
	c := newClient(t)
	reqErr := make(chan error, 1)
	go func() {
		_, _, err := get(c, "http://"+app.Addrs()[0].String()+"/")
		reqErr <- err
	}()
	<-started
	cancel()
	// Drain delay 0: the shutdown timeout is next.
	eventually(t, "the shutdown timer", func() bool { return fake.Pending() == 1 })
	fake.Advance(15 * time.Second)
	err := waitRun(t, done, 5*time.Second)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Run: %v, want a shutdown timeout", err)
	}
	if err := <-reqErr; err == nil {
		t.Fatal("the hung request should have lost its connection")
	}
}

// TestAppSignals: the first signal drains, a second one hurries: the drain
// delay is skipped and busy connections are closed.
func TestAppSignals(t *testing.T) {
	t.Run("one signal drains", func(t *testing.T) {
		app := newApp(t, switchyard.Config{Signals: []os.Signal{syscall.SIGUSR2}, NoDrainDelay: true, Logger: quiet})
		_ = app.Add(switchyard.Server{Addr: "127.0.0.1:0", Handler: http.NotFoundHandler()})
		done := runApp(t, context.Background(), app)
		if err := syscall.Kill(os.Getpid(), syscall.SIGUSR2); err != nil {
			t.Fatal(err)
		}
		if err := waitRun(t, done, 5*time.Second); err != nil {
			t.Fatalf("Run: %v", err)
		}
	})
	t.Run("second signal hurries", func(t *testing.T) {
		fake := clock.NewFake(time.Unix(1000, 0)) // never advanced: only a signal can end the drain
		started := make(chan struct{})
		release := make(chan struct{})
		defer close(release)
		app := newClockedApp(t, switchyard.Config{Signals: []os.Signal{syscall.SIGUSR2}, DrainDelay: time.Hour, Logger: quiet}, fake)
		_ = app.Add(switchyard.Server{Addr: "127.0.0.1:0", Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			close(started)
			select {
			case <-release:
			case <-r.Context().Done():
			}
		})})
		done := runApp(t, context.Background(), app)
		c := newClient(t)
		reqErr := make(chan error, 1)
		go func() {
			_, _, err := get(c, "http://"+app.Addrs()[0].String()+"/")
			reqErr <- err
		}()
		<-started
		_ = syscall.Kill(os.Getpid(), syscall.SIGUSR2)
		eventually(t, "draining", func() bool { return app.Health().State() == shttp.Draining })
		_ = syscall.Kill(os.Getpid(), syscall.SIGUSR2)
		err := waitRun(t, done, 5*time.Second)
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("Run: %v, want the shutdown cut short", err)
		}
		if err := <-reqErr; err == nil {
			t.Fatal("the busy connection should have been closed")
		}
	})
}

// TestAppServerFailureStopsAll: when one of two servers fails, the App
// drains and stops the other and returns the failure.
func TestAppServerFailureStopsAll(t *testing.T) {
	reg := memory.New()
	defer reg.Close()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	app := newApp(t, switchyard.Config{Registrar: reg, NoDrainDelay: true, NoSignals: true, Logger: quiet})
	_ = app.Add(switchyard.Server{Service: "api", Addr: "127.0.0.1:0", Handler: http.NotFoundHandler()})
	_ = app.Add(switchyard.Server{Service: "admin", Listener: ln, Handler: http.NotFoundHandler()})
	done := runApp(t, context.Background(), app)
	if n := len(instancesOf(t, reg, "api")) + len(instancesOf(t, reg, "admin")); n != 2 {
		t.Fatalf("%d registered, want 2", n)
	}
	_ = ln.Close() // the admin server's Serve fails
	err = waitRun(t, done, 5*time.Second)
	if err == nil || !errors.Is(err, net.ErrClosed) {
		t.Fatalf("Run: %v, want the admin server's failure", err)
	}
	if n := len(instancesOf(t, reg, "api")) + len(instancesOf(t, reg, "admin")); n != 0 {
		t.Fatalf("%d still registered after the app stopped", n)
	}
	if _, err := net.DialTimeout("tcp", app.Addrs()[0].String(), time.Second); err == nil {
		t.Fatal("the api listener is still open")
	}
}

// failingRegistrar refuses registrations; with report set it also
// implements discovery.StateReporter, like a self-healing registrar.
type failingRegistrar struct {
	calls atomic.Int64
}

var errRegistry = errors.New("registry unreachable")

func (f *failingRegistrar) Register(context.Context, discovery.Instance) error {
	f.calls.Add(1)
	return errRegistry
}
func (f *failingRegistrar) Deregister(context.Context, discovery.Instance) error { return nil }

type healingRegistrar struct{ failingRegistrar }

func (h *healingRegistrar) RegistrationErr() error { return errRegistry }

func TestAppRegistrationFailure(t *testing.T) {
	t.Run("fatal without state reporting", func(t *testing.T) {
		app := newApp(t, switchyard.Config{Registrar: &failingRegistrar{}, NoDrainDelay: true, NoSignals: true, Logger: quiet})
		_ = app.Add(switchyard.Server{Service: "api", Addr: "127.0.0.1:0", Handler: http.NotFoundHandler()})
		err := app.Run(context.Background())
		if !errors.Is(err, errRegistry) {
			t.Fatalf("Run: %v", err)
		}
	})
	t.Run("a self-healing registrar keeps the app up, not ready", func(t *testing.T) {
		reg := &healingRegistrar{}
		app := newApp(t, switchyard.Config{Registrar: reg, NoDrainDelay: true, NoSignals: true, Logger: quiet})
		mux := http.NewServeMux()
		app.Health().Mount(mux)
		_ = app.Add(switchyard.Server{Service: "api", Addr: "127.0.0.1:0", Handler: mux})
		ctx, cancel := context.WithCancel(context.Background())
		done := runApp(t, ctx, app)
		if code, status := readyStatus(t, newClient(t), app.Addrs()[0].String()); code != 503 || status != "failing" {
			t.Errorf("readyz %d %s, want 503 failing", code, status)
		}
		cancel()
		if err := waitRun(t, done, 5*time.Second); err != nil {
			t.Fatalf("Run: %v", err)
		}
	})
}

func TestAppConfigErrors(t *testing.T) {
	app := newApp(t, switchyard.Config{NoSignals: true, Logger: quiet})
	if err := app.Run(context.Background()); !errors.Is(err, switchyard.ErrNoServers) {
		t.Errorf("no servers: %v", err)
	}
	app = newApp(t, switchyard.Config{NoSignals: true, Logger: quiet})
	for _, s := range []switchyard.Server{
		{Addr: "127.0.0.1:0"},
		{Handler: http.NotFoundHandler()},
	} {
		if err := app.Add(s); !errors.Is(err, switchyard.ErrInvalidServer) {
			t.Errorf("%+v: %v", s, err)
		}
	}
	// A taken port fails Run and leaves nothing open.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	_ = app.Add(switchyard.Server{Addr: "127.0.0.1:0", Handler: http.NotFoundHandler()})
	_ = app.Add(switchyard.Server{Addr: ln.Addr().String(), Handler: http.NotFoundHandler()})
	if err := app.Run(context.Background()); err == nil {
		t.Error("listening on a taken port succeeded")
	}
	if err := app.Add(switchyard.Server{Addr: "127.0.0.1:0", Handler: http.NotFoundHandler()}); !errors.Is(err, switchyard.ErrAppStarted) {
		t.Errorf("Add after Run: %v", err)
	}
}

func TestAppAdvertise(t *testing.T) {
	reg := memory.New()
	defer reg.Close()
	app := newApp(t, switchyard.Config{Registrar: reg, NoDrainDelay: true, NoSignals: true, Logger: quiet})
	_ = app.Add(switchyard.Server{Service: "a", Addr: "127.0.0.1:0", Handler: http.NotFoundHandler(),
		Advertise: "10.0.0.7", Instance: discovery.Instance{ID: "a-1"}})
	_ = app.Add(switchyard.Server{Service: "b", Addr: "127.0.0.1:0", Handler: http.NotFoundHandler(),
		Advertise: "svc.example:8443"})
	ctx, cancel := context.WithCancel(context.Background())
	done := runApp(t, ctx, app)
	insts := app.Instances()
	_, port, _ := net.SplitHostPort(app.Addrs()[0].String())
	if insts[0].ID != "a-1" || insts[0].Addr != "10.0.0.7:"+port {
		t.Errorf("advertised host: %+v", insts[0])
	}
	if insts[1].Addr != "svc.example:8443" || len(insts[1].ID) != len("b-")+12 {
		t.Errorf("advertised host:port: %+v", insts[1])
	}
	cancel()
	if err := waitRun(t, done, 5*time.Second); err != nil {
		t.Fatal(err)
	}
}

// inFlight counts a server's requests.
type inFlight struct {
	started, finished atomic.Int64
}

func (f *inFlight) wrap(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f.started.Add(1)
		defer f.finished.Add(1)
		h.ServeHTTP(w, r)
	})
}

func (f *inFlight) now() int64 { return f.started.Load() - f.finished.Load() }

// A connection that a client opened and never used must not hold the
// drain up: http.Server.Shutdown alone would wait five seconds for it.
func TestStopClosesUnusedConnections(t *testing.T) {
	app := newApp(t, switchyard.Config{NoSignals: true, Logger: quiet, DrainDelay: time.Millisecond})
	if err := app.Add(switchyard.Server{Addr: "127.0.0.1:0", Handler: http.NotFoundHandler()}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- app.Run(ctx) }()
	<-app.Ready()
	conn, err := net.Dial("tcp", app.Addrs()[0].String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	time.Sleep(50 * time.Millisecond) // let the server accept it
	start := time.Now()
	cancel()
	if err := waitRun(t, done, 4*time.Second); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Fatalf("stop took %v with one unused connection open", d)
	}
	conn.SetReadDeadline(time.Now().Add(time.Second))
	if _, err := conn.Read(make([]byte, 1)); err == nil {
		t.Fatal("the unused connection is still open after the stop")
	}
}
