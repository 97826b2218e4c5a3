package fault

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"net/http"
	"strconv"
	"time"

	"github.com/go-kit/kit/endpoint"

	"github.com/switchyard/switchyard/internal/httperr"
	"github.com/switchyard/switchyard/middleware/tracing"
	"github.com/switchyard/switchyard/outcome"
)

// Defaults.
const (
	DefaultAbortStatus    = http.StatusServiceUnavailable
	DefaultMaxHeaderDelay = 5 * time.Second
)

// Config says which faults to inject. The zero value injects nothing.
// [New] rejects an invalid Config with an error wrapping [ErrConfig].
type Config struct {
	// Delay is added before DelayPercent percent of requests (0 to 100).
	Delay        time.Duration
	DelayPercent float64

	// AbortPercent percent of requests (0 to 100) are aborted: answered
	// with AbortStatus by the HTTP form, failed with AbortError by the
	// endpoint form. AbortStatus defaults to 503 and must be from 400 to
	// 599; AbortError defaults to an [*outcome.StatusError] with AbortStatus
	// wrapping [ErrInjected], so outcome.Default treats an injected 5xx as
	// a server failure and an injected 4xx as the caller's fault, exactly
	// like the real thing.
	AbortPercent float64
	AbortStatus  int
	AbortError   error

	// Headers lets requests choose their own faults with the
	// X-Switchyard-Fault-* headers (HTTP form only). Off by default: see
	// the package documentation before turning it on.
	Headers bool
	// HeaderGate, if set, is asked for each request whether its fault
	// headers may apply (for example: only from an internal address, or
	// only with an operator's credentials). nil admits every request.
	HeaderGate func(r *http.Request) bool
	// MaxHeaderDelay caps delays asked for by headers; a longer request
	// is cut to it. Default 5s; negative is invalid.
	MaxHeaderDelay time.Duration

	// Hooks are called on the injector's events. The zero value calls
	// nothing.
	Hooks Hooks
}

// Hooks are functions an [Injector] calls on its events. Each nil field is
// not called. Hooks are called outside every lock, on the goroutine of the
// request concerned; they must not block.
type Hooks struct {
	// OnFault is called for every injected fault with its kind ("delay"
	// or "abort") and source ("percentage" or "header"), before the delay
	// starts or the abort is returned. Use it to count faults.
	OnFault func(kind, source string)
}

// ErrConfig is wrapped by the error [New] returns for an invalid [Config].
var ErrConfig = errors.New("fault: invalid configuration")

// ErrInjected is wrapped by the default error of an endpoint abort (see
// [Config.AbortError]).
var ErrInjected = errors.New("fault: injected abort")

func validPercent(p float64) bool { return !math.IsNaN(p) && p >= 0 && p <= 100 }

func validStatus(s int) bool { return s >= 400 && s <= 599 }

// validate reports whether c is usable.
func (c Config) validate() error {
	switch {
	case !validPercent(c.DelayPercent):
		return fmt.Errorf("%w: DelayPercent %v is not within [0, 100]", ErrConfig, c.DelayPercent)
	case !validPercent(c.AbortPercent):
		return fmt.Errorf("%w: AbortPercent %v is not within [0, 100]", ErrConfig, c.AbortPercent)
	case c.Delay < 0:
		return fmt.Errorf("%w: negative Delay", ErrConfig)
	case c.DelayPercent > 0 && c.Delay == 0:
		return fmt.Errorf("%w: DelayPercent without a Delay", ErrConfig)
	case c.AbortStatus != 0 && !validStatus(c.AbortStatus):
		return fmt.Errorf("%w: AbortStatus %d is not from 400 to 599", ErrConfig, c.AbortStatus)
	case c.MaxHeaderDelay < 0:
		return fmt.Errorf("%w: negative MaxHeaderDelay", ErrConfig)
	}
	return nil
}

// Injector injects the faults of a [Config]. Create it with [New]; the
// zero value is not usable. It is safe for concurrent use.
// [Injector.Endpoint] and [Injector.Handler] apply it.
type Injector struct {
	cfg     Config
	abort   error
	rand    func() float64 // math/rand/v2.Float64; tests replace it (export_test.go)
	onFault func(kind, source string)
}

