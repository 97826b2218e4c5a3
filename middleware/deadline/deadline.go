package deadline

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/switchyard/switchyard/internal/clock"
	"github.com/switchyard/switchyard/internal/httperr"
)

// Header carries the time the caller has left for a request, in whole
// milliseconds, as a relative duration: "250" means "answer within 250 ms
// of receiving this". Relative time needs no agreement between the clocks
// of the two hosts; the price is that the time the request spends on the
// wire is not counted, which [Config.HopAllowance] can make up for.
const Header = "X-Switchyard-Deadline-Ms"

// Limits and defaults.
const (
	// DefaultMax caps the budget a server accepts from the header: 5
	// minutes. A caller asking for more gets this much.
	DefaultMax = 5 * time.Minute
	// maxDigits bounds the header's length: 10 digits, about 115 days.
	maxDigits = 10
)

var (
	// ErrExceeded is matched (with errors.Is) by every error reporting a
	// deadline that has passed or would pass before a request can be
	// served.
	ErrExceeded = errors.New("deadline: exceeded")
	// ErrBadHeader is matched by every error reporting a malformed
	// [Header].
	ErrBadHeader = errors.New("deadline: malformed " + Header + " header")
	// ErrConfig is wrapped by the error [New] returns for an invalid
	// configuration.
	ErrConfig = errors.New("deadline: invalid configuration")
)

// Error is a deadline failure with the HTTP status it maps to: 400 with
// code "bad_deadline" for a malformed header, 504 with code
// "deadline_exceeded" for a deadline that has passed. It implements
// StatusCode, so go-kit's DefaultErrorEncoder and [outcome.Default] read
// the status, and MarshalJSON, which writes the body
// {"error":{"code":"…","message":"…"}}. errors.Is matches it against
// [ErrBadHeader] or [ErrExceeded], and against the error it wraps, if any.
type Error struct {
	Status  int    // 400 or 504
	Code    string // "bad_deadline" or "deadline_exceeded"
	Message string // for humans
	kind    error  // ErrBadHeader or ErrExceeded
	cause   error  // optional
}

func badHeader(msg string) *Error {
	return &Error{Status: http.StatusBadRequest, Code: "bad_deadline", Message: msg, kind: ErrBadHeader}
}

func exceeded(msg string, cause error) *Error {
	return &Error{Status: http.StatusGatewayTimeout, Code: "deadline_exceeded", Message: msg, kind: ErrExceeded, cause: cause}
}

// Error returns "deadline: " and the message.
func (e *Error) Error() string { return "deadline: " + e.Message }

// Unwrap returns the sentinel ([ErrBadHeader] or [ErrExceeded]) and the
// cause, if any.
func (e *Error) Unwrap() []error {
	if e.cause != nil {
		return []error{e.kind, e.cause}
	}
	return []error{e.kind}
}

// StatusCode returns the HTTP status.
func (e *Error) StatusCode() int { return e.Status }

// MarshalJSON returns {"error":{"code":…,"message":…}}.
func (e *Error) MarshalJSON() ([]byte, error) {
	return httperr.AppendBody(nil, e.Code, e.Message), nil
}

// ParseHeader parses a [Header] value strictly: one to ten ASCII digits,
// no sign, no spaces, no leading zero (except "0" itself). Anything else
// is an error matching [ErrBadHeader]. The result is not capped; servers
// cap it at [Config.Max].
func ParseHeader(s string) (time.Duration, error) {
	if s == "" {
		return 0, badHeader(Header + " is empty")
	}
	if len(s) > maxDigits {
		return 0, badHeader(Header + " has more than 10 digits")
	}
	if len(s) > 1 && s[0] == '0' {
		return 0, badHeader(Header + " has a leading zero")
	}
	var ms int64
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return 0, badHeader(Header + " must be a whole number of milliseconds")
		}
		ms = ms*10 + int64(c-'0')
	}
	return time.Duration(ms) * time.Millisecond, nil
}

