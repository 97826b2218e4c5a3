package launcher

// An internal test: the supervision loop runs against fake processes
// (child.startProcess) inside a testing/synctest bubble, so that its
// pauses pass in fake time; real processes would rule the bubble out.

import (
	"bytes"
	"errors"
	"log/slog"
	"os"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/switchyard/switchyard/internal/backoff"
)

// fakeProcess is a process that runs until exit, Signal or Kill.
type fakeProcess struct {
	pid    int
	once   sync.Once
	exited chan struct{}
	err    error // set before exited is closed
}

func newFakeProcess(pid int) *fakeProcess {
	return &fakeProcess{pid: pid, exited: make(chan struct{})}
}

func (p *fakeProcess) exit(err error) {
	p.once.Do(func() {
		p.err = err
		close(p.exited)
	})
}

func (p *fakeProcess) Pid() int { return p.pid }

func (p *fakeProcess) Signal(os.Signal) error {
	p.exit(errors.New("signal: terminated"))
	return nil
}

func (p *fakeProcess) Kill() error {
	p.exit(errors.New("signal: killed"))
	return nil
}

func (p *fakeProcess) Wait() error {
	<-p.exited
	return p.err
}

// syncBuffer is a log destination safe for the supervisor's goroutine.
type syncBuffer struct {
	mu sync.Mutex // guards b
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// fakeStarts is a child's startProcess that fails the starts listed in
// fail (1-based) and records when each start was attempted.
type fakeStarts struct {
	fail    map[int]bool
	mu      sync.Mutex // guards at, procs
	at      []time.Time
	procs   []*fakeProcess
	started chan *fakeProcess // receives each process started
	tried   chan int          // receives the number of each attempt
}

func newFakeStarts(fail ...int) *fakeStarts {
	f := &fakeStarts{fail: map[int]bool{}, started: make(chan *fakeProcess, 100), tried: make(chan int, 100)}
	for _, n := range fail {
		f.fail[n] = true
	}
	return f
}

func (f *fakeStarts) start() (process, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.at = append(f.at, time.Now())
	n := len(f.at)
	f.tried <- n
	if f.fail[n] {
		return nil, errors.New("fork/exec ./ecommerce: no such file or directory")
	}
	p := newFakeProcess(1000 + n)
	f.procs = append(f.procs, p)
	f.started <- p
	return p, nil
}

func newTestChild(f *fakeStarts, logs *syncBuffer) *child {
	return &child{
		service:      "orders",
		replica:      2,
		logPath:      "orders-2.log",
		log:          slog.New(slog.NewTextHandler(logs, nil)),
		supervised:   func() bool { return true },
		failed:       make(chan error, 1),
		startProcess: f.start,
	}
}

// A replica whose restart fails is tried again and again, each failure
// logged, with pauses that grow exponentially up to restartMax, drawn from
// the upper half of each step; it is back once a start succeeds.
func TestRespawnFailureIsRetriedWithBackoff(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const failures = 8 // enough to reach the cap
		fail := make([]int, failures)
		for i := range fail {
			fail[i] = 2 + i // the first start succeeds, the next ones fail
		}
		f := newFakeStarts(fail...)
		var logs syncBuffer
		c := newTestChild(f, &logs)
		if err := c.start(); err != nil {
			t.Fatal(err)
		}
		first := <-f.started
		crashed := time.Now()
		first.exit(errors.New("signal: killed"))

		back := <-f.started // the supervisor keeps trying until this start
		if back.pid != 1000+failures+2 {
			t.Fatalf("restarted as attempt %d, want %d", back.pid-1000, failures+2)
		}
		if got := c.pid(); got != back.pid {
			t.Errorf("pid() = %d, want %d", got, back.pid)
		}
		f.mu.Lock()
		at := append([]time.Time{crashed}, f.at[1:]...)
		f.mu.Unlock()
		for n := 0; n < len(at)-1; n++ {
			pause := at[n+1].Sub(at[n])
			step := backoff.Exponential(restartMin, restartMax, n)
			if pause < step/2 || pause > step {
				t.Errorf("pause %d: %v, want within [%v, %v]", n, pause, step/2, step)
			}
			if pause > restartMax {
				t.Errorf("pause %d: %v, over the cap %v", n, pause, restartMax)
			}
		}
		// The supervisor logs the restart after the start returned: let
		// it get there (it then blocks waiting for the new process).
		synctest.Wait()
		out := logs.String()
		if n := strings.Count(out, "child did not restart; trying again"); n != failures {
			t.Errorf("%d failed restarts logged, want %d:\n%s", n, failures, out)
		}
		if !strings.Contains(out, "no such file or directory") || !strings.Contains(out, "child=orders-2") {
			t.Errorf("the log does not say which child failed and why:\n%s", out)
		}
		if !strings.Contains(out, "child restarted") {
			t.Errorf("the restart is not logged:\n%s", out)
		}

		c.stop(time.Second, nil)
		select {
		case <-c.done:
		default:
			t.Fatal("the supervision loop still runs after stop")
		}
	})
}

// stop ends a child that is between failed restarts at once, without
// waiting for the pause, and leaves no goroutine behind (the bubble would
// report it).
func TestStopDuringRespawnRetries(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newFakeStarts(2, 3, 4, 5, 6, 7, 8, 9, 10)
		var logs syncBuffer
		c := newTestChild(f, &logs)
		if err := c.start(); err != nil {
			t.Fatal(err)
		}
		(<-f.started).exit(errors.New("exit status 1"))
		for n := range f.tried {
			if n == 4 {
				break
			}
		}
		synctest.Wait() // the supervisor sleeps before attempt 5
		began := time.Now()
		c.stop(time.Minute, nil)
		if d := time.Since(began); d != 0 {
			t.Errorf("stop took %v of fake time, want none", d)
		}
		if c.restarts != 0 {
			t.Errorf("restarts = %d, want 0", c.restarts)
		}
	})
}

// A child that ran for restartReset before exiting starts again after the
// first, shortest pause, whatever failed before.
func TestRestartPauseResetsAfterALongRun(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newFakeStarts(2, 3, 4)
		var logs syncBuffer
		c := newTestChild(f, &logs)
		if err := c.start(); err != nil {
			t.Fatal(err)
		}
		(<-f.started).exit(errors.New("exit status 1"))
		second := <-f.started // after three failed starts
		// The second run lasts restartReset of fake time.
		time.Sleep(restartReset)
		exited := time.Now()
		second.exit(errors.New("exit status 1"))
		<-f.started
		if d := time.Since(exited); d < restartMin/2 || d > restartMin {
			t.Errorf("pause after a long run %v, want within [%v, %v]", d, restartMin/2, restartMin)
		}
		c.stop(time.Second, nil)
	})
}
