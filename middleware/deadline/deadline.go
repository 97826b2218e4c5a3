package deadline

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/switchyard/switchyard/internal/clock"
)

// Header carries the time the caller has left for a request, in whole
// milliseconds, as a relative duration: "250" means "answer within 250 ms
// of receiving this". Relative time needs no agreement between the clocks
// of the two hosts; the price is that the time the request spends on the
// wire is not counted, which [WithHopAllowance] can make up for.
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
	// ErrInvalidOption is wrapped by the errors of the constructors when
	// an option is out of range.
	ErrInvalidOption = errors.New("deadline: invalid option")
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
	type body struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	}
	return json.Marshal(struct {
		Error body `json:"error"`
	}{body{e.Code, e.Message}})
}

// ParseHeader parses a [Header] value strictly: one to ten ASCII digits,
// no sign, no spaces, no leading zero (except "0" itself). Anything else
// is an error matching [ErrBadHeader]. The result is not capped; servers
// cap it with [WithMax].
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

// Option configures [Handler], [ServerBefore], [NewTransport],
// [ClientBefore] and [Middleware]. Options that concern only one side are
// ignored by the other.
type Option func(*config)

type config struct {
	max       time.Duration
	def       time.Duration
	allowance time.Duration
	minBudget time.Duration
	clk       clock.Clock
	hooks     Hooks
}

// WithMax caps the budget a server takes from the header (default
// [DefaultMax], 5 minutes; must be positive).
func WithMax(d time.Duration) Option { return func(c *config) { c.max = d } }

// WithDefault gives requests that arrive without a [Header] (and without
// a deadline in their context) a budget of d (default 0: no deadline).
func WithDefault(d time.Duration) Option { return func(c *config) { c.def = d } }

// WithHopAllowance makes clients send the time left minus d (default 0),
// keeping d for the network and for handling the answer, so that the
// next hop gives up slightly before this one does and this one can still
// answer in time.
func WithHopAllowance(d time.Duration) Option { return func(c *config) { c.allowance = d } }

// WithMinBudget refuses with a 504, without calling the next handler or
// endpoint, a request with no more than d left (default 0: only a
// request with no time left at all).
func WithMinBudget(d time.Duration) Option { return func(c *config) { c.minBudget = d } }

// WithClock sets the clock for every timing decision (default the real
// clock).
func WithClock(c clock.Clock) Option { return func(cfg *config) { cfg.clk = c } }

// WithHooks sets the metrics hooks (default none).
func WithHooks(h Hooks) Option { return func(c *config) { c.hooks = h } }

func newConfig(opts []Option) (*config, error) {
	c := &config{max: DefaultMax}
	for _, o := range opts {
		o(c)
	}
	switch {
	case c.max <= 0:
		return nil, fmt.Errorf("%w: maximum budget %v is not positive", ErrInvalidOption, c.max)
	case c.def < 0 || c.allowance < 0 || c.minBudget < 0:
		return nil, fmt.Errorf("%w: negative duration (default %v, allowance %v, minimum %v)",
			ErrInvalidOption, c.def, c.allowance, c.minBudget)
	}
	c.clk = clock.OrReal(c.clk)
	return c, nil
}

// mustConfig is newConfig for the constructors, which return handlers
// and functions rather than errors: options out of range are a mistake
// in the program, found when it starts, so they panic.
func mustConfig(opts []Option) *config {
	c, err := newConfig(opts)
	if err != nil {
		panic(err)
	}
	return c
}
