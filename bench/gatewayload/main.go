// Command gatewayload measures the saturated throughput of the Switchyard
// gateway against a bare httputil.ReverseProxy in front of the same
// backend, and the backend reached directly, all in one run on loopback.
// With -mtls it also runs the gateway with mutual TLS to a second backend
// (Config.UpstreamTLS, certificates of a throwaway CA, TLS 1.3, HTTP/1.1
// keep-alive), interleaving its runs with the plaintext gateway's, and
// measures the handshake rate of that backend: new connections, each a
// full TLS 1.3 handshake with a client certificate, one request each.
//
// Each server runs in its own child process (this binary re-executed with
// -role), so the gateway's resident memory and heap can be read on their
// own. The driver keeps -conns keep-alive connections busy for -duration
// per target and repeats the gateway run -runs times back to back to show
// whether its heap grows.
//
//	go run ./gatewayload [-duration 5s] [-conns 64] [-runs 3] [-mtls]
package main

import (
	"bufio"
	"cmp"
	"context"
	"crypto/tls"
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
	"path/filepath"
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
	"github.com/switchyard/switchyard/identity"
	"github.com/switchyard/switchyard/middleware/metrics"
	"github.com/switchyard/switchyard/middleware/ratelimit"
	"github.com/switchyard/switchyard/middleware/tracing"
	"github.com/switchyard/switchyard/mtls"
	"github.com/switchyard/switchyard/mtls/mtlstest"
	"github.com/switchyard/switchyard/transport/gateway"
)

func main() {
	role := flag.String("role", "drive", "drive, or (internal) backend, backend-tls, proxy, gateway, gateway-mtls")
	upstream := flag.String("upstream", "", "backend address, for the proxy and gateway roles")
	withTLS := flag.Bool("mtls", false, "also measure the gateway with mutual TLS to its upstream, and a backend's handshake rate")
	pki := flag.String("pki", "", "(internal) directory of the throwaway CA's files")
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
		err = drive(*duration, *conns, *runs, *withTLS)
	case "backend", "backend-tls", "proxy", "gateway", "gateway-mtls":
		err = serve(*role, *upstream, *pki)
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
func serve(role, upstream, pki string) error {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	var h http.Handler
	switch role {
	case "backend", "backend-tls":
		h = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/plain")
			io.WriteString(w, "ok\n")
		})
		if role == "backend-tls" {
			src, err := source(pki, "backend")
			if err != nil {
				return err
			}
			cfg := src.ServerConfig()
			cfg.NextProtos = []string{"http/1.1"} // as the plaintext backend
			ln = tls.NewListener(ln, cfg)
		}
	case "proxy":
		target := &url.URL{Scheme: "http", Host: upstream}
		h = &httputil.ReverseProxy{
			Rewrite:   func(pr *httputil.ProxyRequest) { pr.SetURL(target); pr.SetXForwarded() },
			Transport: gateway.NewTransport(256),
		}
	case "gateway":
		h, err = newGateway(upstream, nil)
		if err != nil {
			return err
		}
	case "gateway-mtls":
		src, err := source(pki, "gateway")
		if err != nil {
			return err
		}
		backend, err := src.ServiceID("backend")
		if err != nil {
			return err
		}
		h, err = newGateway(upstream, src.ClientConfig(backend))
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

// source loads the certificate of service from the throwaway CA's
// directory.
func source(dir, service string) (*mtls.Source, error) {
	f := filepath.Join(dir, service+".pem")
	return mtls.New(mtls.Config{CertFile: f, KeyFile: f, CAFile: filepath.Join(dir, "ca.pem")})
}

// newGateway is the gateway as a service would run it: routing, a per-IP
// rate limit set far above the offered load, outlier detection (the
// per-instance breaker), metrics and tracing with the no-op provider;
// with upstreamTLS, mutual TLS to the upstream.
func newGateway(upstream string, upstreamTLS *tls.Config) (http.Handler, error) {
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
	}, gateway.Config{
		Middleware:  []func(http.Handler) http.Handler{tr.Handler, m.Handler},
		UpstreamTLS: upstreamTLSFunc(upstreamTLS),
	})
	if err != nil {
		return nil, err
	}
	return g, g.WaitReady(context.Background())
}

func upstreamTLSFunc(cfg *tls.Config) func(string) *tls.Config {
	if cfg == nil {
		return nil
	}
	return func(string) *tls.Config { return cfg }
}

type child struct {
	cmd   *exec.Cmd
	stdin io.WriteCloser
	addr  string
	admin string
}

func start(role, upstream, pki string) (*child, error) {
	cmd := exec.Command(os.Args[0], "-role", role, "-upstream", upstream, "-pki", pki)
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
	return loadWith(&http.Transport{MaxIdleConnsPerHost: conns, MaxConnsPerHost: conns, DisableCompression: true}, "http://"+addr, d, conns)
}

// loadWith keeps conns callers sending GET base/api/ping through tr for d.
func loadWith(tr *http.Transport, base string, d time.Duration, conns int) result {
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr, Timeout: 10 * time.Second}
	url := base + "/api/ping"
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

