package discoverytest_test

import (
	"context"
	"os"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/switchyard/switchyard/discovery"
	"github.com/switchyard/switchyard/discovery/discoverytest"
	"github.com/switchyard/switchyard/discovery/memory"
)

// The suite is tested by running it, in a child process, against memory
// backends broken on purpose, and checking that the cases meant to catch
// each defect fail. A suite that passes a broken backend is itself broken.

const mutantEnv = "DISCOVERYTEST_MUTANT"

// mutant is the memory backend with one defect.
type mutant struct {
	name  string
	fails []string // cases that must fail; empty: the suite must pass
	// transform rewrites each update a watch delivers.
	transform func(prev, u discovery.Update) discovery.Update
	// noClose: Stop never closes the updates channel.
	noClose bool
	// leak: every watch leaves behind a goroutine that ends only when
	// the registry closes.
	leak bool
	// leakOnce: the first watch leaves behind a goroutine that never ends.
	leakOnce *sync.Once
	// ctxBound: the watch ends when the Watch context does.
	ctxBound bool
	// freezeOnError: after an update with an error the watch goes quiet
	// for good, like a watch left bound to a registry history that a
	// restart erased.
	freezeOnError bool
	// registrar replaces memory.NewRegistrar.
	registrar func(t *testing.T, reg *memory.Registry, ttl time.Duration) discovery.Registrar
}

var mutants = []mutant{
	{name: "none"},
	{
		name:  "EmptyListOnError",
		fails: []string{"LastKnownGoodDuringOutage"},
		transform: func(_, u discovery.Update) discovery.Update {
			if u.Err != nil {
				u.Instances = nil
			}
			return u
		},
	},
	{
		name:  "ErrorHidden",
		fails: []string{"LastKnownGoodDuringOutage"},
		transform: func(_, u discovery.Update) discovery.Update {
			u.Err = nil
			return u
		},
	},
	{
		name:  "Unsorted",
		fails: []string{"CompleteSortedSnapshots", "DeregisterSeen"},
		transform: func(_, u discovery.Update) discovery.Update {
			u.Instances = slices.Clone(u.Instances)
			slices.Reverse(u.Instances)
			return u
		},
	},
	{
		name:  "Deltas",
		fails: []string{"CompleteSortedSnapshots"},
		transform: func(prev, u discovery.Update) discovery.Update {
			var added []discovery.Instance
			for _, inst := range u.Instances {
				if !slices.ContainsFunc(prev.Instances, func(p discovery.Instance) bool { return p.ID == inst.ID }) {
					added = append(added, inst)
				}
			}
			u.Instances = added
			return u
		},
	},
	{
		name:  "MetaLost",
		fails: []string{"RegisterSeen", "ReRegisterReplaces"},
		transform: func(_, u discovery.Update) discovery.Update {
			u.Instances = slices.Clone(u.Instances)
			for i := range u.Instances {
				u.Instances[i].Meta = nil
			}
			return u
		},
	},
	{
		name:  "ForeignService",
		fails: []string{"FirstUpdateEmpty", "ServicesIndependent"},
		transform: func(_, u discovery.Update) discovery.Update {
			u.Instances = append(slices.Clone(u.Instances), discovery.Instance{ID: "zz", Service: "elsewhere", Addr: "10.9.9.9:80"})
			return u
		},
	},
	{name: "StopDoesNotClose", noClose: true, fails: []string{"StopClosesUpdates"}},
	{name: "relayed", transform: func(_, u discovery.Update) discovery.Update { return u }},
	{name: "LeaksUntilClose", leak: true, fails: []string{"StopReleasesGoroutines"}},
	{name: "LeaksPastClose", leakOnce: new(sync.Once), fails: []string{"FirstUpdateEmpty"}},
	{name: "WatchBoundToContext", ctxBound: true, fails: []string{"WatchOutlivesContext"}},
	{name: "FrozenAfterOutage", freezeOnError: true, fails: []string{"LastKnownGoodDuringOutage", "HealAfterWipe"}},
	{
		name:  "NoRenewal",
		fails: []string{"Renewal"},
		registrar: func(_ *testing.T, reg *memory.Registry, ttl time.Duration) discovery.Registrar {
			return onceRegistrar{reg, ttl}
		},
	},
	{
		name:  "NoTTL",
		fails: []string{"Expiry", "HealAfterWipe", "DeregisterDuringOutage"},
		registrar: func(_ *testing.T, reg *memory.Registry, _ time.Duration) discovery.Registrar {
			return reg
		},
	},
	{
		name:  "TTLTooLong",
		fails: []string{"Expiry"},
		registrar: func(t *testing.T, reg *memory.Registry, ttl time.Duration) discovery.Registrar {
			return newRegistrar(t, reg, 2*ttl)
		},
	},
	{
		name:  "TTLTooShort",
		fails: []string{"Expiry"},
		registrar: func(t *testing.T, reg *memory.Registry, ttl time.Duration) discovery.Registrar {
			return newRegistrar(t, reg, ttl/4)
		},
	},
	{
		name:  "DeregisterForgotten",
		fails: []string{"DeregisterDuringOutage"},
		registrar: func(t *testing.T, reg *memory.Registry, ttl time.Duration) discovery.Registrar {
			return forgetfulRegistrar{newRegistrar(t, reg, ttl), reg}
		},
	},
}

