package gateway

import (
	"net/http"
	"sync"
	"sync/atomic"

	"github.com/switchyard/switchyard/middleware/circuitbreaker"
	"github.com/switchyard/switchyard/outcome"
)

// hostTable guards each upstream instance (keyed by host:port, which the
// balancer has already chosen from the registry) with its own circuit
// breaker and counts the instance's requests and failures for the
// dashboard. One table serves every upstream service: each service's
// transport is wrapped by [hostTable.wrap], and the breakers and counters
// are shared, keyed by instance.
type hostTable struct {
	breakers *circuitbreaker.Group
	stats    sync.Map // host:port → *hostStats
}

type hostStats struct {
	requests atomic.Int64
	failures atomic.Int64 // transport errors and 5xx answers
}

func (t *hostTable) statsFor(host string) *hostStats {
	if s, ok := t.stats.Load(host); ok {
		return s.(*hostStats)
	}
	s, _ := t.stats.LoadOrStore(host, &hostStats{})
	return s.(*hostStats)
}

// wrap returns next behind the table's breakers and counters: a service's
// upstream transport as the gateway uses it.
func (t *hostTable) wrap(next http.RoundTripper) http.RoundTripper {
	return &hostCounter{table: t, next: t.breakers.Transport(next)}
}

// hostCounter is one service's transport through a hostTable.
type hostCounter struct {
	table *hostTable
	next  http.RoundTripper // the breaker group's Transport face over the service's transport
}

// RoundTrip sends req through the breaker of its host and counts what the
// instance answered for the dashboard: a rejection by an open breaker,
// and a request the client broke or abandoned, are not the instance's.
func (c *hostCounter) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := c.next.RoundTrip(req)
	if circuitbreaker.IsRejection(err) || (err != nil && outcome.Default(req.Context(), err).Neutral()) {
		return nil, err
	}
	st := c.table.statsFor(req.URL.Host)
	st.requests.Add(1)
	if err != nil {
		st.failures.Add(1)
		return nil, err
	}
	if resp.StatusCode >= 500 {
		st.failures.Add(1)
	}
	return resp, nil
}

// forget drops the counters of hosts that are no longer upstream
// instances, so that restarts on new ports do not grow the table forever.
func (t *hostTable) forget(live map[string]bool) {
	t.stats.Range(func(k, _ any) bool {
		if !live[k.(string)] {
			t.stats.Delete(k)
		}
		return true
	})
}
