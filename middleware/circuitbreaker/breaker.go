package circuitbreaker

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sony/gobreaker/v2"

	"github.com/switchyard/switchyard/middleware/tracing"
	"github.com/switchyard/switchyard/outcome"
)

// State is the state of a breaker.
type State int32

const (
	// Closed: calls go through and their outcomes are counted.
	Closed State = iota
	// HalfOpen: a few probe calls go through; their outcome decides
	// between Closed and Open.
	HalfOpen
	// Open: calls are rejected with a [*RejectedError] without being made.
	Open
)

// String returns "closed", "half-open" or "open".
func (s State) String() string {
	switch s {
	case Closed:
		return "closed"
	case HalfOpen:
		return "half-open"
	case Open:
		return "open"
	}
	return fmt.Sprintf("state(%d)", int32(s))
}

func fromGobreaker(s gobreaker.State) State {
	switch s {
	case gobreaker.StateHalfOpen:
		return HalfOpen
	case gobreaker.StateOpen:
		return Open
	}
	return Closed
}

// Defaults of [Config]. See [Config] for what each means.
const (
	DefaultConsecutiveFailures = 5
	DefaultFailureRatio        = 0.5
	DefaultMinRequests         = 20
	DefaultInterval            = 10 * time.Second
	DefaultBuckets             = 10
	DefaultTimeout             = 10 * time.Second
	DefaultHalfOpenRequests    = 1
)

// Config configures a [Breaker]. The zero value is valid: every zero
// field takes the default written beside it. [New] rejects an invalid
// Config with an error wrapping [ErrConfig].
type Config struct {
	// ConsecutiveFailures trips the breaker after this many server
	// failures in a row in the closed state. Default 5; a negative value
	// disables the rule.
	ConsecutiveFailures int

	// FailureRatio trips the breaker when server failures make up at least
	// this share of the answered calls (successes plus failures) in the
	// current window, provided the window holds at least MinRequests
	// answered calls. Default 0.5; a negative value disables the rule.
	// Values above 1 (and NaN) are invalid.
	FailureRatio float64

	// MinRequests is the number of answered calls the window needs before
	// FailureRatio is considered, so that two failures out of three calls
	// do not trip a breaker. Default 20; negative is invalid.
	MinRequests int

	// Interval is the length of the closed-state window over which calls
	// are counted. Default 10s; negative is invalid.
	Interval time.Duration

	// BucketPeriod makes the window roll: it is divided into buckets of
	// this length and the oldest bucket is dropped as time passes, instead
	// of all counts being cleared at the end of each Interval. Default
	// Interval/10; a negative value selects gobreaker's fixed window.
	BucketPeriod time.Duration

	// Timeout is how long the breaker stays open before it lets probe
	// calls through. Default 10s; negative is invalid.
	Timeout time.Duration

	// HalfOpenRequests is the number of probe calls allowed in the
	// half-open state; that many must succeed in a row to close the
	// breaker, and any server failure among them opens it again. Default
	// 1; negative is invalid.
	HalfOpenRequests int

	// Classifier decides which errors are server-health failures. nil
	// means outcome.Default.
	Classifier outcome.Classifier

	// Hooks are called on the breaker's events. The zero value calls
	// nothing.
	Hooks Hooks
}

// Hooks are functions a [Breaker] calls on its events. Each nil field is
// not called. Hooks are called outside every lock, so they may call back
// into the breaker; they must not panic.
type Hooks struct {
	// OnStateChange is called after every state change with the
	// breaker's name, in the order the changes happened, from whichever
	// goroutine made a call (or State) that observed the change. It suits
	// metrics: a gauge of the breaker's state.
	OnStateChange func(name string, from, to State)
}

// ErrConfig is wrapped by the error [New] and [NewGroup] return for an
// invalid configuration.
var ErrConfig = errors.New("circuitbreaker: invalid configuration")

// validate reports whether c can configure a breaker.
func (c Config) validate() error {
	if math.IsNaN(c.FailureRatio) || c.FailureRatio > 1 {
		return fmt.Errorf("%w: FailureRatio %v is above 1", ErrConfig, c.FailureRatio)
	}
	if c.MinRequests < 0 || c.Interval < 0 || c.Timeout < 0 || c.HalfOpenRequests < 0 {
		return fmt.Errorf("%w: negative MinRequests, Interval, Timeout or HalfOpenRequests", ErrConfig)
	}
	if c.HalfOpenRequests > math.MaxUint32 || c.MinRequests > math.MaxUint32 || c.ConsecutiveFailures > math.MaxUint32 {
		return fmt.Errorf("%w: count out of range", ErrConfig)
	}
	return nil
}

