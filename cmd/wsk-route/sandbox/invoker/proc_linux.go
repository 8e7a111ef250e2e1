package invoker

import "syscall"

// sysProcAttr puts a proxy in a process group of its own (killed as a
// whole) that dies with the sandbox.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}
