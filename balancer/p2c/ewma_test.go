package p2c_test

import (
	"math"
	"sync"
	"testing"
	"time"

	"github.com/switchyard/switchyard/balancer/p2c"
)

// ewmaTau is a time constant of 2^30 ns (about 1.07s). Stamps are kept in
// units of 2^10 ns, so ages that are multiples of 1024 ns are exact.
const ewmaTau = 1 << 30

func ewmaValue(t *testing.T, e *p2c.EWMA, now int64) float64 {
	t.Helper()
	v, ok := e.Value(now, ewmaTau)
	if !ok {
		t.Fatalf("Value(%d) reports no sample", now)
	}
	return v
}

func TestEWMAZeroValueHasNoSample(t *testing.T) {
	var e p2c.EWMA
	if v, ok := e.Value(12345, ewmaTau); ok || v != 0 {
		t.Fatalf("zero EWMA: Value = %v, %v; want 0, false", v, ok)
	}
}

func TestEWMAFirstSampleIsTheValue(t *testing.T) {
	var e p2c.EWMA
	e.Observe(int64(5*time.Millisecond), 0, ewmaTau)
	if v := ewmaValue(t, &e, 0); v != float64(5*time.Millisecond) {
		t.Fatalf("after one 5ms sample: %v, want 5ms", time.Duration(v))
	}
	// A zero sample still counts as a sample.
	var z p2c.EWMA
	z.Observe(0, 0, ewmaTau)
	if _, ok := z.Value(0, ewmaTau); !ok {
		t.Fatal("a 0ns sample reads as no sample")
	}
}

// TestEWMAPeakReplacesAtOnce: a sample above the average replaces it, no
// matter how little time has passed.
func TestEWMAPeakReplacesAtOnce(t *testing.T) {
	var e p2c.EWMA
	now := int64(0)
	for range 100 {
		now += 1024
		e.Observe(int64(time.Millisecond), now, ewmaTau)
	}
	e.Observe(int64(50*time.Millisecond), now+1024, ewmaTau)
	if v := ewmaValue(t, &e, now+1024); v != float64(50*time.Millisecond) {
		t.Fatalf("after a 50ms peak: %v, want 50ms", time.Duration(v))
	}
}

// TestEWMADecaysTowardLowerSamples: a lower sample taken Δt after the last
// pulls the average towards it with weight 1 - exp(-Δt/τ).
func TestEWMADecaysTowardLowerSamples(t *testing.T) {
	tests := []struct {
		name string
		dt   int64
	}{
		{"tau/8", ewmaTau / 8},
		{"tau", ewmaTau},
		{"3tau", 3 * ewmaTau},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var e p2c.EWMA
			hi, lo := float64(100*time.Millisecond), float64(10*time.Millisecond)
			e.Observe(int64(hi), 0, ewmaTau)
			e.Observe(int64(lo), tt.dt, ewmaTau)
			w := math.Exp(-float64(tt.dt) / ewmaTau)
			want := hi*w + lo*(1-w)
			if got := ewmaValue(t, &e, tt.dt); math.Abs(got-want) > 0.005*want {
				t.Fatalf("100ms then 10ms %s later: %v, want %v", tt.name, time.Duration(got), time.Duration(want))
			}
		})
	}

	// Repeated lower samples walk the average down to them, never below.
	var e p2c.EWMA
	e.Observe(int64(100*time.Millisecond), 0, ewmaTau)
	prev := math.Inf(1)
	now := int64(0)
	for range 50 {
		now += ewmaTau / 4
		e.Observe(int64(10*time.Millisecond), now, ewmaTau)
		v := ewmaValue(t, &e, now)
		if v >= prev || v < float64(10*time.Millisecond)*(1-1e-6) {
			t.Fatalf("at %v: %v after %v; want a strict decrease that stays at or above 10ms", time.Duration(now), time.Duration(v), time.Duration(prev))
		}
		prev = v
	}
	if prev > float64(10*time.Millisecond)*1.001 {
		t.Fatalf("after 50 samples of 10ms over 12.5τ: %v, want 10ms", time.Duration(prev))
	}
}

// TestEWMADecayAccuracy reads one sample back at many ages: the decayed
// value must stay within 0.5% of the exact exp(-age/τ) from age 0 to 40τ,
// and halve at each half-life.
func TestEWMADecayAccuracy(t *testing.T) {
	var e p2c.EWMA
	const v0 = 1 << 30 // exact in float32
	e.Observe(v0, 0, ewmaTau)
	worst, worstAge := 0.0, int64(0)
	for age := int64(0); age <= 40*ewmaTau; age += ewmaTau / 1000 &^ 1023 {
		want := v0 * math.Exp(-float64(age)/ewmaTau)
		got := ewmaValue(t, &e, age)
		if rel := math.Abs(got-want) / want; rel > worst {
			worst, worstAge = rel, age
		}
	}
	t.Logf("worst relative error %.4f%% at %.3fτ", 100*worst, float64(worstAge)/ewmaTau)
	if worst >= 0.005 {
		t.Fatalf("decay is off by %.3f%% at age %.3fτ, want < 0.5%%", 100*worst, float64(worstAge)/ewmaTau)
	}
	tau := float64(ewmaTau)
	halfLife := int64(tau * math.Ln2)
	for k := range int64(8) {
		got := ewmaValue(t, &e, k*halfLife)
		want := v0 / math.Exp2(float64(k))
		if math.Abs(got-want) > 0.005*want {
			t.Errorf("after %d half-lives: %v, want %v", k, got, want)
		}
	}
	// Far past the horizon the estimate is gone, but the sample is not.
	if got := ewmaValue(t, &e, 100*ewmaTau); got != 0 {
		t.Errorf("after 100τ: %v, want 0", got)
	}
}

// TestEWMAConcurrentObserve: samples from many goroutines are neither lost
// into garbage nor torn; with equal samples the result is that sample.
func TestEWMAConcurrentObserve(t *testing.T) {
	var e p2c.EWMA
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			for i := range 1000 {
				e.Observe(int64(7*time.Millisecond), int64(i*4+g)<<10, ewmaTau)
			}
		})
	}
	wg.Wait()
	// Read at the last stamp: at most 4 µs of decay, under 1e-5.
	if v := ewmaValue(t, &e, 4000<<10); math.Abs(v-float64(7*time.Millisecond)) > 1e-4*float64(7*time.Millisecond) {
		t.Fatalf("after equal 7ms samples: %v, want 7ms", time.Duration(v))
	}
}

// TestEWMAReadBeforeItsStamp: a pick may read the balancer's clock just
// before another goroutine records a sample with a later stamp. Such a
// reading is not an hour old: it must see the sample undecayed, not
// decayed to nothing.
func TestEWMAReadBeforeItsStamp(t *testing.T) {
	var e p2c.EWMA
	const at = 10 << 30
	e.Observe(int64(50*time.Millisecond), at, ewmaTau)
	for _, early := range []int64{1024, 1 << 20, 1 << 30} {
		if v := ewmaValue(t, &e, at-early); v != float64(50*time.Millisecond) {
			t.Errorf("read %dns before the sample's stamp: %v, want 50ms", early, time.Duration(v))
		}
	}
	// A late-arriving older sample below the average does not replace it.
	e.Observe(int64(time.Millisecond), at-1<<20, ewmaTau)
	if v := ewmaValue(t, &e, at); v < float64(49*time.Millisecond) {
		t.Errorf("after an out-of-order 1ms sample: %v, want about 50ms", time.Duration(v))
	}
}
