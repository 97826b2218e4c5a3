package balancer

import (
	"fmt"
	"math"
	"time"

	"github.com/switchyard/switchyard/discovery"
)

// OutlierConfig configures outlier detection, which ejects hosts that fail
// from the snapshot for a while. Its shape follows Envoy's outlier
// detection. Zero fields take the documented defaults; use the Disable*
// fields to turn a check off. A negative duration, count or factor, or a
// percentage above 100, makes [New] fail with [ErrConfig].
type OutlierConfig struct {
	// ConsecutiveFailures ejects a host after this many server-health
	// failures in a row. Default 5.
	ConsecutiveFailures int
	// BaseEjectionTime is how long a first ejection lasts; the n-th
	// ejection lasts n × BaseEjectionTime. Default 30s.
	BaseEjectionTime time.Duration
	// MaxEjectionTime caps an ejection's length. Default 300s.
	MaxEjectionTime time.Duration
	// MaxEjectionPercent caps the share of hosts ejected at once; at least
	// one host may always be ejected. Default 10.
	MaxEjectionPercent int
	// PanicThreshold is a percentage: when fewer than this share of hosts
	// remain eligible, the balancer ignores ejections and uses every host,
	// because a pool that small would melt under the load. Default 50; a
	// negative value disables panic mode.
	PanicThreshold int

	// Interval is how often the success-rate and failure-percentage checks
	// run and ejection multipliers decay. Default 10s.
	Interval time.Duration

	// SuccessRateMinimumHosts is how many hosts must each have at least
	// SuccessRateRequestVolume calls in an interval for the success-rate
	// check to run. Defaults 5 and 100.
	SuccessRateMinimumHosts  int
	SuccessRateRequestVolume int
	// SuccessRateStdevFactor: a host whose success rate is below
	// mean − factor × stdev of the qualifying hosts is ejected. Default 1.9.
	SuccessRateStdevFactor float64

	// FailurePercentageThreshold ejects a host whose share of server
	// failures in an interval is at or above this percentage, provided at
	// least FailurePercentageMinimumHosts hosts had at least
	// FailurePercentageRequestVolume calls. Defaults 85, 5 and 50.
	FailurePercentageThreshold     int
	FailurePercentageMinimumHosts  int
	FailurePercentageRequestVolume int

	// DisableConsecutive, DisableSuccessRate and DisableFailurePercentage
	// turn the individual checks off.
	DisableConsecutive       bool
	DisableSuccessRate       bool
	DisableFailurePercentage bool

	// OnEject and OnRestore, if set, are called after a host is ejected or
	// restored, outside any lock, on whichever goroutine made the change —
	// a caller reporting a failure, the sweep, or a restore timer — so they
	// may run concurrently and must be safe for that. reason is
	// "consecutive_failures", "success_rate" or "failure_percentage".
	OnEject   func(inst discovery.Instance, reason string, d time.Duration)
	OnRestore func(inst discovery.Instance)
}

// validate reports the first field out of range: a negative duration,
// count or factor, or a percentage above 100.
func (c *OutlierConfig) validate() error {
	for _, d := range []struct {
		name string
		v    time.Duration
	}{{"BaseEjectionTime", c.BaseEjectionTime}, {"MaxEjectionTime", c.MaxEjectionTime}, {"Interval", c.Interval}} {
		if d.v < 0 {
			return fmt.Errorf("OutlierConfig.%s %v is negative", d.name, d.v)
		}
	}
	for _, n := range []struct {
		name     string
		v, limit int
	}{
		{"ConsecutiveFailures", c.ConsecutiveFailures, math.MaxInt},
		{"MaxEjectionPercent", c.MaxEjectionPercent, 100},
		{"PanicThreshold", max(c.PanicThreshold, 0), 100}, // negative: panic mode off
		{"SuccessRateMinimumHosts", c.SuccessRateMinimumHosts, math.MaxInt},
		{"SuccessRateRequestVolume", c.SuccessRateRequestVolume, math.MaxInt},
		{"FailurePercentageThreshold", c.FailurePercentageThreshold, 100},
		{"FailurePercentageMinimumHosts", c.FailurePercentageMinimumHosts, math.MaxInt},
		{"FailurePercentageRequestVolume", c.FailurePercentageRequestVolume, math.MaxInt},
	} {
		if n.v < 0 || n.v > n.limit {
			return fmt.Errorf("OutlierConfig.%s %d is out of range [0, %d]", n.name, n.v, n.limit)
		}
	}
	if c.SuccessRateStdevFactor < 0 || math.IsNaN(c.SuccessRateStdevFactor) {
		return fmt.Errorf("OutlierConfig.SuccessRateStdevFactor %v is negative", c.SuccessRateStdevFactor)
	}
	return nil
}

func (c *OutlierConfig) withDefaults() OutlierConfig {
	o := *c
	def := func(p *int, v int) {
		if *p == 0 {
			*p = v
		}
	}
	def(&o.ConsecutiveFailures, 5)
	def(&o.MaxEjectionPercent, 10)
	def(&o.PanicThreshold, 50)
	def(&o.SuccessRateMinimumHosts, 5)
	def(&o.SuccessRateRequestVolume, 100)
	def(&o.FailurePercentageThreshold, 85)
	def(&o.FailurePercentageMinimumHosts, 5)
	def(&o.FailurePercentageRequestVolume, 50)
	if o.BaseEjectionTime <= 0 {
		o.BaseEjectionTime = 30 * time.Second
	}
	if o.MaxEjectionTime <= 0 {
		o.MaxEjectionTime = 300 * time.Second
	}
	if o.Interval <= 0 {
		o.Interval = 10 * time.Second
	}
	if o.SuccessRateStdevFactor <= 0 {
		o.SuccessRateStdevFactor = 1.9
	}
	return o
}

