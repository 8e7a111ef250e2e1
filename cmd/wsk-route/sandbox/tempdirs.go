package sandbox

import (
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// ownerFile names, in each temporary directory of a sandbox, the pid of
// the sandbox that made it.
const ownerFile = ".owner-pid"

// markOwner writes this process's pid into dir's owner file.
func markOwner(dir string) error {
	return os.WriteFile(filepath.Join(dir, ownerFile), []byte(strconv.Itoa(os.Getpid())), 0o644)
}

// sweepTempDirs removes the temporary directories (run directories, and
// data directories without --data-dir) of sandboxes that are gone: those
// in tmp whose owner file names a process that no longer exists. A
// directory without an owner file, or whose owner lives, is left alone.
func sweepTempDirs(tmp string, log *slog.Logger) {
	entries, err := os.ReadDir(tmp)
	if err != nil {
		return
	}
	for _, e := range entries {
		if !e.IsDir() || !strings.HasPrefix(e.Name(), "wsk-route-dev-") {
			continue
		}
		dir := filepath.Join(tmp, e.Name())
		b, err := os.ReadFile(filepath.Join(dir, ownerFile))
		if err != nil {
			continue
		}
		pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
		if err != nil || pid <= 0 || pid == os.Getpid() || alive(pid) {
			continue
		}
		if err := os.RemoveAll(dir); err == nil {
			log.Info("sandbox: removed the temporary directory of a sandbox that is gone", "dir", dir, "pid", pid)
		}
	}
}

// alive reports whether a process with pid exists.
func alive(pid int) bool {
	err := syscall.Kill(pid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}
