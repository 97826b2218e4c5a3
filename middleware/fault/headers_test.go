package fault_test

import (
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/switchyard/switchyard/middleware/fault"
)

func TestParseHeaders(t *testing.T) {
	for _, tc := range []struct {
		name string
		hdr  map[string]string
		want fault.Spec
		bad  bool
	}{
		{"none", nil, fault.Spec{}, false},
		{"delay ms", map[string]string{fault.HeaderDelay: "250"}, fault.Spec{Delay: 250 * time.Millisecond, DelayPercent: 100}, false},
		{"delay duration", map[string]string{fault.HeaderDelay: "1.5s", fault.HeaderDelayPercent: "12.5"}, fault.Spec{Delay: 1500 * time.Millisecond, DelayPercent: 12.5}, false},
		{"delay capped", map[string]string{fault.HeaderDelay: "99999999"}, fault.Spec{Delay: 5 * time.Second, DelayPercent: 100}, false},
		{"abort", map[string]string{fault.HeaderAbort: "503", fault.HeaderAbortPercent: "50"}, fault.Spec{AbortStatus: 503, AbortPercent: 50}, false},
		{"both", map[string]string{fault.HeaderAbort: "429", fault.HeaderDelay: "0"}, fault.Spec{AbortStatus: 429, AbortPercent: 100, DelayPercent: 100}, false},
		{"negative delay", map[string]string{fault.HeaderDelay: "-1s"}, fault.Spec{}, true},
		{"junk delay", map[string]string{fault.HeaderDelay: "soon"}, fault.Spec{}, true},
		{"huge ms", map[string]string{fault.HeaderDelay: "99999999999999999999"}, fault.Spec{}, true},
		{"status 200", map[string]string{fault.HeaderAbort: "200"}, fault.Spec{}, true},
		{"status with sign", map[string]string{fault.HeaderAbort: "+503"}, fault.Spec{}, true},
		{"status padded", map[string]string{fault.HeaderAbort: "0503"}, fault.Spec{}, true},
		{"percent 101", map[string]string{fault.HeaderAbort: "503", fault.HeaderAbortPercent: "101"}, fault.Spec{}, true},
		{"percent NaN", map[string]string{fault.HeaderDelay: "1", fault.HeaderDelayPercent: "NaN"}, fault.Spec{}, true},
		{"percent Inf", map[string]string{fault.HeaderDelay: "1", fault.HeaderDelayPercent: "Inf"}, fault.Spec{}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := http.Header{}
			for k, v := range tc.hdr {
				h.Set(k, v)
			}
			got, err := fault.ParseHeaders(h, 0)
			if tc.bad {
				if !errors.Is(err, fault.ErrBadHeader) {
					t.Fatalf("got %+v, %v; want ErrBadHeader", got, err)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("got %+v, %v; want %+v", got, err, tc.want)
			}
		})
	}
}

func FuzzParseHeaders(f *testing.F) {
	f.Add("250", "50", "503", "10")
	f.Add("1.5s", "", "429", "")
	f.Add("-1h", "101", "200", "NaN")
	f.Add("9223372036854775807", "1e2", "0599", "+1")
	f.Add("1h2m3s4ms5us6ns", "0x1p-2", "５03", " 5")
	f.Fuzz(func(t *testing.T, delay, delayPct, abort, abortPct string) {
		h := http.Header{}
		h.Set(fault.HeaderDelay, delay)
		h.Set(fault.HeaderDelayPercent, delayPct)
		h.Set(fault.HeaderAbort, abort)
		h.Set(fault.HeaderAbortPercent, abortPct)
		const maxDelay = 2 * time.Second
		s, err := fault.ParseHeaders(h, maxDelay)
		if err != nil {
			if !errors.Is(err, fault.ErrBadHeader) {
				t.Fatalf("error %v does not wrap ErrBadHeader", err)
			}
			if s != (fault.Spec{}) {
				t.Fatalf("error with a non-zero spec %+v", s)
			}
			if len(err.Error()) > 200 {
				t.Fatalf("error message of %d bytes echoes the input", len(err.Error()))
			}
			return
		}
		if s.Delay < 0 || s.Delay > maxDelay {
			t.Fatalf("delay %v outside [0, %v]", s.Delay, maxDelay)
		}
		if s.AbortStatus != 0 && (s.AbortStatus < 400 || s.AbortStatus > 599) {
			t.Fatalf("abort status %d", s.AbortStatus)
		}
		for _, p := range []float64{s.DelayPercent, s.AbortPercent} {
			if !(p >= 0 && p <= 100) {
				t.Fatalf("percentage %v", p)
			}
		}
	})
}