// newRegistrar returns memory.NewRegistrar(reg, ttl), failing t on an error.
func newRegistrar(t *testing.T, reg *memory.Registry, ttl time.Duration) *memory.Registrar {
	t.Helper()
	g, err := memory.NewRegistrar(reg, ttl)
	if err != nil {
		t.Fatal(err)
	}
	return g
}

// onceRegistrar puts with a TTL and never renews.
type onceRegistrar struct {
	reg *memory.Registry
	ttl time.Duration
}

func (o onceRegistrar) Register(ctx context.Context, inst discovery.Instance) error {
	return o.reg.Put(ctx, inst, o.ttl)
}

func (o onceRegistrar) Deregister(ctx context.Context, inst discovery.Instance) error {
	return o.reg.Deregister(ctx, inst)
}

// forgetfulRegistrar removes from the registry but keeps renewing.
type forgetfulRegistrar struct {
	*memory.Registrar
	reg *memory.Registry
}

func (f forgetfulRegistrar) Deregister(ctx context.Context, inst discovery.Instance) error {
	return f.reg.Deregister(ctx, inst)
}

func (m mutant) harness() discoverytest.Harness {
	wait := time.Duration(0) // the default, for the correct controls
	if len(m.fails) > 0 {
		// A shorter wait can only make more cases fail, so it cannot
		// hide a defect; it keeps the many timeouts of a broken backend
		// quick.
		wait = 30 * time.Millisecond
	}
	return discoverytest.Harness{
		TTL:    3 * time.Second,
		Slack:  10 * time.Millisecond, // expiry is exact in a bubble
		Wait:   wait,
		Bubble: true,
		Setup: func(t *testing.T) discoverytest.Backend {
			reg := memory.New()
			closed := make(chan struct{})
			t.Cleanup(func() { reg.Close(); close(closed) })
			makeRegistrar := m.registrar
			if makeRegistrar == nil {
				makeRegistrar = func(t *testing.T, reg *memory.Registry, ttl time.Duration) discovery.Registrar {
					g := newRegistrar(t, reg, ttl)
					t.Cleanup(func() { _ = g.Close(context.Background()) })
					return g
				}
			}
			return discoverytest.Backend{
				NewResolver: func() discovery.Resolver { return mutantResolver{reg, m, closed} },
				NewRegistrar: func(ttl time.Duration) discovery.Registrar {
					return makeRegistrar(t, reg, ttl)
				},
				KillRegistrar: func(g discovery.Registrar) {
					switch g := g.(type) {
					case *memory.Registrar:
						g.Kill()
					case forgetfulRegistrar:
						g.Kill()
					}
				},
				Outage: func() { reg.SetUnavailable(memory.ErrUnavailable) },
				Recover: func(wipe bool) {
					if wipe {
						reg.Wipe()
					}
					reg.SetUnavailable(nil)
				},
			}
		},
	}
}

