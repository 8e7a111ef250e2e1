package testenv

import "syscall"

// consulSysProcAttr makes the kernel kill the agent if the test binary dies
// without running its cleanups (a panic, a -timeout), so no agent outlives it.
func consulSysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
