//go:build unix && !linux

package launcher

import "syscall"

// terminateSignal asks a child to drain and stop.
var terminateSignal = syscall.SIGTERM

// sysProcAttr puts a child in a process group of its own, so that a Ctrl-C
// in the terminal reaches only the launcher. These systems have no
// Pdeathsig: a launcher killed with SIGKILL leaves its children running.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true}
}
