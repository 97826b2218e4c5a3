package switchyard_test

import (
	"context"
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/switchyard/switchyard"
	"github.com/switchyard/switchyard/balancer/roundrobin"
	"github.com/switchyard/switchyard/client"
	"github.com/switchyard/switchyard/discovery/memory"
	"github.com/switchyard/switchyard/middleware/retry"
	shttp "github.com/switchyard/switchyard/transport/http"
)

type answer struct {
	From string `json:"from"`
}

// TestGracefulDrain runs three Apps, each a real HTTP server on
// 127.0.0.1:0 registered in a memory registry, behind the client chain at
// a steady rate, and stops one of them mid-run. No call may fail (and none
// may need a retry, which would hide a failure), the stopped instance must
// exit within 5 s, and the requests it had in flight when it was told to
// stop — including slow ones still running when its listener closed —
// must all complete with 200.
func TestGracefulDrain(t *testing.T) {
	const (
		drainDelay = 300 * time.Millisecond
		slowCall   = 900 * time.Millisecond // outlasts the drain delay
	)
	reg := memory.New()
	defer reg.Close()

	type instance struct {
		app    *switchyard.App
		flight inFlight
		cancel context.CancelFunc
		done   <-chan error
	}
	var insts []*instance
	for i := range 3 {
		in := &instance{}
		in.app = newApp(t, switchyard.Config{
			Registrar:  reg,
			Resolver:   reg, // confirm the removal before the delay ends
			DrainDelay: drainDelay,
			NoSignals:  true,
			Logger:     quiet,
		})
		mux := http.NewServeMux()
		in.app.Health().Mount(mux)
		name := fmt.Sprintf("i%d", i)
		mux.Handle("GET /work", shttp.NewHandler(
			func(ctx context.Context, req any) (any, error) {
				d := 2 * time.Millisecond
				if req.(bool) {
					d = slowCall
				}
				time.Sleep(d)
				return answer{From: name}, nil
			},
			func(_ context.Context, r *http.Request) (any, error) { return r.URL.Query().Has("slow"), nil },
			shttp.EncodeJSONResponse,
		))
		if err := in.app.Add(switchyard.Server{Service: "work", Addr: "127.0.0.1:0", Handler: in.flight.wrap(mux)}); err != nil {
			t.Fatal(err)
		}
		var ctx context.Context
		ctx, in.cancel = context.WithCancel(context.Background())
		defer in.cancel()
		in.done = runApp(t, ctx, in.app)
		insts = append(insts, in)
	}

	var retries atomic.Int64
	ctx := context.Background()
	ce, err := client.New(ctx, reg, "work",
		shttp.NewFactory(http.MethodGet, "/work", shttp.EncodeJSONRequest, shttp.DecodeJSONResponse[answer],
			shttp.WithHTTPClient(newClient(t))),
		client.Config{
			Policy:     roundrobin.New(), // keep every instance busy
			Idempotent: true,
			Retry:      client.Retry{Config: retry.Config{Hooks: retry.Hooks{OnRetry: func(int, error) { retries.Add(1) }}}},
		})
	if err != nil {
		t.Fatal(err)
	}
	defer ce.Close()
	eventually(t, "three instances", func() bool { m, _ := ce.Balancer().Len(); return m == 3 })

	var (
		calls, failures atomic.Int64
		served          sync.Map // instance name → *atomic.Int64
		mu              sync.Mutex
		firstErr        error
	)
	stop := make(chan struct{})
	var load sync.WaitGroup
	for range 6 {
		load.Go(func() {
			ticker := time.NewTicker(2 * time.Millisecond)
			defer ticker.Stop()
			for {
				select {
				case <-stop:
					return
				case <-ticker.C:
				}
				calls.Add(1)
				resp, err := ce.Call(ctx, nil)
				if err != nil {
					failures.Add(1)
					mu.Lock()
					if firstErr == nil {
						firstErr = err
					}
					mu.Unlock()
					continue
				}
				n, _ := served.LoadOrStore(resp.(answer).From, new(atomic.Int64))
				n.(*atomic.Int64).Add(1)
			}
		})
	}

	time.Sleep(300 * time.Millisecond)
	victim := insts[0]
	addr := victim.app.Addrs()[0].String()

	// Slow calls straight to the victim, in flight when it is told to stop
	// and still running after its drain delay, when its listener closes.
	direct := newClient(t)
	slowResults := make(chan error, 3)
	for range 3 {
		go func() {
			code, body, err := get(direct, "http://"+addr+"/work?slow=1")
			if err == nil && code != 200 {
				err = fmt.Errorf("status %d: %s", code, body)
			}
			slowResults <- err
		}()
	}
	eventually(t, "slow calls in flight", func() bool { return victim.flight.now() >= 3 })

	stopAt := time.Now()
	victim.cancel()
	eventually(t, "draining", func() bool { return victim.app.Health().State() == shttp.Draining })
	if code, status := readyStatus(t, direct, addr); code != 503 || status != "draining" {
		t.Errorf("victim's readyz while draining: %d %s", code, status)
	}
	inFlightAtStop := victim.flight.now()
	err = waitRun(t, victim.done, 5*time.Second)
	exit := time.Since(stopAt)
	if err != nil {
		t.Errorf("victim's Run: %v", err)
	}
	for range 3 {
		if err := <-slowResults; err != nil {
			t.Errorf("an in-flight call to the victim failed: %v", err)
		}
	}
	victimServed := victim.flight.finished.Load()

	// Keep the load on the survivors for a while.
	time.Sleep(300 * time.Millisecond)
	close(stop)
	load.Wait()

	perInstance := map[string]int64{}
	served.Range(func(k, v any) bool { perInstance[k.(string)] = v.(*atomic.Int64).Load(); return true })
	t.Logf("%d calls, %d failed, %d retries; served per instance %v; victim exited %v after the stop with %d requests in flight at the stop, all %d it started finished",
		calls.Load(), failures.Load(), retries.Load(), perInstance, exit.Round(time.Millisecond),
		inFlightAtStop, victim.flight.started.Load())
	if failures.Load() != 0 {
		t.Errorf("%d client-visible errors, want 0; first: %v", failures.Load(), firstErr)
	}
	if retries.Load() != 0 {
		t.Errorf("%d retries: a clean drain needs none", retries.Load())
	}
	if exit > 5*time.Second || exit < drainDelay {
		t.Errorf("victim exited %v after the stop, want between %v and 5s", exit, drainDelay)
	}
	if inFlightAtStop < 3 {
		t.Errorf("%d requests in flight at the stop, want ≥ 3", inFlightAtStop)
	}
	if victimServed != victim.flight.started.Load() {
		t.Errorf("victim started %d requests and finished %d", victim.flight.started.Load(), victimServed)
	}
	if perInstance["i0"] == 0 || perInstance["i1"] == 0 || perInstance["i2"] == 0 {
		t.Errorf("an instance served nothing: %v", perInstance)
	}
	if calls.Load() < 200 {
		t.Errorf("load too thin: %d calls", calls.Load())
	}

	for _, in := range insts[1:] {
		in.cancel()
		if err := waitRun(t, in.done, 5*time.Second); err != nil {
			t.Errorf("Run: %v", err)
		}
	}
}
