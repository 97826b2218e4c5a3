package launcher

import (
	"bytes"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"os"
	"os/exec"
	"strings"
	"sync"
	"time"

	"github.com/switchyard/switchyard/examples/ecommerce/internal/private"
	"github.com/switchyard/switchyard/internal/backoff"
)

// Restart pauses of a child that exits after the shop is ready, or whose
// start fails then: the step doubles from restartMin up to restartMax with
// each consecutive failure, and each pause is drawn at random from the upper
// half of its step, so that replicas that died together do not come back
// in lockstep.
const (
	restartMin   = time.Second
	restartMax   = 30 * time.Second
	restartReset = time.Minute // a child that ran this long starts again at restartMin
)

// restartPause returns the pause before restart attempt n (0 for the first
// after a clean run): the module's one backoff, with equal jitter.
func restartPause(n int) time.Duration {
	return backoff.Equal(restartMin, restartMax, n, rand.Uint64())
}

// process is a started child process. Wait returns once it has exited and
// its resources (the log file) are released.
type process interface {
	Pid() int
	Signal(os.Signal) error
	Kill() error
	Wait() error
}

// child is one supervised process: "serve NAME ..." with its output going
// to a log file.
type child struct {
	service string
	replica int // 1-based
	exe     string
	args    []string
	env     []string
	logPath string
	log     *slog.Logger

	// supervised reports whether an exit should be answered with a
	// restart (true once the shop is ready) or with a failure (false).
	supervised func() bool
	// failed receives the error of a child that exited while not
	// supervised; it is buffered by the caller.
	failed chan<- error
	// startProcess starts the process. Nil means execStart; tests put a
	// fake here to run the supervision in a synctest bubble.
	startProcess func() (process, error)

	mu       sync.Mutex // guards proc, stopping, restarts
	proc     process    // the running process, nil between runs
	stopping bool       // stop was called: no restart
	restarts int
	wake     chan struct{} // closed by stop to end a restart pause

	done chan struct{} // closed when the supervision loop has ended
}

func (c *child) name() string { return fmt.Sprintf("%s-%d", c.service, c.replica) }

// start runs the supervision loop on a goroutine of its own. It returns
// the error of the first start, which fails the launcher.
func (c *child) start() error {
	c.done = make(chan struct{})
	c.wake = make(chan struct{})
	if c.startProcess == nil {
		c.startProcess = c.execStart
	}
	p, err := c.spawn()
	if err != nil {
		close(c.done)
		return err
	}
	go c.supervise(p)
	return nil
}

// spawn starts the process unless stop has been called. It starts it while
// holding mu, so that a concurrent stop either prevents the start or finds
// the process to signal.
func (c *child) spawn() (process, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.stopping {
		return nil, fmt.Errorf("launcher: %s: stopped before it started", c.name())
	}
	p, err := c.startProcess()
	if err != nil {
		return nil, err
	}
	c.proc = p
	return p, nil
}

// execStart starts "exe args..." with its output appended to the child's
// log, a file private to the owner.
func (c *child) execStart() (process, error) {
	logf, err := private.OpenAppend(c.logPath, c.log)
	if err != nil {
		return nil, fmt.Errorf("launcher: log of %s: %w", c.name(), err)
	}
	cmd := exec.Command(c.exe, c.args...)
	cmd.Env = c.env
	cmd.Stdout = logf
	cmd.Stderr = logf
	cmd.SysProcAttr = sysProcAttr()
	if err := cmd.Start(); err != nil {
		logf.Close()
		return nil, fmt.Errorf("launcher: start %s: %w", c.name(), err)
	}
	return &execProcess{cmd: cmd, logf: logf}, nil
}

// execProcess is a process started by execStart.
type execProcess struct {
	cmd  *exec.Cmd
	logf *os.File
}

func (p *execProcess) Pid() int                 { return p.cmd.Process.Pid }
func (p *execProcess) Signal(s os.Signal) error { return p.cmd.Process.Signal(s) }
func (p *execProcess) Kill() error              { return p.cmd.Process.Kill() }

