package leakcheck_test

import (
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wsk-route/wsk-route/internal/leakcheck"
)

func TestMain(m *testing.M) { leakcheck.VerifyTestMain(m) }

// recorder is a testing.TB that records Errorf and runs its cleanups when
// told, so that a test can watch Check fail without failing itself.
type recorder struct {
	testing.TB
	mu       sync.Mutex
	errs     []string
	cleanups []func()
}

func (r *recorder) Helper()      {}
func (r *recorder) Name() string { return "recorder" }
func (r *recorder) Cleanup(f func()) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.cleanups = append(r.cleanups, f)
}

func (r *recorder) Errorf(format string, args ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.errs = append(r.errs, fmt.Sprintf(format, args...))
}

// cleanUp runs the cleanups, last registered first, as testing does.
func (r *recorder) cleanUp() {
	for i := len(r.cleanups) - 1; i >= 0; i-- {
		r.cleanups[i]()
	}
}

// blocked starts a goroutine that runs parkedHere until release is closed,
// and returns release and a channel closed when the goroutine has ended.
func blocked() (release chan struct{}, ended chan struct{}) {
	release, ended = make(chan struct{}), make(chan struct{})
	go func() {
		defer close(ended)
		parkedHere(release)
	}()
	return release, ended
}

// parkedHere names the leaked goroutine's frame, so that the report can be
// checked for it.
func parkedHere(release chan struct{}) { <-release }

func TestCheck(t *testing.T) {
	defer leakcheck.SetSettle(200 * time.Millisecond)()

	t.Run("a goroutine started and not stopped is reported", func(t *testing.T) {
		r := &recorder{TB: t}
		leakcheck.Check(r)
		release, ended := blocked()
		r.cleanUp()
		close(release)
		<-ended
		if len(r.errs) != 1 {
			t.Fatalf("got %d errors, want 1: %q", len(r.errs), r.errs)
		}
		if !strings.Contains(r.errs[0], "leakcheck_test.parkedHere") {
			t.Errorf("got report %q, want the leaked goroutine's stack (parkedHere)", r.errs[0])
		}
	})

	t.Run("a goroutine stopped by a cleanup is not reported", func(t *testing.T) {
		r := &recorder{TB: t}
		leakcheck.Check(r)
		release, ended := blocked()
		r.Cleanup(func() { close(release); <-ended })
		r.cleanUp()
		if len(r.errs) != 0 {
			t.Errorf("got errors %q, want none", r.errs)
		}
	})

	t.Run("a goroutine that ends within settle is not reported", func(t *testing.T) {
		defer leakcheck.SetSettle(5 * time.Second)()
		r := &recorder{TB: t}
		leakcheck.Check(r)
		release, ended := blocked()
		time.AfterFunc(300*time.Millisecond, func() { close(release) })
		r.cleanUp()
		<-ended
		if len(r.errs) != 0 {
			t.Errorf("got errors %q, want none", r.errs)
		}
	})

	t.Run("a goroutine running before Check is not reported", func(t *testing.T) {
		release, ended := blocked()
		defer func() { close(release); <-ended }()
		r := &recorder{TB: t}
		leakcheck.Check(r)
		r.cleanUp()
		if len(r.errs) != 0 {
			t.Errorf("got errors %q, want none", r.errs)
		}
	})
}

// runner is a TestingM whose Run calls run.
type runner func() int

func (r runner) Run() int { return r() }

func TestVerifyTestMain(t *testing.T) {
	defer leakcheck.SetSettle(200 * time.Millisecond)()
	var release, ended chan struct{}
	defer func() {
		if release != nil {
			close(release)
			<-ended
		}
	}()
	tests := []struct {
		name     string
		run      func() int
		want     int
		wantLeak bool
	}{
		{"passing tests, no goroutine left", func() int { return 0 }, 0, false},
		{"failed tests keep their code, unchecked", func() int { return 3 }, 3, false},
		{"passing tests that leave a goroutine fail", func() int {
			release, ended = blocked()
			return 0
		}, 1, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out strings.Builder
			if got := leakcheck.VerifyTestMainCode(runner(tt.run), &out); got != tt.want {
				t.Errorf("got exit code %d, want %d (output %q)", got, tt.want, out.String())
			}
			if leaked := strings.Contains(out.String(), "leakcheck_test.parkedHere"); leaked != tt.wantLeak {
				t.Errorf("got report %q, want the leak reported: %v", out.String(), tt.wantLeak)
			}
		})
	}
}
