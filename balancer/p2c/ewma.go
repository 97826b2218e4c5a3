package p2c

import (
	"math"
	"sync/atomic"
)

// ewma is a peak-sensitive exponentially weighted moving average of
// latency in nanoseconds, as in Finagle's and Linkerd's peak-EWMA
// balancers: a sample above the average replaces it at once, a sample below
// pulls it down with weight 1 - exp(-Δt/τ), and with no samples it decays
// towards zero, so an idle host is probed again eventually.
//
// The zero value holds no sample. Updates are lock-free (a CAS loop on one
// word); all methods are safe for concurrent use.
type ewma struct {
	// state packs the value in ns as float32 bits (high 32 bits) and the
	// stamp in units of 2^10 ns relative to the balancer epoch ([balancer.Host.Now]) (low 32
	// bits). Ages are signed 32-bit differences, so they wrap safely and
	// are right within about 36 minutes either way; a stamp slightly ahead
	// of the reader's clock (a sample recorded by another goroutine after
	// the reader read the clock) reads as age zero, not as ancient.
	state atomic.Uint64
}

const stampShift = 10

func packEWMA(v float64, now int64) uint64 {
	return uint64(math.Float32bits(float32(v)))<<32 | uint64(uint32(now>>stampShift))
}

func unpackEWMA(s uint64, now int64) (v float64, age int64) {
	v = float64(math.Float32frombits(uint32(s >> 32)))
	age = int64(int32(uint32(now>>stampShift)-uint32(s))) << stampShift
	return v, age
}

// observe folds one latency sample taken at now (ns) into the average,
// with decay time constant tau (ns).
func (e *ewma) observe(rtt, now, tau int64) {
	for {
		old := e.state.Load()
		var next float64
		if old == 0 {
			next = float64(rtt)
		} else {
			v, age := unpackEWMA(old, now)
			if float64(rtt) > v {
				next = float64(rtt)
			} else {
				w := decay(age, tau)
				next = v*w + float64(rtt)*(1-w)
			}
		}
		if next < 1 {
			next = 1 // keep a sample distinguishable from "no sample"
		}
		if e.state.CompareAndSwap(old, packEWMA(next, now)) {
			return
		}
	}
}

// value returns the average decayed to now, and false when there has been
// no sample.
func (e *ewma) value(now, tau int64) (float64, bool) {
	s := e.state.Load()
	if s == 0 {
		return 0, false
	}
	v, age := unpackEWMA(s, now)
	return v * decay(age, tau), true
}

// decay returns exp(-age/tau) for age ≥ 0, using a cheap approximation:
// exact at multiples of ln 2 · tau and within 0.4% between, which is far
// finer than latency noise.
func decay(age, tau int64) float64 {
	if age <= 0 || tau <= 0 {
		return 1
	}
	x := float64(age) / float64(tau) * math.Log2E // exp(-a/τ) = 2^-x
	if x >= 60 {
		return 0
	}
	n := int(x)
	f := x - float64(n)
	// 2^-f on [0,1): quadratic fit through f = 0, 0.5, 1.
	p := 1 - f*(0.6715728752538099-f*0.1715728752538099)
	// 2^-n straight from its exponent bits (0 ≤ n < 60, a normal float):
	// math.Ldexp handles every edge case and costs as much as the rest of
	// a pick.
	return p * math.Float64frombits(uint64(1023-n)<<52)
}
