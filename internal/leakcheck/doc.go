// Package leakcheck is wsk-route's one goroutine-leak check: a test that
// starts an owner (a Server, a Client, an agent) must leave no goroutine of
// it behind (STYLE.md rule 24). It wraps go.uber.org/goleak and keeps the
// project's list of goroutines to ignore in one place, each entry with the
// reason it is not a leak.
//
// It is a test helper: import it only from _test.go files (product code
// must not link goleak).
//
// # Usage
//
// Every package whose tests start owners checks, once all its tests have
// passed, that no goroutine is left, in a TestMain of its own (file
// main_test.go):
//
//	func TestMain(m *testing.M) { leakcheck.VerifyTestMain(m) }
//
// A package whose TestMain must also tear something down after the tests
// (testenv.Main stops the shared Consul agent) passes a wrapper whose Run
// runs the tests and then does that:
//
//	func TestMain(m *testing.M) { leakcheck.VerifyTestMain(testenv.M(m)) }
//
// A test can also check its own goroutines, when it cleans up:
//
//	func TestServe(t *testing.T) {
//		leakcheck.Check(t) // first, so that its cleanup runs last
//		...
//	}
//
// The caller's duties:
//
//   - call Check before anything that registers a cleanup stopping an
//     owner, so that the check runs after every such cleanup;
//   - not call Check in a test that runs in parallel with others
//     (t.Parallel): their goroutines would count as leaks of this test;
//   - fix a leak at its owner (an owner's Stop or Run must wait for its
//     goroutines) rather than ignore it; an entry added to the ignore list
//     in leakcheck.go says why the goroutine is not a leak.
//
// Both checks give goroutines that are ending a few seconds (settle) to do
// so, polling, and report every goroutine still running with its stack.
package leakcheck