// FormatHeader formats d as a [Header] value, rounding down to the
// millisecond (so a hop never grants more time than it has) and writing
// "0" for anything below a millisecond. Values beyond ten digits are
// written as the ten-digit maximum.
func FormatHeader(d time.Duration) string {
	ms := max(d.Milliseconds(), 0)
	return strconv.FormatInt(min(ms, 9_999_999_999), 10)
}

// Hooks are functions called on deadline decisions, for metrics. Each may
// be nil (the default). They are never called under a lock and must be
// safe for concurrent use.
type Hooks struct {
	// OnExceeded is called when a request is refused or cut short with a
	// 504 or [ErrExceeded]; reason is one of the Reason constants.
	OnExceeded func(reason string)
	// OnBadHeader is called when a request is refused for a malformed
	// [Header].
	OnBadHeader func()
}

// Reasons given to [Hooks.OnExceeded] and as the "reason" attribute of
// [EventExceeded].
const (
	// ReasonOnArrival: the request arrived with no time left.
	ReasonOnArrival = "expired_on_arrival"
	// ReasonTimeout: the handler or endpoint ran out of time.
	ReasonTimeout = "timeout"
	// ReasonBeforeSend: a client had no time left to send the request.
	ReasonBeforeSend = "expired_before_send"
)

// Config configures a [Deadline]. The zero value is valid: budgets from
// the header capped at [DefaultMax], no default budget, no hop allowance,
// no minimum budget. [New] rejects an invalid Config with an error
// wrapping [ErrConfig].
type Config struct {
	// Max caps the budget a server takes from the header. Default
	// [DefaultMax] (5 minutes); negative is invalid. Set it to Default at
	// an edge so that a client's header can shorten the server's budget
	// but never lengthen it.
	Max time.Duration

	// Default gives requests that arrive without a [Header] (and without
	// a deadline in their context) a budget of this much. Default 0: no
	// deadline; negative is invalid.
	Default time.Duration

	// HopAllowance makes clients send the time left minus this much,
	// keeping it for the network and for handling the answer, so that the
	// next hop gives up slightly before this one does and this one can
	// still answer in time. Default 0; negative is invalid.
	HopAllowance time.Duration

	// MinBudget refuses with a 504, without calling the next handler or
	// endpoint, a request with no more than this much left. Default 0:
	// only a request with no time left at all; negative is invalid.
	MinBudget time.Duration

	// Hooks are called on deadline decisions. The zero value calls
	// nothing.
	Hooks Hooks
}

// Deadline carries deadlines across hops: its server faces
// ([Deadline.Handler], and [Deadline.ServerBefore] with
// [Deadline.Endpoint] for go-kit servers) set the request context's
// deadline from the [Header], and its client faces
// ([Deadline.Transport], and [Deadline.ClientBefore] with
// [Deadline.Endpoint] for go-kit clients) write the time left into it.
// Options that concern only one side are ignored by the other. A Deadline
// is safe for concurrent use; build it with [New].
type Deadline struct {
	max       time.Duration
	def       time.Duration
	allowance time.Duration
	minBudget time.Duration
	hooks     Hooks
	clk       clock.Clock // the real clock; tests behind a real server set another
}

// New returns a Deadline configured by cfg, or an error wrapping
// [ErrConfig] when cfg is invalid.
func New(cfg Config) (*Deadline, error) {
	if cfg.Max < 0 || cfg.Default < 0 || cfg.HopAllowance < 0 || cfg.MinBudget < 0 {
		return nil, fmt.Errorf("%w: negative duration (Max %v, Default %v, HopAllowance %v, MinBudget %v)",
			ErrConfig, cfg.Max, cfg.Default, cfg.HopAllowance, cfg.MinBudget)
	}
	d := &Deadline{
		max:       cfg.Max,
		def:       cfg.Default,
		allowance: cfg.HopAllowance,
		minBudget: cfg.MinBudget,
		hooks:     cfg.Hooks,
		clk:       clock.Real{},
	}
	if d.max == 0 {
		d.max = DefaultMax
	}
	return d, nil
}
