package gateway

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	dto "github.com/prometheus/client_model/go"

	shttp "github.com/switchyard/switchyard/transport/http"
)

// State is the dashboard's data, served at GET /admin/api/state.
type State struct {
	GeneratedAt time.Time      `json:"generated_at"`
	Uptime      float64        `json:"uptime_seconds"`
	Services    []ServiceState `json:"services"`
	Routes      []RouteState   `json:"routes"`
}

// ServiceState is one upstream service as the gateway sees it.
type ServiceState struct {
	Service string `json:"service"`
	Policy  string `json:"policy"`
	// PanicMode is set when outlier detection would eject too many
	// instances and the balancer is using all of them regardless.
	PanicMode bool            `json:"panic_mode"`
	Instances []InstanceState `json:"instances"`
}

// InstanceState is one upstream instance.
type InstanceState struct {
	ID      string `json:"id"`
	Addr    string `json:"addr"`
	Version string `json:"version,omitempty"`
	// Health is the instance's own readiness, probed at /readyz: "ready",
	// "starting", "draining", "failing" or "down" (no answer).
	Health    string `json:"health"`
	Ejected   bool   `json:"ejected"`
	Ejections int    `json:"ejections"`
	// Breaker is the gateway's breaker for the instance: "closed",
	// "half-open" or "open".
	Breaker  string `json:"breaker"`
	InFlight int64  `json:"in_flight"`
	Requests int64  `json:"requests"`
	Failures int64  `json:"failures"`
}

// RouteState counts the gateway's requests on one route.
type RouteState struct {
	Route         string `json:"route"`
	Requests      int64  `json:"requests"`
	ServerErrors  int64  `json:"server_errors"`
	ClientErrors  int64  `json:"client_errors"`
	Canceled      int64  `json:"canceled"`
	MeanLatencyMS int64  `json:"mean_latency_ms"`
}

// State returns the dashboard's data: the upstreams, their instances'
// health (probed now, at most once a second per instance), breakers and
// counts, and the request counts per route.
func (g *Gateway) State(ctx context.Context) State {
	st := State{GeneratedAt: time.Now().UTC(), Uptime: time.Since(g.started).Seconds()}
	breakers := map[string]string{}
	for _, b := range g.hosts.breakers.States() {
		breakers[b.Key] = b.State.String()
	}
	live := map[string]bool{}
	ups := g.gw.Upstreams()
	for _, u := range ups {
		for _, h := range u.Hosts {
			live[h.Instance.Addr] = true
		}
	}
	health := g.probe.probe(ctx, live)
	for _, u := range ups {
		ss := ServiceState{Service: u.Service, Policy: u.Policy, PanicMode: u.PanicMode, Instances: []InstanceState{}}
		for _, h := range u.Hosts {
			addr := h.Instance.Addr
			is := InstanceState{
				ID: h.Instance.ID, Addr: addr, Version: h.Instance.Version,
				Health: health[addr], Ejected: h.Ejected, Ejections: h.Ejections,
				Breaker: "closed", InFlight: h.InFlight,
			}
			if b, ok := breakers[addr]; ok {
				is.Breaker = b
			}
			if s, ok := g.hosts.stats.Load(addr); ok {
				is.Requests = s.(*hostStats).requests.Load()
				is.Failures = s.(*hostStats).failures.Load()
			}
			ss.Instances = append(ss.Instances, is)
		}
		slices.SortFunc(ss.Instances, func(a, b InstanceState) int { return strings.Compare(a.ID, b.ID) })
		st.Services = append(st.Services, ss)
	}
	g.hosts.forget(live)
	st.Routes = g.routeStates()
	return st
}

func (g *Gateway) serveState(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	_ = shttp.EncodeJSONResponse(r.Context(), w, g.State(r.Context()))
}

