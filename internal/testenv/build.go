package testenv

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
)

// BuildStatic builds Go executables for a TestMain (which has no
// *testing.T) into a new temporary directory dir. bins maps each
// executable's file name in dir to the package built into it: an import
// path, or a directory relative to the working directory (the test's
// package directory), as `go build` takes it. Each is built with
// CGO_ENABLED=0 and -trimpath, so it is static and runs in a container of
// its own.
//
// On success the caller must call cleanup (typically after m.Run) to remove
// dir; on error nothing is left behind and err names the package whose
// build failed, with the compiler's output.
func BuildStatic(bins map[string]string) (dir string, cleanup func(), err error) {
	dir, err = os.MkdirTemp("", "wsk-route-test-")
	if err != nil {
		return "", nil, fmt.Errorf("testenv: a directory for the test binaries: %w", err)
	}
	cleanup = func() { os.RemoveAll(dir) }
	names := make([]string, 0, len(bins))
	for name := range bins {
		names = append(names, name)
	}
	sort.Strings(names) // a stable order, so a failure reads the same every run
	for _, name := range names {
		pkg := bins[name]
		cmd := exec.Command(goTool(), "build", "-trimpath", "-o", filepath.Join(dir, name), pkg)
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			cleanup()
			return "", nil, fmt.Errorf("testenv: go build %s: %w\n%s", pkg, err, out)
		}
	}
	return dir, cleanup, nil
}

// goTool finds the go command: the one on PATH, else the one of the
// toolchain that built the test binary.
func goTool() string {
	if p, err := exec.LookPath("go"); err == nil {
		return p
	}
	return filepath.Join(runtime.GOROOT(), "bin", "go")
}
