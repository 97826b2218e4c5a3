// Command gatewayload measures the saturated throughput of the Switchyard
// gateway against a bare httputil.ReverseProxy in front of the same
// backend, and the backend reached directly, all in one run on loopback.
//
// Each server runs in its own child process (this binary re-executed with
// -role), so the gateway's resident memory and heap can be read on their
// own. The driver keeps -conns keep-alive connections busy for -duration
// per target and repeats the gateway run -runs times back to back to show
// whether its heap grows.
//
//	go run ./gatewayload [-duration 5s] [-conns 64] [-runs 3]
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"os/signal"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/time/rate"

	"github.com/switchyard/switchyard/discovery"
	"github.com/switchyard/switchyard/discovery/memory"
	"github.com/switchyard/switchyard/middleware/metrics"
	"github.com/switchyard/switchyard/middleware/ratelimit"
	"github.com/switchyard/switchyard/middleware/tracing"
	"github.com/switchyard/switchyard/transport/gateway"
)

func main() {
	role := flag.String("role", "drive", "drive, or (internal) backend, proxy, gateway")
	upstream := flag.String("upstream", "", "backend address, for the proxy and gateway roles")
	duration := flag.Duration("duration", 5*time.Second, "load per target")
	conns := flag.Int("conns", 64, "concurrent keep-alive connections")
	runs := flag.Int("runs", 3, "back-to-back gateway runs")
	flag.Parse()
	var err error
	switch *role {
	case "drive":
		if *duration <= 0 || *duration > 5*time.Minute || *conns < 1 || *conns > 4096 || *runs < 1 || *runs > 20 {
			fmt.Fprintln(os.Stderr, "gatewayload: duration must be in (0, 5m], conns in [1, 4096], runs in [1, 20]")
			os.Exit(2)
		}
		err = drive(*duration, *conns, *runs)
	case "backend", "proxy", "gateway":
		err = serve(*role, *upstream)
	default:
		err = fmt.Errorf("unknown role %q", *role)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "gatewayload:", err)
		os.Exit(1)
	}
}

// serve runs one server role until stdin closes, printing its address and
// an admin address (for heap readings) on stdout.
func serve(role, upstream string) error {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	var h http.Handler
	switch role {
	case "backend":
		h = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/plain")
			io.WriteString(w, "ok\n")
		})
	case "proxy":
		target := &url.URL{Scheme: "http", Host: upstream}
		h = &httputil.ReverseProxy{
			Rewrite:   func(pr *httputil.ProxyRequest) { pr.SetURL(target); pr.SetXForwarded() },
			Transport: gateway.NewTransport(256),
		}
	case "gateway":
		h, err = newGateway(upstream)
		if err != nil {
			return err
		}
	}
	admin, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	go http.Serve(admin, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		runtime.GC()
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		json.NewEncoder(w).Encode(map[string]uint64{"heap_alloc": m.HeapAlloc, "heap_inuse": m.HeapInuse, "sys": m.Sys})
	}))
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second}
	go srv.Serve(ln)
	fmt.Printf("%s %s\n", ln.Addr(), admin.Addr())
	io.Copy(io.Discard, os.Stdin) // the driver closes stdin to stop us
	return srv.Close()
}

// newGateway is the gateway as a service would run it: routing, a per-IP
// rate limit set far above the offered load, outlier detection (the
// per-instance breaker), metrics and tracing with the no-op provider.
func newGateway(upstream string) (http.Handler, error) {
	reg := memory.New()
	if err := reg.Register(context.Background(), discovery.Instance{ID: "b1", Service: "backend", Addr: upstream}); err != nil {
		return nil, err
	}
	prom, err := metrics.NewPrometheus(metrics.PrometheusConfig{})
	if err != nil {
		return nil, err
	}
	m, err := metrics.New(metrics.Config{MeterProvider: prom.MeterProvider()})
	if err != nil {
		return nil, err
	}
	limiter, err := ratelimit.New(rate.Limit(1e6), 1e6, ratelimit.Config{HTTPKey: ratelimit.RemoteIP})
	if err != nil {
		return nil, err
	}
	limit := limiter.Handler
	tr, err := tracing.New(tracing.Config{})
	if err != nil {
		return nil, err
	}
	g, err := gateway.New(context.Background(), reg, []gateway.Route{
		{Pattern: "/api/", Service: "backend", Middleware: []func(http.Handler) http.Handler{limit}},
	}, gateway.Config{Middleware: []func(http.Handler) http.Handler{tr.Handler, m.Handler}})
	if err != nil {
		return nil, err
	}
	return g, g.WaitReady(context.Background())
}

type child struct {
	cmd   *exec.Cmd
	stdin io.WriteCloser
	addr  string
	admin string
}

