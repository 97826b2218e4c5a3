package http

import (
	"context"
	"encoding/json"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/switchyard/switchyard/discovery"
)

// State is where a process is in its life, as readiness reports it.
type State int32

const (
	// Serving: ready for traffic, if every check passes. The zero value.
	Serving State = iota
	// Starting: listening but not yet registered or warmed up.
	Starting
	// Draining: shutting down; finishing in-flight work, taking no new.
	Draining
)

// String returns "serving", "starting" or "draining".
func (s State) String() string {
	switch s {
	case Serving:
		return "serving"
	case Starting:
		return "starting"
	case Draining:
		return "draining"
	}
	return "state_" + strconv.Itoa(int(s))
}

// DefaultCheckTimeout bounds each readiness check: 2s.
const DefaultCheckTimeout = 2 * time.Second

// CheckFunc is a readiness check: nil means ready. It must honour ctx,
// which carries the check timeout.
type CheckFunc func(ctx context.Context) error

// Health answers liveness and readiness probes.
//
// Liveness (/healthz) answers 200 {"status":"ok"} whenever the process can
// answer at all, draining included: restarting a process because it is
// draining would cut its in-flight work. Readiness (/readyz) answers 200
// {"status":"ready","checks":[…]} only when the state is [Serving] and every
// check passes, and 503 otherwise, with "status" set to "starting",
// "draining" or "failing". Each check appears as
// {"name":…,"ok":true|false} plus, when ShowErrors is set, its "error".
//
// Checks run concurrently on every readiness probe, each bounded by
// CheckTimeout. Registrars that implement discovery.StateReporter are
// added with [Health.AddStateReporter]; the root package's App does that
// for its registrar and moves the state through Starting, Serving and
// Draining.
//
// The zero value is ready to use, reports [Serving] and has no checks. Set
// the exported fields before serving probes; the methods are safe for
// concurrent use.
type Health struct {
	// CheckTimeout bounds each check. Zero means DefaultCheckTimeout.
	CheckTimeout time.Duration
	// ShowErrors puts each failing check's error text in the readiness
	// body. It is off by default because error texts can name internal
	// hosts; turn it on where the probe is not public.
	ShowErrors bool

	state atomic.Int32

	mu     sync.Mutex // guards checks
	checks []namedCheck
}

type namedCheck struct {
	name  string
	check CheckFunc
}

// NewHealth returns a Health in state [Serving] with no checks.
func NewHealth() *Health { return &Health{} }

// SetState sets the state that readiness reports.
func (h *Health) SetState(s State) { h.state.Store(int32(s)) }

// State returns the current state.
func (h *Health) State() State { return State(h.state.Load()) }

// AddCheck adds a readiness check named name.
func (h *Health) AddCheck(name string, check CheckFunc) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.checks = append(h.checks, namedCheck{name, check})
}

// AddStateReporter adds a check that fails while r reports a
// registration error.
func (h *Health) AddStateReporter(name string, r discovery.StateReporter) {
	h.AddCheck(name, func(context.Context) error { return r.RegistrationErr() })
}

// CheckResult is the outcome of one readiness check.
type CheckResult struct {
	Name string `json:"name"`
	OK   bool   `json:"ok"`
	// Err is the check's error, or nil.
	Err error `json:"-"`
	// Error is Err's text when the body shows errors.
	Error string `json:"error,omitempty"`
}

// Ready runs every check and reports whether the process is ready: state
// Serving and no check failing. It returns the results in the order the
// checks were added.
func (h *Health) Ready(ctx context.Context) (bool, []CheckResult) {
	h.mu.Lock()
	checks := h.checks[:len(h.checks):len(h.checks)]
	h.mu.Unlock()
	timeout := h.CheckTimeout
	if timeout <= 0 {
		timeout = DefaultCheckTimeout
	}
	results := make([]CheckResult, len(checks))
	run := func(i int) {
		cctx, cancel := context.WithTimeout(ctx, timeout)
		defer cancel()
		err := checks[i].check(cctx)
		results[i] = CheckResult{Name: checks[i].name, OK: err == nil, Err: err}
	}
	if len(checks) == 1 {
		run(0)
	} else {
		var wg sync.WaitGroup
		for i := range checks {
			wg.Go(func() { run(i) })
		}
		wg.Wait()
	}
	ok := h.State() == Serving
	for _, r := range results {
		ok = ok && r.OK
	}
	return ok, results
}

// Live is the liveness handler: 200 {"status":"ok"}.
func (h *Health) Live(w http.ResponseWriter, _ *http.Request) {
	writeProbe(w, http.StatusOK, []byte(`{"status":"ok"}`+"\n"))
}

// Readiness is the readiness handler described on [Health].
func (h *Health) Readiness(w http.ResponseWriter, r *http.Request) {
	ready, results := h.Ready(r.Context())
	status, code := "ready", http.StatusOK
	if !ready {
		code = http.StatusServiceUnavailable
		switch s := h.State(); s {
		case Serving:
			status = "failing"
		default:
			status = s.String()
		}
	}
	for i := range results {
		if h.ShowErrors && results[i].Err != nil {
			results[i].Error = results[i].Err.Error()
		}
	}
	if results == nil {
		results = []CheckResult{}
	}
	body, _ := json.Marshal(struct {
		Status string        `json:"status"`
		Checks []CheckResult `json:"checks"`
	}{status, results})
	writeProbe(w, code, append(body, '\n'))
}

// Mount registers [Health.Live] at "GET /healthz" and [Health.Readiness]
// at "GET /readyz" on mux (GET patterns also answer HEAD).
func (h *Health) Mount(mux *http.ServeMux) {
	mux.HandleFunc("GET /healthz", h.Live)
	mux.HandleFunc("GET /readyz", h.Readiness)
}

func writeProbe(w http.ResponseWriter, code int, body []byte) {
	hd := w.Header()
	hd.Set("Content-Type", "application/json; charset=utf-8")
	hd.Set("Cache-Control", "no-store")
	hd.Set("X-Content-Type-Options", "nosniff")
	hd.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(code)
	_, _ = w.Write(body)
}
