package sandbox

import (
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
)

func TestSweepTempDirs(t *testing.T) {
	tmp := t.TempDir()
	// A process that is gone: one we started and waited for.
	cmd := exec.Command("true")
	if err := cmd.Run(); err != nil {
		t.Skip("cannot run true:", err)
	}
	gone := cmd.Process.Pid
	mk := func(name, owner string) string {
		d := filepath.Join(tmp, name)
		os.MkdirAll(filepath.Join(d, "run"), 0o755)
		if owner != "" {
			os.WriteFile(filepath.Join(d, ownerFile), []byte(owner), 0o644)
		}
		return d
	}
	dead := mk("wsk-route-dev-123", strconv.Itoa(gone))
	deadData := mk("wsk-route-dev-data-456", strconv.Itoa(gone))
	live := mk("wsk-route-dev-789", strconv.Itoa(os.Getppid()))
	unowned := mk("wsk-route-dev-000", "")
	other := mk("something-else", strconv.Itoa(gone))

	sweepTempDirs(tmp, slog.New(slog.NewTextHandler(io.Discard, nil)))
	for _, d := range []string{dead, deadData} {
		if _, err := os.Stat(d); !os.IsNotExist(err) {
			t.Errorf("%s: %v, want it removed (its sandbox is gone)", d, err)
		}
	}
	for _, d := range []string{live, unowned, other} {
		if _, err := os.Stat(d); err != nil {
			t.Errorf("%s: %v, want it kept", d, err)
		}
	}
}
