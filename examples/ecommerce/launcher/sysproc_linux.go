package launcher

import "syscall"

// terminateSignal asks a child to drain and stop.
var terminateSignal = syscall.SIGTERM

// sysProcAttr puts a child in a process group of its own, so that a Ctrl-C
// in the terminal (SIGINT to the foreground group) reaches only the
// launcher, which stops the children in order; and asks the kernel to
// SIGKILL the child if the launcher dies first, so that no process of the
// shop outlives a launcher killed with SIGKILL.
//
// Pdeathsig fires when the OS thread that started the child exits, not the
// process; the Go runtime never ends a thread except one locked with
// runtime.LockOSThread whose goroutine returns, which the launcher does not
// do, so in practice it fires when the launcher process dies.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}
