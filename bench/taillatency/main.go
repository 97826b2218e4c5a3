// Command taillatency measures how each balancing policy copes with one
// slow instance among three: real HTTP servers on 127.0.0.1, one of which
// adds a fixed delay, driven by a fixed number of concurrent clients. It
// prints p50, p99 and the share of requests that reached the slow instance,
// per policy, all in one run so the ratios are comparable. Each policy first
// serves -warmup requests that are not counted, so the numbers show the
// steady state rather than the first milliseconds, when no policy knows any
// latency yet; -warmup 0 includes the cold start.
//
//	go run ./taillatency [-requests 2000] [-warmup 200] [-concurrency 16] [-slow 50ms] [-base 1ms]
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-kit/kit/endpoint"
	"github.com/go-kit/kit/sd"
	"github.com/go-kit/kit/sd/lb"

	"github.com/switchyard/switchyard/balancer"
	"github.com/switchyard/switchyard/balancer/leastrequest"
	"github.com/switchyard/switchyard/balancer/p2c"
	"github.com/switchyard/switchyard/balancer/random"
	"github.com/switchyard/switchyard/balancer/roundrobin"
	"github.com/switchyard/switchyard/discovery"
)

func main() {
	requests := flag.Int("requests", 2000, "requests per policy")
	concurrency := flag.Int("concurrency", 16, "concurrent clients")
	slow := flag.Duration("slow", 50*time.Millisecond, "extra delay of the slow instance")
	base := flag.Duration("base", time.Millisecond, "service time of every instance")
	warmup := flag.Int("warmup", 200, "requests per policy sent before measuring, not counted")
	flag.Parse()
	if *requests < 1 || *concurrency < 1 || *slow < 0 || *base < 0 || *warmup < 0 {
		fmt.Fprintln(os.Stderr, "taillatency: requests and concurrency must be positive, delays not negative")
		os.Exit(2)
	}
	if err := run(*requests, *warmup, *concurrency, *base, *slow); err != nil {
		fmt.Fprintln(os.Stderr, "taillatency:", err)
		os.Exit(1)
	}
}

type server struct {
	addr string
	hits atomic.Int64
	srv  *http.Server
}

func startServer(delay time.Duration) (*server, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	s := &server{addr: ln.Addr().String()}
	s.srv = &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			s.hits.Add(1)
			time.Sleep(delay)
			io.WriteString(w, "ok")
		}),
		ReadHeaderTimeout: 5 * time.Second,
	}
	go s.srv.Serve(ln)
	return s, nil
}

func run(requests, warmup, concurrency int, base, slow time.Duration) error {
	var servers []*server
	for i := range 3 {
		d := base
		if i == 2 {
			d += slow
		}
		s, err := startServer(d)
		if err != nil {
			return err
		}
		defer s.srv.Close()
		servers = append(servers, s)
	}
	client := &http.Client{
		Transport: &http.Transport{MaxIdleConnsPerHost: concurrency * 2, MaxConnsPerHost: 0},
		Timeout:   5 * time.Second,
	}
	get := func(addr string) endpoint.Endpoint {
		url := "http://" + addr + "/"
		return func(ctx context.Context, _ any) (any, error) {
			req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
			if err != nil {
				return nil, err
			}
			resp, err := client.Do(req)
			if err != nil {
				return nil, err
			}
			defer resp.Body.Close()
			if _, err := io.Copy(io.Discard, resp.Body); err != nil {
				return nil, err
			}
			if resp.StatusCode != http.StatusOK {
				return nil, fmt.Errorf("status %d", resp.StatusCode)
			}
			return nil, nil
		}
	}
	var list []discovery.Instance
	var kitEps sd.FixedEndpointer
	for i, s := range servers {
		list = append(list, discovery.Instance{ID: fmt.Sprintf("i%d", i), Service: "svc", Addr: s.addr})
		kitEps = append(kitEps, get(s.addr))
	}
	factory := func(inst discovery.Instance) (endpoint.Endpoint, io.Closer, error) {
		return get(inst.Addr), nil, nil
	}
	ours := func(p balancer.Policy) endpoint.Endpoint {
		b, err := balancer.New(p, balancer.Config{Factory: factory})
		if err != nil {
			panic(err)
		}
		b.Update(list)
		return b.Call
	}
	kitRR := lb.NewRoundRobin(kitEps)
	policies := []struct {
		name string
		ep   endpoint.Endpoint
	}{
		{"gokit round robin", func(ctx context.Context, req any) (any, error) {
			ep, err := kitRR.Endpoint()
			if err != nil {
				return nil, err
			}
			return ep(ctx, req)
		}},
		{"round robin", ours(roundrobin.New())},
		{"random", ours(random.New())},
		{"least request", ours(leastrequest.New())},
		{"peak-EWMA p2c", ours(p2c.New())},
		{"peak-EWMA p2c 1s", ours(p2c.New(p2c.WithHalfLife(time.Second)))},
		{"peak-EWMA p2c 100ms", ours(p2c.New(p2c.WithHalfLife(100 * time.Millisecond)))},
	}
	fmt.Printf("3 instances on 127.0.0.1, service time %v, one slower by %v; %d requests per policy after %d warm-up requests, concurrency %d\n\n",
		base, slow, requests, warmup, concurrency)
	for _, p := range policies {
		if warmup > 0 {
			drive(p.ep, warmup, concurrency) // cold start: no latency known yet
		}
		for _, s := range servers {
			s.hits.Store(0)
		}
		lat, errs := drive(p.ep, requests, concurrency)
		total := int64(0)
		for _, s := range servers {
			total += s.hits.Load()
		}
		share := 0.0
		if total > 0 {
			share = 100 * float64(servers[2].hits.Load()) / float64(total)
		}
		fmt.Printf("%-20s %10v %10v %10v %11.2f%% %8d\n", p.name,
			pct(lat, 50).Round(10*time.Microsecond), pct(lat, 99).Round(10*time.Microsecond),
			lat[len(lat)-1].Round(10*time.Microsecond), share, errs)
	}
	return nil
}

func drive(ep endpoint.Endpoint, requests, concurrency int) ([]time.Duration, int) {
	var (
		next atomic.Int64
		mu   sync.Mutex // guards lat and errs
		lat  = make([]time.Duration, 0, requests)
		errs int
		wg   sync.WaitGroup
		ctx  = context.Background()
	)
	for range concurrency {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for next.Add(1) <= int64(requests) {
				start := time.Now()
				_, err := ep(ctx, nil)
				d := time.Since(start)
				mu.Lock()
				lat = append(lat, d)
				if err != nil {
					errs++
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	slices.Sort(lat)
	return lat, errs
}

func pct(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(float64(len(sorted))*p/100+0.5) - 1
	i = max(0, min(i, len(sorted)-1))
	return sorted[i]
}