func drive(d time.Duration, conns, runs int, withTLS bool) error {
	var pki string
	if withTLS {
		dir, err := os.MkdirTemp("", "gatewayload-pki-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(dir)
		if err := writePKI(dir); err != nil {
			return err
		}
		pki = dir
	}
	var children []*child
	stopAll := func() {
		for _, c := range children {
			c.stop()
		}
	}
	defer stopAll()
	spawn := func(role, upstream string) (*child, error) {
		c, err := start(role, upstream, pki)
		if err == nil {
			children = append(children, c)
		}
		return c, err
	}
	// Children die with us on Ctrl-C.
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
	go func() { <-sig; stopAll(); os.Exit(1) }()
	backend, err := spawn("backend", "")
	if err != nil {
		return err
	}
	proxy, err := spawn("proxy", backend.addr)
	if err != nil {
		return err
	}
	gw, err := spawn("gateway", backend.addr)
	if err != nil {
		return err
	}
	var tlsBackend, tlsGW *child
	if withTLS {
		if tlsBackend, err = spawn("backend-tls", ""); err != nil {
			return err
		}
		if tlsGW, err = spawn("gateway-mtls", tlsBackend.addr); err != nil {
			return err
		}
	}

	fmt.Printf("loopback, %d keep-alive connections, %v per run, GOMAXPROCS=%d, %d CPUs\n\n", conns, d, runtime.GOMAXPROCS(0), runtime.NumCPU())
	fmt.Printf("%-28s %10s %9s %9s %7s %12s %12s\n", "target", "req/s", "p50", "p99", "errors", "RSS", "heap")
	var failed int64 // requests that failed, over every measured run
	row := func(name string, r result, c *child) {
		failed += r.errs
		fmt.Printf("%-28s %10.0f %9v %9v %7d", name, r.rps, r.p50.Round(time.Microsecond), r.p99.Round(time.Microsecond), r.errs)
		if c != nil {
			fmt.Printf(" %10.1fMB %10.1fMB", float64(c.rss())/(1<<20), float64(c.heap())/(1<<20))
		}
		fmt.Println()
	}
	load(backend.addr, time.Second, conns) // warm up connections and caches
	row("backend direct", load(backend.addr, d, conns), nil)
	load(proxy.addr, time.Second, conns)
	bare := load(proxy.addr, d, conns)
	row("bare ReverseProxy", bare, proxy)
	load(gw.addr, time.Second, conns)
	if withTLS {
		load(tlsGW.addr, time.Second, conns)
	}
	// The gateway's runs, plaintext and mTLS interleaved so that both see
	// the same machine.
	var plain, mutual []result
	for i := range runs {
		r := load(gw.addr, d, conns)
		plain = append(plain, r)
		row(fmt.Sprintf("switchyard gateway #%d", i+1), r, gw)
		if withTLS {
			r := load(tlsGW.addr, d, conns)
			mutual = append(mutual, r)
			row(fmt.Sprintf("gateway, mTLS upstream #%d", i+1), r, tlsGW)
		}
	}
	mp := median(plain)
	fmt.Printf("\ngateway / bare proxy throughput: %.2f (median of %d runs)\n", mp.rps/bare.rps, runs)
	if withTLS {
		mm := median(mutual)
		fmt.Printf("gateway mTLS upstream / plaintext: %.3f req/s, p99 %v vs %v (medians of %d interleaved runs)\n",
			mm.rps/mp.rps, mm.p99.Round(time.Microsecond), mp.p99.Round(time.Microsecond), runs)
		hs, err := handshakes(tlsBackend.addr, pki, d, conns)
		if err != nil {
			return err
		}
		fmt.Printf("backend handshake rate: %.0f new mTLS connections/s (TLS 1.3, client certificate, one request each; p50 %v, p99 %v, %d errors)\n",
			hs.rps, hs.p50.Round(time.Microsecond), hs.p99.Round(time.Microsecond), hs.errs)
		failed += hs.errs
	}
	if failed > 0 {
		// A run with failures measured something else than the path.
		return fmt.Errorf("%d requests failed", failed)
	}
	return nil
}

// median returns the run with the median throughput.
func median(rs []result) result {
	s := slices.Clone(rs)
	slices.SortFunc(s, func(a, b result) int { return cmp.Compare(a.rps, b.rps) })
	return s[len(s)/2]
}

// handshakes measures how many new mutual-TLS connections per second the
// TLS backend accepts: conns callers each open a connection, make one
// request on it and close it, for d.
func handshakes(addr, pki string, d time.Duration, conns int) (result, error) {
	src, err := source(pki, "driver")
	if err != nil {
		return result{}, err
	}
	backend, err := src.ServiceID("backend")
	if err != nil {
		return result{}, err
	}
	tr := &http.Transport{TLSClientConfig: src.ClientConfig(backend), DisableKeepAlives: true, DisableCompression: true}
	return loadWith(tr, "https://"+addr, d, conns), nil
}

// writePKI writes a throwaway CA and the certificates of the TLS
// backend, the mTLS gateway and the driver into dir.
func writePKI(dir string) error {
	ca := mtlstest.NewCA("gatewayload CA")
	mtlstest.WriteFile(filepath.Join(dir, "ca.pem"), ca.PEM)
	for _, svc := range []string{"backend", "gateway", "driver"} {
		id, err := identity.ForService("bench.test", svc)
		if err != nil {
			return err
		}
		f := filepath.Join(dir, svc+".pem")
		ca.Issue(id).Write(f, f)
	}
	return nil
}
