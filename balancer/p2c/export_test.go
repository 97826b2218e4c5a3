package p2c

import "github.com/switchyard/switchyard/balancer"

// EWMA exposes the latency estimate to the external tests.
type EWMA = ewma

func (e *ewma) Observe(rtt, now, tau int64)          { e.observe(rtt, now, tau) }
func (e *ewma) Value(now, tau int64) (float64, bool) { return e.value(now, tau) }

// Latency returns the estimate the policy keeps for h, decayed to now with
// time constant tau, and false when h has no sample or no state.
func Latency(h *balancer.Host, now, tau int64) (float64, bool) {
	st := stateOf(h)
	if st == nil {
		return 0, false
	}
	return st.latency.value(now, tau)
}