func (c Config) withDefaults() Config {
	if c.ConsecutiveFailures == 0 {
		c.ConsecutiveFailures = DefaultConsecutiveFailures
	}
	if c.FailureRatio == 0 {
		c.FailureRatio = DefaultFailureRatio
	}
	if c.MinRequests == 0 {
		c.MinRequests = DefaultMinRequests
	}
	if c.Interval == 0 {
		c.Interval = DefaultInterval
	}
	if c.BucketPeriod == 0 {
		c.BucketPeriod = c.Interval / DefaultBuckets
	}
	if c.Timeout == 0 {
		c.Timeout = DefaultTimeout
	}
	if c.HalfOpenRequests == 0 {
		c.HalfOpenRequests = DefaultHalfOpenRequests
	}
	c.Classifier = outcome.Or(c.Classifier)
	return c
}

// Sentinel errors that every [*RejectedError] wraps.
var (
	// ErrOpen: the breaker is open.
	ErrOpen = errors.New("circuitbreaker: breaker is open")
	// ErrTooManyProbes: the breaker is half-open and its probe calls are
	// all taken.
	ErrTooManyProbes = errors.New("circuitbreaker: half-open breaker has no probe left")
)

// RejectedError is returned for a call that a breaker did not let
// through. It wraps [ErrOpen] or [ErrTooManyProbes].
//
// It reports HTTP status 503 and Temporary() == true, so outcome.Default
// classifies it as a server failure: the upstream is (recently known to
// be) unhealthy, and a retry layer may try another instance. Breakers of
// this package never count it, and [SkipRejections] keeps a balancer's
// outlier detection from counting it.
type RejectedError struct {
	// Name is the breaker's name.
	Name string
	// State is Open or HalfOpen.
	State State
	// RetryAfter is how long the breaker will stay open, as far as it
	// knows when it rejects the call; zero when half-open.
	RetryAfter time.Duration
}

func (e *RejectedError) Error() string {
	if e.State == HalfOpen {
		return fmt.Sprintf("circuitbreaker: %q is half-open and has no probe left", e.Name)
	}
	return fmt.Sprintf("circuitbreaker: %q is open", e.Name)
}

// Unwrap returns [ErrOpen] or [ErrTooManyProbes].
func (e *RejectedError) Unwrap() error {
	if e.State == HalfOpen {
		return ErrTooManyProbes
	}
	return ErrOpen
}

// StatusCode returns 503 Service Unavailable.
func (e *RejectedError) StatusCode() int { return http.StatusServiceUnavailable }

// Temporary returns true: the call may succeed later or elsewhere.
func (e *RejectedError) Temporary() bool { return true }

// IsRejection reports whether err is (or wraps) a rejection by a breaker of
// this package, or one of gobreaker's own rejection errors.
func IsRejection(err error) bool {
	return err != nil && (errors.Is(err, ErrOpen) || errors.Is(err, ErrTooManyProbes) ||
		errors.Is(err, gobreaker.ErrOpenState) || errors.Is(err, gobreaker.ErrTooManyRequests))
}

// SkipRejections returns a classifier for a balancer whose endpoints are
// guarded by per-instance breakers (see [Group.Factory]): it classifies
// breaker rejections as outcome.Skipped, which the balancer treats as
// neutral (no failure, no success, no latency sample), and everything else
// as next does (nil means outcome.Default). A rejected call never reached
// the instance, so it says nothing new about the instance's health; the
// failures that opened the breaker were already counted.
func SkipRejections(next outcome.Classifier) outcome.Classifier {
	next = outcome.Or(next)
	return func(ctx context.Context, err error) outcome.Class {
		if IsRejection(err) {
			return outcome.Skipped
		}
		return next(ctx, err)
	}
}

// Counts are the breaker's counters for the current window (closed) or
// the current probe round (half-open).
type Counts struct {
	Requests             uint32 // calls let through, including those still running
	Successes            uint32
	Failures             uint32 // server-health failures
	Exclusions           uint32 // cancelled by the caller, or rejected further down
	ConsecutiveSuccesses uint32
	ConsecutiveFailures  uint32
}

