package build_test

import (
	"archive/zip"
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/wsk-route/wsk-route/action-proxy/build"
)

type entry struct {
	name, body string
	mode       os.FileMode
}

func zipOf(t *testing.T, entries ...entry) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for _, e := range entries {
		h := &zip.FileHeader{Name: e.name, Method: zip.Deflate}
		h.SetMode(e.mode)
		w, err := zw.CreateHeader(h)
		if err != nil {
			t.Fatal(err)
		}
		w.Write([]byte(e.body))
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// script writes an executable shell script and returns its path.
func script(t *testing.T, body string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "compile")
	if err := os.WriteFile(path, []byte("#!/bin/sh\n"+body+"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestBuild(t *testing.T) {
	const shell = "#!/bin/sh\necho hi\n"
	tests := []struct {
		name     string
		builder  build.Builder
		payload  func(t *testing.T) []byte
		wantErr  string // substring; empty means success
		wantExec string // expected content of bin/exec on success
	}{
		{
			name:     "plain script, no compiler",
			payload:  func(*testing.T) []byte { return []byte(shell) },
			wantExec: shell,
		},
		{
			name: "zip with exec and a symlink pointing outside, as in a virtualenv",
			payload: func(t *testing.T) []byte {
				return zipOf(t, entry{"exec", shell, 0o755}, entry{"venv/bin/python3", "/usr/bin/python3", os.ModeSymlink | 0o777})
			},
			// An executable exec skips the compiler.
			builder:  build.Builder{Compiler: "/nonexistent/compiler"},
			wantExec: shell,
		},
		{
			name:    "zip entry escaping the directory",
			payload: func(t *testing.T) []byte { return zipOf(t, entry{"../evil", "x", 0o644}) },
			wantErr: "escapes",
		},
		{
			name:     "source compiled by a silent compiler",
			payload:  func(*testing.T) []byte { return []byte("print('hi')") },
			builder:  build.Builder{Compiler: script(t, `cp "$2/exec" "$3/exec"; echo "main=$1" >> "$3/exec"`)},
			wantExec: "print('hi')main=main\n",
		},
		{
			name:    "compiler output is the error",
			payload: func(*testing.T) []byte { return []byte("bad source") },
			builder: build.Builder{Compiler: script(t, `echo "syntax error at line 1"; exit 1`)},
			wantErr: "syntax error at line 1",
		},
		{
			name:    "silent compiler that produces nothing",
			payload: func(*testing.T) []byte { return []byte("source") },
			builder: build.Builder{Compiler: script(t, `exit 0`)},
			wantErr: "cannot compile",
		},
		{
			name:    "missing compiler",
			payload: func(*testing.T) []byte { return []byte("source") },
			builder: build.Builder{Compiler: "/nonexistent/compiler"},
			wantErr: "/nonexistent/compiler",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "1")
			execPath, err := tt.builder.Build(context.Background(), tt.payload(t), "main", dir)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("Build error = %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("Build: %v", err)
			}
			if want := filepath.Join(dir, "bin", "exec"); execPath != want {
				t.Errorf("exec path = %s, want %s", execPath, want)
			}
			got, err := os.ReadFile(execPath)
			if err != nil || string(got) != tt.wantExec {
				t.Errorf("bin/exec = %q, %v; want %q", got, err, tt.wantExec)
			}
		})
	}
}

func TestCheckExecEnv(t *testing.T) {
	tests := []struct {
		name, file, want string
		missing          bool
		wantErr          bool
		wantDetail       string
	}{
		{name: "disabled", missing: true},
		{name: "match after trimming", file: "openwhisk/action-golang-v1.24\n", want: "openwhisk/action-golang-v1.24"},
		{name: "mismatch", file: "other\n", want: "expected", wantErr: true,
			wantDetail: "Expected exec.env should start with expected\nActual value: other\n"},
		{name: "missing file", missing: true, want: "expected", wantErr: true,
			wantDetail: "Expected exec.env should start with expected\nActual value: (no bin/exec.env: the action was not built for this runtime)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			if !tt.missing {
				os.WriteFile(filepath.Join(dir, "exec.env"), []byte(tt.file), 0o644)
			}
			err := build.CheckExecEnv(dir, tt.want)
			if (err != nil) != tt.wantErr {
				t.Fatalf("CheckExecEnv = %v, want error %v", err, tt.wantErr)
			}
			if err == nil {
				return
			}
			var m *build.MismatchError
			if !errors.As(err, &m) {
				t.Fatalf("error %T is not a *MismatchError", err)
			}
			if err.Error() != "Execution environment version mismatch. See logs for details." {
				t.Errorf("message = %q", err.Error())
			}
			if m.Detail() != tt.wantDetail {
				t.Errorf("Detail = %q, want %q", m.Detail(), tt.wantDetail)
			}
		})
	}
}
