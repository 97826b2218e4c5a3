package launcher

import (
	"bytes"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"strings"
	"sync"
	"time"
)

// Restart pauses of a child that exits after the shop is ready.
const (
	restartMin   = time.Second
	restartMax   = 30 * time.Second
	restartReset = time.Minute // a child that ran this long starts again at restartMin
)

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

	mu       sync.Mutex // guards cmd, stopping, restarts
	cmd      *exec.Cmd  // the running process, nil between runs
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
	cmd, logf, err := c.spawn()
	if err != nil {
		close(c.done)
		return err
	}
	go c.supervise(cmd, logf)
	return nil
}

func (c *child) spawn() (*exec.Cmd, *os.File, error) {
	logf, err := os.OpenFile(c.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, nil, fmt.Errorf("launcher: log of %s: %w", c.name(), err)
	}
	cmd := exec.Command(c.exe, c.args...)
	cmd.Env = c.env
	cmd.Stdout = logf
	cmd.Stderr = logf
	cmd.SysProcAttr = sysProcAttr()
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.stopping {
		logf.Close()
		return nil, nil, fmt.Errorf("launcher: %s: stopped before it started", c.name())
	}
	if err := cmd.Start(); err != nil {
		logf.Close()
		return nil, nil, fmt.Errorf("launcher: start %s: %w", c.name(), err)
	}
	c.cmd = cmd
	return cmd, logf, nil
}

func (c *child) supervise(cmd *exec.Cmd, logf *os.File) {
	defer close(c.done)
	pause := restartMin
	for {
		began := time.Now()
		err := cmd.Wait()
		logf.Close()
		c.mu.Lock()
		c.cmd = nil
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
			pause = restartMin
		}
		c.log.Warn("launcher: child exited; restarting", "child", c.name(), "status", fmt.Sprint(err), "in", pause.String(), "log", c.logPath)
		select {
		case <-c.wake:
			return
		case <-time.After(pause):
		}
		pause = min(2*pause, restartMax)
		var serr error
		cmd, logf, serr = c.spawn()
		if serr != nil {
			c.mu.Lock()
			stopping := c.stopping
			c.mu.Unlock()
			if stopping {
				return
			}
			c.log.Error("launcher: child did not restart", "child", c.name(), "error", serr)
			return
		}
		c.mu.Lock()
		c.restarts++
		c.mu.Unlock()
		c.log.Info("launcher: child restarted", "child", c.name(), "pid", cmd.Process.Pid)
	}
}

// pid returns the running process's id, or 0.
func (c *child) pid() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.cmd == nil || c.cmd.Process == nil {
		return 0
	}
	return c.cmd.Process.Pid
}

// kill sends SIGKILL to the running process without stopping the
// supervision: the child comes back after a pause. It returns the pid
// killed, or 0 if none was running.
func (c *child) kill() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.cmd == nil || c.stopping {
		return 0
	}
	_ = c.cmd.Process.Kill()
	return c.cmd.Process.Pid
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
	cmd := c.cmd
	c.mu.Unlock()
	if cmd != nil {
		_ = cmd.Process.Signal(terminateSignal)
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
	if cmd != nil {
		_ = cmd.Process.Kill()
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
