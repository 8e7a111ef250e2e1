package agent

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/wsk-route/wsk-route/invoker-plugin/proxyconn"
)

func TestLoadBindings(t *testing.T) {
	tests := []struct {
		name string
		file string // "": no file
		n    int
		ok   bool
	}{
		{"no file", "", 0, true},
		{"empty list", `{"version":1,"bindings":[]}`, 0, true},
		{"two", `{"version":1,"bindings":[{"path":"/docker/a","namespace":"ns1"},{"controller":"pids","path":"/docker/b","namespace":"ns2"}]}`, 2, true},
		{"garbage", `{"version":1,"bind`, 0, false},
		{"wrong version", `{"version":2,"bindings":[]}`, 0, false},
		{"relative path", `{"version":1,"bindings":[{"path":"docker/a","namespace":"ns1"}]}`, 0, false},
		{"bad namespace", `{"version":1,"bindings":[{"path":"/docker/a","namespace":"a/b"}]}`, 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			if tt.file != "" {
				if err := os.WriteFile(filepath.Join(dir, BindingsFile), []byte(tt.file), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			b, err := loadBindings(dir)
			if (err == nil) != tt.ok {
				t.Fatalf("loadBindings = %v, want ok %v", err, tt.ok)
			}
			if err == nil && b.len() != tt.n {
				t.Errorf("%d bindings, want %d", b.len(), tt.n)
			}
		})
	}
}

// A bindings file longer than maxBindingsFile is refused, even when it
// holds a valid document: the cut document fails to decode.
func TestLoadBindingsTooLarge(t *testing.T) {
	dir := t.TempDir()
	f, err := os.Create(filepath.Join(dir, BindingsFile))
	if err != nil {
		t.Fatal(err)
	}
	pad := bytes.Repeat([]byte(" "), 1<<20)
	write := func(p []byte) {
		if _, err := f.Write(p); err != nil {
			t.Fatal(err)
		}
	}
	write([]byte(`{"version":1,"bindings":[`))
	for range maxBindingsFile>>20 + 1 {
		write(pad)
	}
	write([]byte(`]}`))
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := loadBindings(dir); err == nil {
		t.Fatal("loadBindings accepted a file over maxBindingsFile")
	} else {
		t.Log(err)
	}
}

// A binding that cannot be saved is reported to its waiters, and retried
// by the next bind of the same cgroup.
func TestBindingsSaveFailure(t *testing.T) {
	dir := t.TempDir()
	b, err := loadBindings(dir)
	if err != nil {
		t.Fatal(err)
	}
	// A directory where the file goes makes the rename fail.
	if err := os.Mkdir(b.path, 0o700); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- b.persister(ctx) }()
	defer func() { cancel(); <-done }()
	wctx, wcancel := context.WithTimeout(ctx, 10*time.Second)
	defer wcancel()

	cg := proxyconn.Cgroup{Path: "/docker/a"}
	gen, err := b.bind(cg, "ns1")
	if err != nil {
		t.Fatal(err)
	}
	if err := b.waitSaved(wctx, gen); err == nil || wctx.Err() != nil {
		t.Fatalf("waitSaved = %v (ctx %v), want a save error", err, wctx.Err())
	}
	if _, err := b.bind(cg, "ns2"); !errors.Is(err, ErrNamespaceBound) {
		t.Errorf("bind of another namespace after a failed save = %v, want ErrNamespaceBound", err)
	}
	if err := os.Remove(b.path); err != nil {
		t.Fatal(err)
	}
	gen, err = b.bind(cg, "ns1")
	if err != nil {
		t.Fatal(err)
	}
	if err := b.waitSaved(wctx, gen); err != nil {
		t.Fatalf("waitSaved after the fix = %v", err)
	}
	again, err := loadBindings(dir)
	if err != nil || again.len() != 1 {
		t.Fatalf("reloaded: %v, %d bindings; want 1", err, again.len())
	}
}
