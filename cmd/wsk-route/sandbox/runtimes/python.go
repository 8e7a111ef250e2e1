package runtimes

import (
	"bytes"
	"fmt"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/wsk-route/wsk-route/action-proxy/runtimes/python"
)

// pythonProbe prints the interpreter's real path and its minor version.
const pythonProbe = "import sys; print(sys.executable); print(sys.version_info[0]); print(sys.version_info[1])"

// installPython writes compile and launcher.py to dir and finds python3.
func installPython(dir string) (Runtime, error) {
	rt := Runtime{Kind: KindPython}
	interp, err := findPython()
	rt.Available = err
	compile, err := python.Files.ReadFile("compile")
	if err != nil {
		return rt, fmt.Errorf("runtimes: install python: %w", err)
	}
	launcher, err := python.Files.ReadFile("launcher.py")
	if err != nil {
		return rt, fmt.Errorf("runtimes: install python: %w", err)
	}
	if interp != "" {
		// The proxy's PATH may lack python3 (or find another one): the
		// interpreter found here runs the compile script, and compile puts
		// its own sys.executable into bin/exec.
		first, rest, _ := bytes.Cut(compile, []byte("\n"))
		if !bytes.HasPrefix(first, []byte("#!")) {
			return rt, fmt.Errorf("runtimes: install python: the embedded compile script has no #! line")
		}
		compile = append([]byte("#!"+interp+"\n"), rest...)
	}
	path := filepath.Join(dir, "compile")
	if err := writeFile(path, compile, 0o755); err != nil {
		return rt, err
	}
	if err := writeFile(filepath.Join(dir, "launcher.py"), launcher, 0o644); err != nil {
		return rt, err
	}
	if rt.Available == nil {
		rt.Available = checkExecutable(path)
	}
	rt.Env = []string{"OW_COMPILER=" + path, "OW_WAIT_FOR_ACK=1", "OW_LOG_INIT_ERROR=1"}
	return rt, nil
}

// findPython returns the absolute path of the interpreter python3 on PATH
// runs (not a pyenv shim or a symlink), or why there is none usable.
func findPython() (string, error) {
	path, out, err := probe("python3", "-c", pythonProbe)
	if err != nil {
		return "", err
	}
	lines := strings.Fields(string(out))
	if len(lines) != 3 || !filepath.IsAbs(lines[0]) || strings.ContainsAny(lines[0], " \t") {
		return "", fmt.Errorf("%s: cannot tell its executable and version from %q", path, out)
	}
	major, err1 := strconv.Atoi(lines[1])
	minor, err2 := strconv.Atoi(lines[2])
	if err1 != nil || err2 != nil || major != 3 || minor < minPython {
		return "", fmt.Errorf("%s is Python %s.%s; the sandbox needs 3.%d or later", path, lines[1], lines[2], minPython)
	}
	return lines[0], nil
}