// change is one state transition waiting to be delivered to the hook.
type change struct {
	from, to State
}

// callRecord travels from a call to gobreaker's hooks, as the error value
// the call reports, so that a state change is attributed to the call that
// caused it. It is only allocated for failures and for calls finishing in
// the half-open state: a success in the closed state cannot change state.
type callRecord struct {
	ok      bool
	changes []change // written under gobreaker's mutex, read by the caller afterwards
	reason  string   // why the breaker tripped, when it did
}

func (r *callRecord) Error() string { return "circuitbreaker: call outcome" }

// errNeutral is reported to gobreaker for calls that must count neither as
// success nor as failure; its IsExcluded hook recognises it.
var errNeutral = errors.New("circuitbreaker: neutral outcome")

// Breaker is a circuit breaker built on gobreaker. Create one with [New];
// the zero value is not usable. All methods are safe for concurrent use.
//
// [Breaker.Endpoint] guards a go-kit endpoint and [Breaker.Handler] an
// HTTP handler; every endpoint and handler wrapped by one Breaker shares
// its state.
type Breaker struct {
	name     string
	cfg      Config
	classify outcome.Classifier
	cb       *gobreaker.CircuitBreaker[struct{}]

	state    atomic.Int32 // mirror of gobreaker's state, updated by its hook
	openedAt atomic.Int64 // unix ns of the latest transition to Open

	// Guarded by gobreaker's own mutex: only touched inside its hooks.
	cur        *callRecord
	tripReason string

	qmu        sync.Mutex // guards queue and delivering
	queue      []change
	delivering bool
	pending    atomic.Int32 // len(queue), readable without qmu
}

// New returns a closed breaker named name (the name reaches hooks, span
// events and errors), or an error wrapping [ErrConfig] if cfg is invalid.
func New(name string, cfg Config) (*Breaker, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	return newBreaker(name, cfg.withDefaults()), nil
}

// newBreaker builds a breaker from a validated Config with its defaults
// applied.
func newBreaker(name string, cfg Config) *Breaker {
	b := &Breaker{name: name, cfg: cfg, classify: cfg.Classifier}
	gs := gobreaker.Settings{
		Name:          name,
		MaxRequests:   uint32(cfg.HalfOpenRequests),
		Interval:      cfg.Interval,
		Timeout:       cfg.Timeout,
		ReadyToTrip:   b.readyToTrip,
		OnStateChange: b.onStateChange,
		IsSuccessful:  b.isSuccessful,
		IsExcluded:    func(err error) bool { return err == errNeutral },
	}
	if cfg.BucketPeriod > 0 && cfg.BucketPeriod < cfg.Interval {
		gs.BucketPeriod = cfg.BucketPeriod
	}
	b.cb = gobreaker.NewCircuitBreaker[struct{}](gs)
	return b
}

// The hooks below run under gobreaker's mutex.

func (b *Breaker) isSuccessful(err error) bool {
	switch e := err.(type) {
	case nil:
		b.cur = nil
		return true
	case *callRecord:
		b.cur = e
		return e.ok
	default: // a panic, which gobreaker reports as an error
		b.cur = nil
		return false
	}
}

func (b *Breaker) readyToTrip(c gobreaker.Counts) bool {
	if n := b.cfg.ConsecutiveFailures; n > 0 && c.ConsecutiveFailures >= uint32(n) {
		b.tripReason = "consecutive_failures"
		return true
	}
	answered := uint64(c.TotalSuccesses) + uint64(c.TotalFailures)
	if r := b.cfg.FailureRatio; r > 0 && answered >= uint64(b.cfg.MinRequests) &&
		float64(c.TotalFailures) >= r*float64(answered) {
		b.tripReason = "failure_ratio"
		return true
	}
	return false
}

func (b *Breaker) onStateChange(_ string, from, to gobreaker.State) {
	ch := change{from: fromGobreaker(from), to: fromGobreaker(to)}
	b.state.Store(int32(ch.to))
	if ch.to == Open {
		b.openedAt.Store(time.Now().UnixNano())
	}
	// A move to half-open happens when some call (or State) notices that
	// the open period is over; it is nobody's doing, so it has no record.
	if ch.to != HalfOpen && b.cur != nil {
		b.cur.changes = append(b.cur.changes, ch)
		if ch.from == Closed {
			b.cur.reason = b.tripReason
		}
		b.cur = nil
	}
	b.qmu.Lock()
	b.queue = append(b.queue, ch)
	b.pending.Store(int32(len(b.queue)))
	b.qmu.Unlock()
}