// New returns an injector for cfg, or an error wrapping [ErrConfig].
func New(cfg Config) (*Injector, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	if cfg.AbortStatus == 0 {
		cfg.AbortStatus = DefaultAbortStatus
	}
	if cfg.MaxHeaderDelay == 0 {
		cfg.MaxHeaderDelay = DefaultMaxHeaderDelay
	}
	i := &Injector{cfg: cfg, abort: cfg.AbortError, rand: rand.Float64, onFault: cfg.Hooks.OnFault}
	if i.abort == nil {
		i.abort = &outcome.StatusError{Status: cfg.AbortStatus, Err: ErrInjected}
	}
	return i, nil
}

// Enabled reports whether the injector can inject anything at all.
func (i *Injector) Enabled() bool {
	return i.cfg.DelayPercent > 0 || i.cfg.AbortPercent > 0 || i.cfg.Headers
}

// hit draws against a percentage.
func (i *Injector) hit(percent float64) bool {
	switch {
	case percent <= 0:
		return false
	case percent >= 100:
		return true
	}
	return i.rand()*100 < percent
}

// plan is the faults chosen for one request.
type plan struct {
	delay       time.Duration
	delaySource string
	abort       bool
	abortStatus int
	abortSource string
}

func (i *Injector) choose(spec *Spec) plan {
	var p plan
	delay, delayPct, delaySrc := i.cfg.Delay, i.cfg.DelayPercent, "percentage"
	abortStatus, abortPct, abortSrc := i.cfg.AbortStatus, i.cfg.AbortPercent, "percentage"
	if spec != nil {
		if spec.Delay > 0 {
			delay, delayPct, delaySrc = spec.Delay, spec.DelayPercent, "header"
		}
		if spec.AbortStatus != 0 {
			abortStatus, abortPct, abortSrc = spec.AbortStatus, spec.AbortPercent, "header"
		}
	}
	if delay > 0 && i.hit(delayPct) {
		p.delay, p.delaySource = delay, delaySrc
	}
	if i.hit(abortPct) {
		p.abort, p.abortStatus, p.abortSource = true, abortStatus, abortSrc
	}
	return p
}

// sleep waits d, or until ctx ends.
func (i *Injector) sleep(ctx context.Context, d time.Duration, source string) error {
	tracing.Event(ctx, evDelay, source)
	if i.onFault != nil {
		i.onFault("delay", source)
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("fault: injected delay interrupted: %w", ctx.Err())
	}
}

func (i *Injector) aborted(ctx context.Context, source string) {
	tracing.Event(ctx, evAbort, source)
	if i.onFault != nil {
		i.onFault("abort", source)
	}
}

// Endpoint returns next behind the configured delay and abort (headers do
// not apply to endpoints): an aborted call returns [Config.AbortError]
// without calling next. The method value inj.Endpoint is an
// endpoint.Middleware.
func (i *Injector) Endpoint(next endpoint.Endpoint) endpoint.Endpoint {
	if i.cfg.DelayPercent <= 0 && i.cfg.AbortPercent <= 0 {
		return next
	}
	return func(ctx context.Context, request any) (any, error) {
		p := i.choose(nil)
		if p.delay > 0 {
			if err := i.sleep(ctx, p.delay, p.delaySource); err != nil {
				return nil, err
			}
		}
		if p.abort {
			i.aborted(ctx, p.abortSource)
			return nil, i.abort
		}
		return next(ctx, request)
	}
}

// Handler returns next behind the configured faults, and those the
// request's headers ask for when [Config.Headers] allows. An aborted
// request is answered with the abort status and the body
// {"error":{"code":"fault_injected","message":"…"}}; next is not called.
// A request whose context ends during a delay is not passed on. The
// method value inj.Handler is a func(http.Handler) http.Handler, usable as
// gateway route middleware.
func (i *Injector) Handler(next http.Handler) http.Handler {
	if !i.Enabled() {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var spec *Spec
		if i.cfg.Headers && hasFaultHeaders(r.Header) && (i.cfg.HeaderGate == nil || i.cfg.HeaderGate(r)) {
			if s, err := ParseHeaders(r.Header, i.cfg.MaxHeaderDelay); err == nil {
				spec = &s
			}
		}
		p := i.choose(spec)
		ctx := r.Context()
		if p.delay > 0 {
			if err := i.sleep(ctx, p.delay, p.delaySource); err != nil {
				return
			}
		}
		if p.abort {
			i.aborted(ctx, p.abortSource)
			writeAbort(w, p.abortStatus)
			return
		}
		next.ServeHTTP(w, r)
	})
}

func writeAbort(w http.ResponseWriter, status int) {
	httperr.Write(w, status, "fault_injected", "fault injection aborted the request with status "+strconv.Itoa(status))
}

const (
	evDelay = "switchyard.fault.delay"
	evAbort = "switchyard.fault.abort"
)
