package runtimes

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/wsk-route/wsk-route/internal/whisk"
)

// Kind names.
const (
	// KindPython is the canonical Python kind.
	KindPython = "python:3"
	// KindNative is OpenWhisk's name for a blackbox action of image
	// openwhisk/dockerskeleton.
	KindNative = "native"
	// DefaultGoKind is the Go kind's name when no go toolchain is found.
	DefaultGoKind = "go:1.26"
)

// probeTimeout bounds each run of an interpreter or toolchain by Install.
const probeTimeout = 30 * time.Second

// minPython is the oldest Python 3 minor version the compile script runs on.
const minPython = 8

// Runtime is how to run one kind behind the proxy.
type Runtime struct {
	// Kind is the canonical kind ("python:3", "go:1.26", "blackbox").
	Kind string
	// Env is what to add to the proxy's environment:
	// OW_COMPILER=..., OW_WAIT_FOR_ACK=1, OW_LOG_INIT_ERROR=1.
	Env []string
	// Available is nil when the kind can run on this host, else why not
	// ("python3 not found on PATH").
	Available error
}

// Set is the installed runtimes. It is read-only once Install returns.
type Set struct {
	python, golang, blackbox Runtime
	goMinor                  int    // 1.N of the local go; 0 if none
	goCache                  string // the Go compile script's GOCACHE
}

// Options tune Install. The zero value is the default installation.
type Options struct {
	// GoCache is the Go build cache of the Go kind's compile script. ""
	// means GoBuildCache(), so that the standard library is compiled once
	// per machine and toolchain rather than at every sandbox start, and,
	// when that cannot be created, a cache under the install directory.
	GoCache string
}

// Install writes the runtimes' files under dir with the default Options.
func Install(dir string) (*Set, error) { return InstallWith(dir, Options{}) }

// InstallWith writes the runtimes' files under dir (created if missing,
// made absolute; existing files are replaced) and detects python3 and go
// on PATH. A missing interpreter is not an error: its kind's Available
// says why. Errors are for files that cannot be written.
func InstallWith(dir string, o Options) (*Set, error) {
	dir, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("runtimes: install: %w", err)
	}
	cache := o.GoCache
	if cache == "" {
		if c, err := GoBuildCache(); err == nil {
			cache = c
		}
	}
	if cache != "" {
		if cache, err = filepath.Abs(cache); err != nil {
			return nil, fmt.Errorf("runtimes: install: the Go build cache: %w", err)
		}
		if err := os.MkdirAll(cache, 0o755); err != nil {
			if o.GoCache != "" {
				return nil, fmt.Errorf("runtimes: install: the Go build cache %s: %w", cache, err)
			}
			cache = "" // the default one cannot be had: use dir's
		}
	}
	s := &Set{blackbox: Runtime{Kind: whisk.KindBlackbox}}
	if s.python, err = installPython(filepath.Join(dir, "python")); err != nil {
		return nil, err
	}
	goDir := filepath.Join(dir, "go")
	if cache == "" {
		cache = filepath.Join(goDir, "cache")
	}
	s.goCache = cache
	if s.golang, s.goMinor, err = installGo(goDir, cache); err != nil {
		return nil, err
	}
	return s, nil
}

// GoCache returns the build cache Go actions are compiled with.
func (s *Set) GoCache() string { return s.goCache }

// CacheEnv names the variable that moves the project's cache directory
// (scripts/setup.sh and internal/testenv read it too).
const CacheEnv = "WSK_ROUTE_CACHE"

// CacheDir returns the project's cache directory, the one its scripts use
// for Consul builds and test beds: $WSK_ROUTE_CACHE if set, else
// wsk-route under the user's cache directory ($XDG_CACHE_HOME, else
// $HOME/.cache, so $HOME/.cache/wsk-route by default).
func CacheDir() (string, error) {
	if d := os.Getenv(CacheEnv); d != "" {
		return d, nil
	}
	base, err := os.UserCacheDir()
	if err != nil {
		return "", fmt.Errorf("runtimes: no cache directory (set %s or HOME): %w", CacheEnv, err)
	}
	return filepath.Join(base, "wsk-route"), nil
}

// GoBuildCache returns the Go build cache the sandbox's Go actions share
// across sandbox starts: go-build in CacheDir(). Go keys its entries by
// toolchain and flags and trims those unused for days, so one directory
// serves every toolchain and sandbox (also several at once).
func GoBuildCache() (string, error) {
	d, err := CacheDir()
	if err != nil {
		return "", err
	}
	return filepath.Join(d, "go-build"), nil
}