// routeStates reads the request counters that middleware/metrics keeps per
// route (instance.Run's metrics.Handler) from the Prometheus registry,
// for the gateway's own routes.
func (g *Gateway) routeStates() []RouteState {
	byRoute := map[string]*RouteState{}
	out := make([]RouteState, 0, len(g.routes))
	for _, r := range g.routes {
		byRoute[r] = &RouteState{Route: r}
	}
	if g.tel != nil {
		fams, _ := g.tel.Prometheus.Registry().Gather()
		sums := map[string]float64{}
		for _, f := range fams {
			for _, m := range f.GetMetric() {
				rs := byRoute[label(m, "operation")]
				if rs == nil {
					continue
				}
				switch f.GetName() {
				case "switchyard_requests_total":
					rs.Requests += int64(m.GetCounter().GetValue())
				case "switchyard_errors_total":
					switch label(m, "outcome") {
					case "server_failure":
						rs.ServerErrors += int64(m.GetCounter().GetValue())
					case "caller_fault":
						rs.ClientErrors += int64(m.GetCounter().GetValue())
					case "canceled":
						rs.Canceled += int64(m.GetCounter().GetValue())
					}
				case "switchyard_request_duration_seconds":
					sums[rs.Route] += m.GetHistogram().GetSampleSum()
				}
			}
		}
		for r, sum := range sums {
			if rs := byRoute[r]; rs.Requests > 0 {
				rs.MeanLatencyMS = int64(sum * 1000 / float64(rs.Requests))
			}
		}
	}
	for _, r := range g.routes {
		out = append(out, *byRoute[r])
	}
	return out
}

func label(m *dto.Metric, name string) string {
	for _, l := range m.GetLabel() {
		if l.GetName() == name {
			return l.GetValue()
		}
	}
	return ""
}

// prober asks instances for their readiness, remembering each answer for
// a second so that several dashboards do not multiply the probes.
type prober struct {
	client *http.Client
	scheme string     // "http", or "https" with Options.ProbeTLS
	mu     sync.Mutex // guards cache
	cache  map[string]probeResult
}

type probeResult struct {
	health string
	at     time.Time
}

func newProber(c *http.Client, overTLS bool) *prober {
	p := &prober{client: c, scheme: "http", cache: map[string]probeResult{}}
	if overTLS {
		p.scheme = "https"
	}
	return p
}

// probe returns the health of every address in addrs (which come from the
// registry, never from a request).
func (p *prober) probe(ctx context.Context, addrs map[string]bool) map[string]string {
	out := make(map[string]string, len(addrs))
	var stale []string
	now := time.Now()
	p.mu.Lock()
	for a := range p.cache {
		if !addrs[a] {
			delete(p.cache, a)
		}
	}
	for a := range addrs {
		if r, ok := p.cache[a]; ok && now.Sub(r.at) < time.Second {
			out[a] = r.health
		} else {
			stale = append(stale, a)
		}
	}
	p.mu.Unlock()
	var (
		wg sync.WaitGroup
		mu sync.Mutex // guards out
	)
	for _, a := range stale {
		wg.Go(func() {
			h := p.readyz(ctx, a)
			mu.Lock()
			out[a] = h
			mu.Unlock()
		})
	}
	wg.Wait()
	p.mu.Lock()
	for _, a := range stale {
		p.cache[a] = probeResult{health: out[a], at: now}
	}
	p.mu.Unlock()
	return out
}

func (p *prober) readyz(ctx context.Context, addr string) string {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, p.scheme+"://"+addr+"/readyz", nil)
	if err != nil {
		return "down"
	}
	resp, err := p.client.Do(req)
	if err != nil {
		return "down"
	}
	defer resp.Body.Close()
	var body struct{ Status string }
	if err := json.NewDecoder(io.LimitReader(resp.Body, 64<<10)).Decode(&body); err != nil || body.Status == "" {
		if resp.StatusCode == http.StatusOK {
			return "ready"
		}
		return "failing"
	}
	return body.Status
}
