package balancer

import (
	"io"
	"sync/atomic"
	"time"

	"github.com/go-kit/kit/endpoint"

	"github.com/switchyard/switchyard/discovery"
)

// Host is one instance as the balancer sees it. A Host outlives snapshots:
// when membership changes, instances that stay keep their Host and its
// statistics.
//
// Its statistics are updated with atomics only; every method is safe for
// concurrent use.
type Host struct {
	// The fields a pick reads come first, so that they share the Host's
	// first cache line: at 10,000 hosts a pick's cost is its cache misses.

	inflight atomic.Int64
	tick     *atomic.Int64 // the balancer's coarse clock, ns

	// policyData is the policy's own per-host state; see SetPolicyData.
	policyData any

	// Instance is the discovery record. Read-only.
	Instance discovery.Instance

	ep     endpoint.Endpoint // the factory's endpoint, nil without a factory
	call   endpoint.Endpoint // ep wrapped to report to the balancer; built once
	closer io.Closer

	successes   atomic.Uint64 // since the last outlier sweep
	failures    atomic.Uint64 // server failures since the last outlier sweep
	consecutive atomic.Int32  // consecutive server failures
	ejected     atomic.Bool

	// out is the outlier detector's bookkeeping, allocated at the first
	// ejection so that hosts that never misbehave do not pay for it.
	// Guarded by Balancer.mu.
	out *ejection
}

type ejection struct {
	count      int         // the ejection multiplier
	until      time.Time   // end of the current or latest ejection
	restoredAt time.Time   // when the latest ejection ended
	stop       func() bool // cancels the pending restore, nil when none
}

// InFlight returns the number of calls to the host that have started and
// not finished.
func (h *Host) InFlight() int64 { return h.inflight.Load() }

// Ejected reports whether outlier detection has ejected the host.
func (h *Host) Ejected() bool { return h.ejected.Load() }

// Endpoint returns the factory-made endpoint of the host, or nil when the
// balancer has no factory. Calls made directly through it are not reported;
// use [Balancer.Call] or the endpoint from [Balancer.Endpoint].
func (h *Host) Endpoint() endpoint.Endpoint { return h.ep }

// Now returns a recent reading of the balancer's clock in nanoseconds. It
// advances each time a call completes, so it costs one atomic load instead
// of a clock read; policies use it to age their statistics at pick time.
func (h *Host) Now() int64 { return h.tick.Load() }

// PolicyData returns the value the policy attached to h with
// [Host.SetPolicyData], or nil.
func (h *Host) PolicyData() any { return h.policyData }

// SetPolicyData attaches the policy's own per-host state to h, such as the
// latency estimate of a policy that learns through [Observer]. A policy
// calls it from [Policy.Build] only, for a host that has none yet: the
// balancer calls Build under its lock and publishes the picker afterwards,
// so every pick and every Observe of h sees the value. The state stays
// with h for as long as h is a member, across snapshots.
func (h *Host) SetPolicyData(v any) { h.policyData = v }