// flush delivers queued state changes to the hook, outside every lock and
// in order: one goroutine at a time delivers, and it keeps going until the
// queue is empty.
func (b *Breaker) flush() {
	if b.pending.Load() == 0 {
		return
	}
	b.qmu.Lock()
	if b.delivering {
		b.qmu.Unlock()
		return
	}
	b.delivering = true
	for len(b.queue) > 0 {
		q := b.queue
		b.queue = nil
		b.pending.Store(0)
		b.qmu.Unlock()
		if h := b.cfg.Hooks.OnStateChange; h != nil {
			for _, c := range q {
				h(b.name, c.from, c.to)
			}
		}
		b.qmu.Lock()
	}
	b.delivering = false
	b.qmu.Unlock()
}

// Name returns the breaker's name.
func (b *Breaker) Name() string { return b.name }

// State returns the breaker's current state. Like gobreaker's, it moves an
// open breaker whose timeout has passed to half-open.
func (b *Breaker) State() State {
	s := fromGobreaker(b.cb.State())
	b.flush()
	return s
}

// Counts returns the counters of the current window or probe round.
func (b *Breaker) Counts() Counts {
	c := b.cb.Counts()
	return Counts{
		Requests:             c.Requests,
		Successes:            c.TotalSuccesses,
		Failures:             c.TotalFailures,
		Exclusions:           c.TotalExclusions,
		ConsecutiveSuccesses: c.ConsecutiveSuccesses,
		ConsecutiveFailures:  c.ConsecutiveFailures,
	}
}

// Execute calls f with ctx if the breaker lets the call through, counts
// its outcome and returns f's error unchanged. Otherwise it returns a
// [*RejectedError] without calling f. If f panics, the panic counts as a
// server failure and is propagated.
func (b *Breaker) Execute(ctx context.Context, f func(ctx context.Context) error) error {
	defer b.flush()
	var (
		called bool
		ferr   error
		rec    *callRecord
	)
	_, err := b.cb.Execute(func() (struct{}, error) {
		called = true
		if State(b.state.Load()) == HalfOpen {
			tracing.Event(ctx, evProbe, "half_open")
		}
		ferr = f(ctx)
		var v error
		rec, v = b.verdict(ctx, ferr)
		return struct{}{}, v
	})
	if !called {
		return b.reject(ctx, err)
	}
	if rec != nil {
		for _, c := range rec.changes {
			switch {
			case c.to == Open && c.from == Closed:
				tracing.Event(ctx, evTrip, rec.reason)
			case c.to == Open:
				tracing.Event(ctx, evTrip, "probe_failed")
			case c.to == Closed:
				tracing.Event(ctx, evClose, "probes_succeeded")
			}
		}
	}
	return ferr
}

// verdict turns a call's result into what gobreaker is told: nil for a
// success, errNeutral for an outcome that must not count, and a record for
// failures and half-open calls.
func (b *Breaker) verdict(ctx context.Context, err error) (*callRecord, error) {
	if IsRejection(err) {
		return nil, errNeutral
	}
	switch class := b.classify(ctx, err); {
	case class.Neutral():
		return nil, errNeutral
	case class == outcome.ServerFailure:
		r := &callRecord{}
		return r, r
	}
	if State(b.state.Load()) != Closed {
		r := &callRecord{ok: true}
		return r, r
	}
	return nil, nil
}

func (b *Breaker) reject(ctx context.Context, err error) error {
	e := &RejectedError{Name: b.name, State: Open}
	if errors.Is(err, gobreaker.ErrTooManyRequests) {
		e.State = HalfOpen
		tracing.Event(ctx, evReject, "half_open_full")
		return e
	}
	if at := b.openedAt.Load(); at != 0 {
		if left := time.Duration(at) + b.cfg.Timeout - time.Duration(time.Now().UnixNano()); left > 0 {
			e.RetryAfter = left
		}
	}
	tracing.Event(ctx, evReject, "open")
	return e
}

const (
	evTrip   = "switchyard.circuitbreaker.trip"
	evClose  = "switchyard.circuitbreaker.close"
	evProbe  = "switchyard.circuitbreaker.probe"
	evReject = "switchyard.circuitbreaker.reject"
)