type mutantResolver struct {
	reg    *memory.Registry
	m      mutant
	closed chan struct{} // closed with the registry
}

func (r mutantResolver) Watch(ctx context.Context, service string) (discovery.Watch, error) {
	in, err := r.reg.Watch(ctx, service)
	if err != nil {
		return nil, err
	}
	m := r.m
	if m.leak {
		go func() { <-r.closed }()
	}
	if m.leakOnce != nil {
		m.leakOnce.Do(func() { go func() { select {} }() })
	}
	if m.transform == nil && !m.noClose && !m.ctxBound && !m.freezeOnError {
		return in, nil
	}
	w := &relay{in: in, out: make(chan discovery.Update, 1), done: make(chan struct{}), m: m}
	go w.loop()
	if m.ctxBound {
		w.ctx = ctx
	}
	return w, nil
}

// relay forwards a watch's updates through transform, conflating like a
// Feed does.
type relay struct {
	in   discovery.Watch
	out  chan discovery.Update
	done chan struct{}
	once sync.Once
	m    mutant
	ctx  context.Context // if non-nil, the relay ends with it
}

func (w *relay) loop() {
	defer close(w.done)
	var prev discovery.Update
	frozen := false
	for u := range w.in.Updates() {
		if frozen {
			continue
		}
		frozen = w.m.freezeOnError && u.Err != nil
		if w.ctx != nil && w.ctx.Err() != nil {
			// Checked per update, not in a select, so that the defect
			// shows deterministically on the first update after the
			// context ends.
			w.in.Stop()
			break
		}
		v := u
		if w.m.transform != nil {
			v = w.m.transform(prev, u)
		}
		prev = u
		select {
		case <-w.out:
		default:
		}
		w.out <- v
	}
	if !w.m.noClose {
		close(w.out)
	}
}

func (w *relay) Updates() <-chan discovery.Update { return w.out }

func (w *relay) Stop() {
	w.once.Do(func() {
		w.in.Stop()
		<-w.done
	})
}

// TestMutant runs the suite against every mutant, one subtest each, when
// the environment asks for it: TestSuiteCatchesBrokenBackends runs it in a
// child process, whose failures are the expected outcome.
func TestMutant(t *testing.T) {
	if os.Getenv(mutantEnv) == "" {
		t.Skip("run by TestSuiteCatchesBrokenBackends")
	}
	for _, m := range mutants {
		t.Run(m.name, func(t *testing.T) { discoverytest.Run(t, m.harness()) })
	}
}

func TestSuiteCatchesBrokenBackends(t *testing.T) {
	if os.Getenv(mutantEnv) != "" {
		t.Skip("in a child process")
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestMutant$", "-test.v", "-test.count=1", "-test.timeout=2m")
	cmd.Env = append(os.Environ(), mutantEnv+"=1")
	raw, err := cmd.CombinedOutput()
	out := string(raw)
	if err == nil {
		t.Fatalf("the suite passed every mutant\n%s", out)
	}
	for _, m := range mutants {
		prefix := "--- FAIL: TestMutant/" + m.name + "/"
		if len(m.fails) == 0 {
			if strings.Contains(out, prefix) || !strings.Contains(out, "--- PASS: TestMutant/"+m.name+" ") {
				t.Errorf("the suite failed a correct backend (%s)", m.name)
			}
			continue
		}
		for _, c := range m.fails {
			if !strings.Contains(out, prefix+c+" ") {
				t.Errorf("case %s did not catch defect %s", c, m.name)
			}
		}
	}
	if t.Failed() {
		t.Logf("child output:\n%s", out)
	}
}
