package faults_test

import (
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/wsk-route/wsk-route/internal/testenv"
)

// builds are the binaries the suite runs, built on first use (a run of
// only the pure tests builds nothing) and removed after the tests.
var builds struct {
	mu       sync.Mutex
	dirs     map[string]string // set name -> directory
	errs     map[string]error
	cleanups []func()
}

// binarySets are what each kind of environment needs: the route plane's
// processes and the recording action; the sandbox's CLI.
var binarySets = map[string]map[string]string{
	"route": {
		"proxy":           "../cmd/proxy",
		"wsk-route-agent": "../cmd/wsk-route-agent",
		"rec":             "./testdata/rec",
	},
	"sandbox": {"wsk-route": "../cmd/wsk-route"},
}

// bin returns the path of a built binary, building its set the first time.
func bin(t testing.TB, name string) string {
	t.Helper()
	set := "route"
	if name == "wsk-route" {
		set = "sandbox"
	}
	builds.mu.Lock()
	defer builds.mu.Unlock()
	if builds.dirs == nil {
		builds.dirs, builds.errs = map[string]string{}, map[string]error{}
	}
	if _, done := builds.dirs[set]; !done && builds.errs[set] == nil {
		dir, cleanup, err := testenv.BuildStatic(binarySets[set])
		if err != nil {
			builds.errs[set] = err
		} else {
			builds.dirs[set] = dir
			builds.cleanups = append(builds.cleanups, cleanup)
		}
	}
	if err := builds.errs[set]; err != nil {
		t.Fatal(err)
	}
	return filepath.Join(builds.dirs[set], name)
}

func TestMain(m *testing.M) {
	code := m.Run()
	for _, c := range builds.cleanups {
		c()
	}
	os.Exit(code)
}
