package fault

import (
	"errors"
	"fmt"
	"math"
	"net/http"
	"strconv"
	"time"
)

// The request headers that ask for faults (see the package documentation).
const (
	HeaderDelay        = "X-Switchyard-Fault-Delay"
	HeaderDelayPercent = "X-Switchyard-Fault-Delay-Percent"
	HeaderAbort        = "X-Switchyard-Fault-Abort"
	HeaderAbortPercent = "X-Switchyard-Fault-Abort-Percent"
)

// ErrBadHeader is wrapped by the errors of [ParseHeaders].
var ErrBadHeader = errors.New("fault: bad fault header")

// Spec is the fault a request asks for. Zero Delay or zero AbortStatus
// means none of that kind.
type Spec struct {
	Delay        time.Duration
	DelayPercent float64 // 0 to 100
	AbortStatus  int     // 0, or 400 to 599
	AbortPercent float64 // 0 to 100
}

func hasFaultHeaders(h http.Header) bool {
	return h.Get(HeaderDelay) != "" || h.Get(HeaderAbort) != ""
}

// ParseHeaders reads the X-Switchyard-Fault-* headers of h. A delay is a
// Go duration ("250ms", "1.5s") or a whole number of milliseconds
// ("250"); it may not be negative, and one above maxDelay is cut to
// maxDelay (maxDelay ≤ 0 means [DefaultMaxHeaderDelay]). An abort is a
// status from 400 to 599. Percentages are decimal numbers from 0 to 100
// and default to 100 when their fault is present. Any malformed value
// makes the whole result an error wrapping [ErrBadHeader].
func ParseHeaders(h http.Header, maxDelay time.Duration) (Spec, error) {
	if maxDelay <= 0 {
		maxDelay = DefaultMaxHeaderDelay
	}
	var s Spec
	if v := h.Get(HeaderDelay); v != "" {
		d, err := parseDelay(v)
		if err != nil {
			return Spec{}, err
		}
		s.Delay = min(d, maxDelay)
		if s.DelayPercent, err = parsePercent(h.Get(HeaderDelayPercent)); err != nil {
			return Spec{}, err
		}
	}
	if v := h.Get(HeaderAbort); v != "" {
		code, err := strconv.Atoi(v)
		if err != nil || !validStatus(code) || len(v) != 3 {
			return Spec{}, fmt.Errorf("%w: %s %s is not a status from 400 to 599", ErrBadHeader, HeaderAbort, clip(v))
		}
		s.AbortStatus = code
		if s.AbortPercent, err = parsePercent(h.Get(HeaderAbortPercent)); err != nil {
			return Spec{}, err
		}
	}
	return s, nil
}

func parseDelay(v string) (time.Duration, error) {
	if len(v) > 32 {
		return 0, fmt.Errorf("%w: %s is too long", ErrBadHeader, HeaderDelay)
	}
	allDigits := true
	for i := 0; i < len(v); i++ {
		if v[i] < '0' || v[i] > '9' {
			allDigits = false
			break
		}
	}
	if allDigits {
		ms, err := strconv.ParseInt(v, 10, 64)
		if err != nil || ms > math.MaxInt64/int64(time.Millisecond) {
			return 0, fmt.Errorf("%w: %s %s is out of range", ErrBadHeader, HeaderDelay, clip(v))
		}
		return time.Duration(ms) * time.Millisecond, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil || d < 0 {
		return 0, fmt.Errorf("%w: %s %s is not a non-negative duration", ErrBadHeader, HeaderDelay, clip(v))
	}
	return d, nil
}

func parsePercent(v string) (float64, error) {
	if v == "" {
		return 100, nil
	}
	if len(v) > 32 {
		return 0, fmt.Errorf("%w: percentage too long", ErrBadHeader)
	}
	p, err := strconv.ParseFloat(v, 64)
	if err != nil || !validPercent(p) {
		return 0, fmt.Errorf("%w: percentage %s is not within [0, 100]", ErrBadHeader, clip(v))
	}
	return p, nil
}

// clip quotes s for an error message, short whatever a client sent.
func clip(s string) string {
	q := strconv.Quote(s[:min(len(s), 48)])
	if len(q) > 48 || len(s) > 48 {
		return q[:min(len(q), 48)] + "…"
	}
	return q
}
