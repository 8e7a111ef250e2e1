package leakcheck

import (
	"fmt"
	"io"
	"os"
	"testing"
	"time"

	"go.uber.org/goleak"
)

// settle bounds how long a check waits for goroutines that are ending: an
// owner's Stop may return while the runtime is still unwinding a goroutine
// it has already released (a closed connection's reader, a timer's
// callback), and -race on a small machine slows that down.
var settle = 5 * time.Second

// ignored lists the goroutines that are not leaks though they outlive a
// test, each with its reason. Keep it short: a goroutine that some owner of
// ours started and did not wait for is a leak to fix at that owner, not an
// entry here. goleak itself already ignores the testing package's own
// goroutines, os/signal's receiver and any goroutine sitting in a system
// call (such as os/exec's Wait on a child that outlives a test).
//
// One entry: go-metrics' meter arbiter, which sarama's first meter starts
// (the agent's user events, internal/userevents), one per process however
// many Kafka clients come and go, and which by design never ends: no owner
// of ours starts it or could stop it. In particular net/http's keep-alive
// goroutines (persistConn's readLoop and writeLoop) are not ignored:
// whoever made the http.Client closes its idle connections
// (consulstore.Store.Close does), so a test that leaves them has not
// closed its client.
func ignored() []goleak.Option {
	return []goleak.Option{goleak.IgnoreTopFunction("github.com/rcrowley/go-metrics.(*meterArbiter).tick")}
}

// TestingM is what VerifyTestMain runs: *testing.M, or a wrapper whose Run
// also tears down what the package's tests shared (testenv.M).
type TestingM interface {
	// Run runs the tests and returns the exit code.
	Run() int
}

var _ TestingM = (*testing.M)(nil)

// VerifyTestMain runs the tests (m.Run) and, when they passed, fails the
// test binary if goroutines other than the ignored ones are still running
// once they have had settle to end; then it exits with the code. Call it
// from TestMain:
//
//	func TestMain(m *testing.M) { leakcheck.VerifyTestMain(m) }
func VerifyTestMain(m TestingM) {
	os.Exit(verifyTestMain(m, os.Stderr))
}

// verifyTestMain is VerifyTestMain without the exit: it returns the exit
// code and writes the leak report, if any, to w.
func verifyTestMain(m TestingM, w io.Writer) int {
	code := m.Run()
	if code != 0 {
		return code // the failures say more than the goroutines a failed test left
	}
	if err := find(nil); err != nil {
		fmt.Fprintf(w, "leakcheck: goroutines still running after the tests passed: %v\n", err)
		return 1
	}
	return 0
}

// Check records the goroutines running now and registers a cleanup that
// fails t (Errorf) if, when t cleans up, goroutines that were not running
// then are still running after settle. Call it first in the test, so that
// its cleanup runs after all others. Not for tests that run in parallel.
func Check(t testing.TB) {
	t.Helper()
	before := goleak.IgnoreCurrent()
	t.Cleanup(func() {
		if err := find(before); err != nil {
			t.Errorf("leakcheck: goroutines started by %s still running: %v", t.Name(), err)
		}
	})
}

// find returns nil as soon as no goroutine outside the ignored ones (and
// extra, if not nil) is running, or goleak's report of those still running
// after settle.
func find(extra goleak.Option) error {
	opts := ignored()
	if extra != nil {
		opts = append(opts, extra)
	}
	deadline := time.Now().Add(settle)
	for {
		err := goleak.Find(opts...) // retries for about 0.4 s itself
		if err == nil || time.Now().After(deadline) {
			return err
		}
	}
}
