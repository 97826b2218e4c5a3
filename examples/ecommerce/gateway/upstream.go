package gateway

import (
	"context"
	"net/http"
	"sync"
	"sync/atomic"

	"github.com/switchyard/switchyard/middleware/circuitbreaker"
	"github.com/switchyard/switchyard/outcome"
)

// hostTable is the gateway's outbound transport below the balancer: it
// guards each upstream instance (keyed by host:port, which the balancer
// has already chosen from the registry) with its own circuit breaker and
// counts the instance's requests and failures for the dashboard.
type hostTable struct {
	breakers *circuitbreaker.Group
	next     http.RoundTripper
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

// RoundTrip sends req through the breaker of its host. A 5xx answer is
// passed on unchanged and counted as a server failure; while the breaker
// is open the request is not sent and RoundTrip returns the breaker's
// *circuitbreaker.RejectedError.
func (t *hostTable) RoundTrip(req *http.Request) (*http.Response, error) {
	host := req.URL.Host
	st := t.statsFor(host)
	var resp *http.Response
	err := t.breakers.Get(host).Execute(req.Context(), func(context.Context) error {
		var err error
		resp, err = t.next.RoundTrip(req)
		if err != nil {
			return err
		}
		if resp.StatusCode >= 500 {
			return &outcome.StatusError{Status: resp.StatusCode}
		}
		return nil
	})
	if circuitbreaker.IsRejection(err) {
		return nil, err
	}
	if outcome.Default(req.Context(), err).Neutral() {
		// The client broke or abandoned its request: nothing to hold
		// against the instance.
		return nil, err
	}
	st.requests.Add(1)
	if resp == nil {
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
