package runtimes_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/wsk-route/wsk-route/cmd/wsk-route/sandbox/runtimes"
	"github.com/wsk-route/wsk-route/internal/proxytest"
)

// TestCacheDir: the project's cache directory is $WSK_ROUTE_CACHE, else
// wsk-route in the user's cache directory ($XDG_CACHE_HOME, else
// $HOME/.cache), as scripts/setup.sh has it.
func TestCacheDir(t *testing.T) {
	for _, tt := range []struct {
		name, cache, xdg, home, want string
	}{
		{"WSK_ROUTE_CACHE wins", "/c/wr", "/c/xdg", "/h", "/c/wr"},
		{"XDG_CACHE_HOME", "", "/c/xdg", "/h", "/c/xdg/wsk-route"},
		{"HOME", "", "", "/h", "/h/.cache/wsk-route"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv("WSK_ROUTE_CACHE", tt.cache)
			t.Setenv("XDG_CACHE_HOME", tt.xdg)
			t.Setenv("HOME", tt.home)
			got, err := runtimes.CacheDir()
			if err != nil || got != tt.want {
				t.Errorf("CacheDir() = %q, %v; want %q", got, err, tt.want)
			}
			gb, err := runtimes.GoBuildCache()
			if err != nil || gb != filepath.Join(tt.want, "go-build") {
				t.Errorf("GoBuildCache() = %q, %v; want %q", gb, err, filepath.Join(tt.want, "go-build"))
			}
		})
	}
}

// TestGoCacheAcrossInstalls: two installations (two sandbox starts, each
// with its own data directory) compile with the one build cache in the
// project's cache directory, which the first build fills; an explicit
// cache that cannot be created is an error, not a silent fallback.
func TestGoCacheAcrossInstalls(t *testing.T) {
	cache := t.TempDir()
	t.Setenv("WSK_ROUTE_CACHE", cache)
	want := filepath.Join(cache, "go-build")
	var sets []*runtimes.Set
	for _, dir := range []string{t.TempDir(), t.TempDir()} {
		s, err := runtimes.Install(dir)
		if err != nil {
			t.Fatal(err)
		}
		if s.GoCache() != want {
			t.Errorf("GoCache() = %q, want %q", s.GoCache(), want)
		}
		script, err := os.ReadFile(filepath.Join(dir, "go", "compile"))
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(script), "export GOCACHE='"+want+"'") {
			t.Errorf("the compile script of %s does not build with GOCACHE=%s", dir, want)
		}
		sets = append(sets, s)
	}
	if fi, err := os.Stat(want); err != nil || !fi.IsDir() {
		t.Fatalf("the build cache %s was not created: %v", want, err)
	}
	if _, err := runtimes.InstallWith(t.TempDir(), runtimes.Options{GoCache: "/proc/no-such-dir/go-build"}); err == nil {
		t.Error("InstallWith an uncreatable GoCache: no error")
	}
	// A build through the first installation fills the shared cache.
	rt := require(t, sets[0], "go:default")
	p := startProxy(t, rt)
	p.initOK(t, proxytest.InitPayload(goHello, "main", nil, false))
	entries, err := os.ReadDir(want)
	if err != nil || len(entries) == 0 {
		t.Errorf("the build cache %s is empty after a build: %v", want, err)
	}
}

func TestCanonical(t *testing.T) {
	s := install(t)
	goKinds, pyKinds := s.Kinds()["go"], s.Kinds()["python"]
	for _, tt := range []struct {
		kind string
		want []string // nil: unchanged
	}{
		{"go:default", goKinds},
		{"python:default", pyKinds},
		{"go:1.22", nil},
		{"python:3.11", nil},
		{"blackbox", nil},
		{"nodejs:default", nil},
	} {
		want := tt.kind
		if tt.want != nil {
			if len(tt.want) == 0 {
				continue // that family cannot run here: nothing to resolve to
			}
			want = tt.want[0]
		}
		if got := s.Canonical(tt.kind); got != want {
			t.Errorf("Canonical(%q) = %q, want %q", tt.kind, got, want)
		}
	}
}
