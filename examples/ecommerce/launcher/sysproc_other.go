//go:build !unix

package launcher

import (
	"os"
	"syscall"
)

// terminateSignal: without SIGTERM, a child is interrupted instead (on
// Windows Signal(os.Interrupt) is not supported and stop falls back to
// killing it after the timeout).
var terminateSignal = os.Interrupt

func sysProcAttr() *syscall.SysProcAttr { return nil }