// Lookup returns the runtime of exec's kind. The error names the kind and
// what it lacks on this host (the Runtime is returned too, with Available
// set), or, for a kind it does not know, lists the known ones.
func (s *Set) Lookup(e whisk.Exec) (Runtime, error) {
	rt, ok := s.lookup(e.Kind)
	if !ok {
		return Runtime{}, fmt.Errorf("%w: kind %q is not supported by the sandbox; known kinds: %s", ErrUnknownKind, e.Kind, strings.Join(s.known(), ", "))
	}
	if rt.Available != nil {
		return rt, fmt.Errorf("runtimes: kind %q cannot run here: %w", e.Kind, rt.Available)
	}
	return rt, nil
}

func (s *Set) lookup(kind string) (Runtime, bool) {
	family, version, _ := strings.Cut(kind, ":")
	switch family {
	case "python":
		if version == "3" || version == "default" || isMinor(version, "3.", 0) {
			return s.python, true
		}
	case "go":
		if version == "default" || isMinor(version, "1.", 20) {
			return s.golang, true
		}
	case whisk.KindBlackbox, KindNative:
		if version == "" && !strings.Contains(kind, ":") {
			return s.blackbox, true
		}
	}
	return Runtime{}, false
}

// isMinor reports whether version is prefix followed by a number >= min.
func isMinor(version, prefix string, min int) bool {
	rest, ok := strings.CutPrefix(version, prefix)
	if !ok || rest == "" || strings.TrimLeft(rest, "0123456789") != "" {
		return false
	}
	n, err := strconv.Atoi(rest)
	return err == nil && n >= min
}

// known lists the kind names Lookup accepts, for error messages.
func (s *Set) known() []string {
	return []string{s.python.Kind, "python:3.N", "python:default", s.golang.Kind, "go:1.2x", "go:default", whisk.KindBlackbox, KindNative}
}

// Kinds returns, per family, the canonical kinds that can run on this host,
// for the "runtimes" of GET /api/v1: {"python":["python:3"],
// "go":["go:1.26"], "blackbox":["blackbox"]}. A family whose interpreter is
// missing is left out.
func (s *Set) Kinds() map[string][]string {
	kinds := map[string][]string{}
	for _, rt := range []Runtime{s.python, s.golang, s.blackbox} {
		if rt.Available == nil {
			family, _, _ := strings.Cut(rt.Kind, ":")
			kinds[family] = append(kinds[family], rt.Kind)
		}
	}
	return kinds
}

// writeFile writes data to path with mode, unless it already holds exactly
// that; the mode is set either way.
func writeFile(path string, data []byte, mode fs.FileMode) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("runtimes: install: %w", err)
	}
	if old, err := os.ReadFile(path); err != nil || !bytes.Equal(old, data) {
		tmp := path + ".tmp"
		if err := os.WriteFile(tmp, data, mode); err != nil {
			return fmt.Errorf("runtimes: install: %w", err)
		}
		if err := os.Rename(tmp, path); err != nil {
			os.Remove(tmp)
			return fmt.Errorf("runtimes: install: %w", err)
		}
	}
	if err := os.Chmod(path, mode); err != nil {
		return fmt.Errorf("runtimes: install: %w", err)
	}
	return nil
}

// probe runs name on PATH with args and returns its stdout.
func probe(name string, args ...string) (path string, out []byte, err error) {
	path, err = exec.LookPath(name)
	if err != nil {
		return "", nil, fmt.Errorf("%s not found on PATH: %w", name, err)
	}
	if path, err = filepath.Abs(path); err != nil {
		return "", nil, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), probeTimeout)
	defer cancel()
	var stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, path, args...)
	cmd.Stderr = &stderr
	out, err = cmd.Output()
	if err != nil {
		return "", nil, fmt.Errorf("%s %s: %w: %s", path, strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	return path, out, nil
}

// ErrUnknownKind is returned (wrapped) by Lookup for a kind the sandbox
// does not know at all.
var ErrUnknownKind = errors.New("runtimes: unknown kind")

// Canonical returns the kind an action of kind is stored with: a
// "default" version resolved to the one that runs here ("go:default" →
// "go:1.26", "python:default" → "python:3"), as OpenWhisk stores the
// runtime manifest's kind; any other kind as it is.
func (s *Set) Canonical(kind string) string {
	family, version, ok := strings.Cut(kind, ":")
	if !ok || version != "default" {
		return kind
	}
	if rt, found := s.lookup(kind); found && strings.HasPrefix(rt.Kind, family+":") {
		return rt.Kind
	}
	return kind
}

// Known lists the kind names the sandbox accepts, for error messages.
func (s *Set) Known() []string { return s.known() }

// errNotExecutable is Available for a file system mounted noexec.
var errNotExecutable = errors.New("the installed compile script is not executable (is the directory on a noexec mount?)")

// checkExecutable reports whether path can be executed by its owner.
func checkExecutable(path string) error {
	fi, err := os.Stat(path)
	if err != nil {
		return err
	}
	if fi.Mode().Perm()&0o100 == 0 {
		return errNotExecutable
	}
	return nil
}
