package leakcheck

import (
	"io"
	"time"
)

// SetSettle sets how long the checks wait for goroutines to end, until the
// returned function restores it.
func SetSettle(d time.Duration) (restore func()) {
	old := settle
	settle = d
	return func() { settle = old }
}

// VerifyTestMainCode is VerifyTestMain without the exit.
func VerifyTestMainCode(m TestingM, w io.Writer) int { return verifyTestMain(m, w) }