// Ejection reasons passed to OnEject.
const (
	ReasonConsecutive       = "consecutive_failures"
	ReasonSuccessRate       = "success_rate"
	ReasonFailurePercentage = "failure_percentage"
)

type ejectEvent struct {
	inst   discovery.Instance
	reason string
	d      time.Duration
}

// ejectLocked ejects h if the ejection cap allows it, and reports whether
// it did. b.mu is held.
func (b *Balancer) ejectLocked(h *Host, reason string, events *[]ejectEvent) bool {
	if h.ejected.Load() || !b.member(h) {
		return false
	}
	n := len(b.hosts)
	limit := n * b.outlier.MaxEjectionPercent / 100
	if limit < 1 {
		limit = 1
	}
	if b.ejectedCount >= limit {
		return false
	}
	if h.out == nil {
		h.out = new(ejection)
	}
	h.out.count++
	d := time.Duration(h.out.count) * b.outlier.BaseEjectionTime
	if d > b.outlier.MaxEjectionTime || d <= 0 {
		d = b.outlier.MaxEjectionTime
	}
	h.ejected.Store(true)
	b.ejectedCount++
	h.out.until = b.clock.Now().Add(d)
	h.out.stop = b.clock.AfterFunc(d, func() { b.restore(h) })
	*events = append(*events, ejectEvent{inst: h.Instance, reason: reason, d: d})
	return true
}

// ejectConsecutive is called from the reporting path when a host reaches
// its consecutive-failure limit.
func (b *Balancer) ejectConsecutive(h *Host) {
	var events []ejectEvent
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return
	}
	if b.ejectLocked(h, ReasonConsecutive, &events) {
		b.rebuildLocked()
	}
	b.mu.Unlock()
	b.emitEjections(events)
}

func (b *Balancer) restore(h *Host) {
	b.mu.Lock()
	if b.closed || !h.ejected.Load() {
		b.mu.Unlock()
		return
	}
	h.ejected.Store(false)
	h.out.restoredAt = b.clock.Now()
	h.out.stop = nil
	h.consecutive.Store(0)
	b.ejectedCount--
	b.rebuildLocked()
	b.mu.Unlock()
	if b.outlier.OnRestore != nil {
		b.outlier.OnRestore(h.Instance)
	}
}

func (b *Balancer) emitEjections(events []ejectEvent) {
	if b.outlier.OnEject == nil {
		return
	}
	for _, e := range events {
		b.outlier.OnEject(e.inst, e.reason, e.d)
	}
}

// sweep runs every Interval: it applies the success-rate and
// failure-percentage checks to the calls seen since the previous sweep and
// lets the ejection multiplier of well-behaved hosts decay by one per
// interval.
func (b *Balancer) sweep() {
	now := b.clock.Now()
	b.tick.Store(now.Sub(b.epoch).Nanoseconds())

	var events []ejectEvent
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return
	}
	b.stopSweep = b.clock.AfterFunc(b.outlier.Interval, b.sweep)

	type sample struct {
		h          *Host
		calls      uint64
		failures   uint64
		successPct float64
	}
	samples := make([]sample, 0, len(b.hosts))
	for _, h := range b.hosts {
		s := h.successes.Swap(0)
		f := h.failures.Swap(0)
		// The multiplier decays only after a full interval back in
		// service without failures.
		if h.out != nil && !h.ejected.Load() && f == 0 && h.out.count > 0 && now.Sub(h.out.restoredAt) >= b.outlier.Interval {
			h.out.count--
		}
		if h.ejected.Load() || s+f == 0 {
			continue
		}
		samples = append(samples, sample{h: h, calls: s + f, failures: f, successPct: 100 * float64(s) / float64(s+f)})
	}
	changed := false
	o := &b.outlier
	if !o.DisableSuccessRate {
		var qual []sample
		for _, s := range samples {
			if s.calls >= uint64(o.SuccessRateRequestVolume) {
				qual = append(qual, s)
			}
		}
		if len(qual) >= o.SuccessRateMinimumHosts {
			var sum, sq float64
			for _, s := range qual {
				sum += s.successPct
			}
			mean := sum / float64(len(qual))
			for _, s := range qual {
				sq += (s.successPct - mean) * (s.successPct - mean)
			}
			limit := mean - o.SuccessRateStdevFactor*math.Sqrt(sq/float64(len(qual)))
			for _, s := range qual {
				if s.successPct < limit && b.ejectLocked(s.h, ReasonSuccessRate, &events) {
					changed = true
				}
			}
		}
	}
	if !o.DisableFailurePercentage {
		var qual []sample
		for _, s := range samples {
			if s.calls >= uint64(o.FailurePercentageRequestVolume) {
				qual = append(qual, s)
			}
		}
		if len(qual) >= o.FailurePercentageMinimumHosts {
			for _, s := range qual {
				pct := 100 * float64(s.failures) / float64(s.calls)
				if pct >= float64(o.FailurePercentageThreshold) && b.ejectLocked(s.h, ReasonFailurePercentage, &events) {
					changed = true
				}
			}
		}
	}
	if changed {
		b.rebuildLocked()
	}
	b.mu.Unlock()
	b.emitEjections(events)
}
