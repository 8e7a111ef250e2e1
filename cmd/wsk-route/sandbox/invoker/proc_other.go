//go:build unix && !linux

package invoker

import "syscall"

// sysProcAttr puts a proxy in a process group of its own (killed as a
// whole).
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true}
}
