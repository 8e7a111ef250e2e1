package build

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/wsk-route/wsk-route/action-proxy/archive"
)

// ErrCannotCompile reports a compiler that succeeded silently but produced
// no bin/exec. The text is the stock proxy's.
var ErrCannotCompile = errors.New("cannot compile")

// Builder builds action directories. The zero value unpacks without
// compiling.
type Builder struct {
	// Compiler is the OW_COMPILER script, run as
	// "Compiler <main> <abs src> <abs bin>". Empty means never compile.
	Compiler string
	// Env is the compiler's entire environment.
	Env []string
	// SaveJar is OW_SAVE_JAR: a jar (a zip with META-INF/MANIFEST.MF) is
	// stored under this name instead of being unpacked.
	SaveJar string
}

// Build unpacks payload into dir/src and produces dir/bin/exec, returning
// its path. Any output of the compiler means failure, and becomes the error
// text, as in the stock proxy. ctx bounds the compiler's run.
func (b Builder) Build(ctx context.Context, payload []byte, main, dir string) (string, error) {
	dir, err := filepath.Abs(dir)
	if err != nil {
		return "", fmt.Errorf("build: %w", err)
	}
	src := filepath.Join(dir, "src")
	bin := filepath.Join(dir, "bin")
	// Symlinks may point outside (a virtualenv's bin/python3 does); no
	// entry may be written through one, so nothing lands outside src.
	opt := archive.Options{SaveJar: b.SaveJar, AllowExternalSymlinks: true}
	if err := archive.Extract(payload, src, opt); err != nil {
		return "", err
	}
	execPath := filepath.Join(bin, "exec")
	if b.Compiler == "" || archive.IsExecutable(filepath.Join(src, "exec")) {
		if err := os.Rename(src, bin); err != nil {
			return "", fmt.Errorf("build: moving the action into place: %w", err)
		}
		return execPath, nil
	}
	if err := os.MkdirAll(bin, 0o755); err != nil {
		return "", fmt.Errorf("build: %w", err)
	}
	if err := b.compile(ctx, main, src, bin); err != nil {
		return "", err
	}
	if _, err := os.Stat(execPath); err != nil {
		return "", ErrCannotCompile
	}
	return execPath, nil
}

func (b Builder) compile(ctx context.Context, main, src, bin string) error {
	cmd := exec.CommandContext(ctx, b.Compiler, main, src, bin)
	cmd.Env = b.Env
	if cmd.Env == nil {
		cmd.Env = []string{}
	}
	var out bytes.Buffer
	cmd.Stdout = &out
	cmd.Stderr = &out
	err := cmd.Run()
	if out.Len() > 0 {
		return errors.New(out.String())
	}
	if err != nil {
		return fmt.Errorf("%s: %w", b.Compiler, err)
	}
	return nil
}

// MismatchError reports a bin/exec.env that does not match the runtime's
// OW_EXECUTION_ENV. Its message is the stock proxy's; Detail holds the two
// lines the stock proxy prints to stdout.
type MismatchError struct {
	Want, Got string
	Missing   bool
}

func (e *MismatchError) Error() string {
	return "Execution environment version mismatch. See logs for details."
}

// Detail returns what the stock proxy prints to stdout for this mismatch
// (two lines, no final newline).
func (e *MismatchError) Detail() string {
	got := e.Got
	if e.Missing {
		got = "(no bin/exec.env: the action was not built for this runtime)"
	}
	return fmt.Sprintf("Expected exec.env should start with %s\nActual value: %s", e.Want, got)
}

// CheckExecEnv checks that binDir/exec.env, trimmed, equals want. An empty
// want disables the check.
func CheckExecEnv(binDir, want string) error {
	if want == "" {
		return nil
	}
	data, err := os.ReadFile(filepath.Join(binDir, "exec.env"))
	if errors.Is(err, os.ErrNotExist) {
		return &MismatchError{Want: want, Missing: true}
	}
	if err != nil {
		return fmt.Errorf("build: reading exec.env: %w", err)
	}
	if strings.TrimSpace(string(data)) != want {
		return &MismatchError{Want: want, Got: string(data)}
	}
	return nil
}