func (p *execProcess) Wait() error {
	err := p.cmd.Wait()
	p.logf.Close()
	return err
}

// supervise waits for p to exit and, once the shop is ready, starts the
// child again after a pause (restartPause). A start that fails is retried
// with the next, longer pause, and logged each time: a replica is never
// given up on while the launcher runs. The loop ends when stop is called.
func (c *child) supervise(p process) {
	defer close(c.done)
	failures := 0 // consecutive short runs and failed starts
	for {
		began := time.Now()
		err := p.Wait()
		c.mu.Lock()
		c.proc = nil
		stopping := c.stopping
		c.mu.Unlock()
		if stopping {
			return
		}
		if !c.supervised() {
			c.failed <- fmt.Errorf("%w: %s exited during start-up (%v); last lines of %s:\n%s",
				ErrChildFailed, c.name(), err, c.logPath, tail(c.logPath, 15))
			return
		}
		if time.Since(began) >= restartReset {
			failures = 0
		}
		pause := restartPause(failures)
		failures++
		c.log.Warn("launcher: child exited; restarting", "child", c.name(), "status", fmt.Sprint(err), "in", pause.String(), "log", c.logPath)
		for {
			if !c.sleep(pause) {
				return
			}
			var serr error
			if p, serr = c.spawn(); serr == nil {
				break
			}
			c.mu.Lock()
			stopping := c.stopping
			c.mu.Unlock()
			if stopping {
				return
			}
			pause = restartPause(failures)
			failures++
			c.log.Error("launcher: child did not restart; trying again", "child", c.name(), "error", serr, "failures", failures, "in", pause.String())
		}
		c.mu.Lock()
		c.restarts++
		c.mu.Unlock()
		c.log.Info("launcher: child restarted", "child", c.name(), "pid", p.Pid())
	}
}

// sleep waits d. It reports false, at once, when stop has been called.
func (c *child) sleep(d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-c.wake:
		return false
	case <-t.C:
		return true
	}
}

// pid returns the running process's id, or 0.
func (c *child) pid() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.proc == nil {
		return 0
	}
	return c.proc.Pid()
}

// kill sends SIGKILL to the running process without stopping the
// supervision: the child comes back after a pause. It returns the pid
// killed, or 0 if none was running.
func (c *child) kill() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.proc == nil || c.stopping {
		return 0
	}
	_ = c.proc.Kill()
	return c.proc.Pid()
}

// stop ends the supervision: SIGTERM, then SIGKILL if the process has not
// exited after timeout or when force is closed. It returns once the
// process has been reaped.
func (c *child) stop(timeout time.Duration, force <-chan struct{}) {
	c.mu.Lock()
	if !c.stopping {
		c.stopping = true
		close(c.wake)
	}
	p := c.proc
	c.mu.Unlock()
	if p != nil {
		_ = p.Signal(terminateSignal)
	}
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case <-c.done:
		return
	case <-t.C:
		c.log.Warn("launcher: child did not drain in time; killing it", "child", c.name(), "after", timeout.String())
	case <-force:
	}
	if p != nil {
		_ = p.Kill()
	}
	<-c.done
}

// tail returns the last n lines of the file at path, indented, or a note
// when it cannot be read.
func tail(path string, n int) string {
	f, err := os.Open(path)
	if err != nil {
		return "    (no log: " + err.Error() + ")"
	}
	defer f.Close()
	const window = 16 << 10
	if st, err := f.Stat(); err == nil && st.Size() > window {
		_, _ = f.Seek(st.Size()-window, io.SeekStart)
	}
	b, _ := io.ReadAll(f)
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	var out bytes.Buffer
	for _, l := range lines {
		out.WriteString("    ")
		out.WriteString(l)
		out.WriteByte('\n')
	}
	return strings.TrimRight(out.String(), "\n")
}

// stopAll stops every child in cs in parallel and waits for them.
func stopAll(cs []*child, timeout time.Duration, force <-chan struct{}) {
	var wg sync.WaitGroup
	for _, c := range cs {
		wg.Go(func() { c.stop(timeout, force) })
	}
	wg.Wait()
}
