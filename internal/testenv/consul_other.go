//go:build !linux

package testenv

import "syscall"

// consulSysProcAttr has nothing to add where there is no parent-death signal.
func consulSysProcAttr() *syscall.SysProcAttr { return nil }