func start(role, upstream string) (*child, error) {
	cmd := exec.Command(os.Args[0], "-role", role, "-upstream", upstream)
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil {
		cmd.Process.Kill()
		return nil, fmt.Errorf("%s did not start: %w", role, err)
	}
	f := strings.Fields(line)
	if len(f) != 2 {
		cmd.Process.Kill()
		return nil, fmt.Errorf("%s printed %q", role, line)
	}
	return &child{cmd: cmd, stdin: stdin, addr: f[0], admin: f[1]}, nil
}

func (c *child) stop() {
	c.stdin.Close()
	done := make(chan struct{})
	go func() { c.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		c.cmd.Process.Kill()
		<-done
	}
}

// rss returns the child's resident set size in bytes, from /proc.
func (c *child) rss() uint64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", c.cmd.Process.Pid))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, "VmRSS:") {
			var kb uint64
			fmt.Sscanf(strings.TrimPrefix(line, "VmRSS:"), "%d", &kb)
			return kb << 10
		}
	}
	return 0
}

func (c *child) heap() uint64 {
	resp, err := http.Get("http://" + c.admin + "/")
	if err != nil {
		return 0
	}
	defer resp.Body.Close()
	var m map[string]uint64
	json.NewDecoder(resp.Body).Decode(&m)
	return m["heap_alloc"]
}

type result struct {
	reqs     int64
	errs     int64
	rps      float64
	p50, p99 time.Duration
}

func load(addr string, d time.Duration, conns int) result {
	tr := &http.Transport{MaxIdleConnsPerHost: conns, MaxConnsPerHost: conns, DisableCompression: true}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr, Timeout: 10 * time.Second}
	url := "http://" + addr + "/api/ping"
	var (
		reqs, errs atomic.Int64
		mu         sync.Mutex // guards samples
		samples    []time.Duration
		wg         sync.WaitGroup
	)
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	start := time.Now()
	for range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			local := make([]time.Duration, 0, 4096)
			for i := 0; ctx.Err() == nil; i++ {
				t0 := time.Now()
				resp, err := client.Get(url)
				if err == nil {
					io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					if resp.StatusCode != 200 {
						err = fmt.Errorf("status %d", resp.StatusCode)
					}
				}
				if ctx.Err() != nil {
					break
				}
				reqs.Add(1)
				if err != nil {
					errs.Add(1)
				}
				if i%8 == 0 {
					local = append(local, time.Since(t0))
				}
			}
			mu.Lock()
			samples = append(samples, local...)
			mu.Unlock()
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	slices.Sort(samples)
	r := result{reqs: reqs.Load(), errs: errs.Load(), rps: float64(reqs.Load()) / elapsed.Seconds()}
	if len(samples) > 0 {
		r.p50 = samples[len(samples)/2]
		r.p99 = samples[len(samples)*99/100]
	}
	return r
}

func drive(d time.Duration, conns, runs int) error {
	// Children die with us on Ctrl-C.
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
	backend, err := start("backend", "")
	if err != nil {
		return err
	}
	defer backend.stop()
	proxy, err := start("proxy", backend.addr)
	if err != nil {
		return err
	}
	defer proxy.stop()
	gw, err := start("gateway", backend.addr)
	if err != nil {
		return err
	}
	defer gw.stop()
	go func() { <-sig; backend.stop(); proxy.stop(); gw.stop(); os.Exit(1) }()

	fmt.Printf("loopback, %d keep-alive connections, %v per run, GOMAXPROCS=%d, %d CPUs\n\n", conns, d, runtime.GOMAXPROCS(0), runtime.NumCPU())
	fmt.Printf("%-22s %10s %9s %9s %7s %12s %12s\n", "target", "req/s", "p50", "p99", "errors", "RSS", "heap")
	load(backend.addr, time.Second, conns) // warm up connections and caches
	direct := load(backend.addr, d, conns)
	fmt.Printf("%-22s %10.0f %9v %9v %7d\n", "backend direct", direct.rps, direct.p50.Round(time.Microsecond), direct.p99.Round(time.Microsecond), direct.errs)
	load(proxy.addr, time.Second, conns)
	bare := load(proxy.addr, d, conns)
	fmt.Printf("%-22s %10.0f %9v %9v %7d %10.1fMB\n", "bare ReverseProxy", bare.rps, bare.p50.Round(time.Microsecond), bare.p99.Round(time.Microsecond), bare.errs, float64(proxy.rss())/(1<<20))
	load(gw.addr, time.Second, conns)
	var best result
	for i := range runs {
		r := load(gw.addr, d, conns)
		if r.rps > best.rps {
			best = r
		}
		fmt.Printf("%-22s %10.0f %9v %9v %7d %10.1fMB %10.1fMB\n", fmt.Sprintf("switchyard gateway #%d", i+1), r.rps, r.p50.Round(time.Microsecond), r.p99.Round(time.Microsecond), r.errs, float64(gw.rss())/(1<<20), float64(gw.heap())/(1<<20))
	}
	fmt.Printf("\ngateway / bare proxy throughput: %.2f (best of %d runs)\n", best.rps/bare.rps, runs)
	return nil
}
