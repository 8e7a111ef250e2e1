package route

import (
	"testing"

	"github.com/wsk-route/wsk-route/internal/leakcheck"
)

// TestMain fails the package's tests if a plane leaves a goroutine behind:
// every goroutine of a plane has an owner, and Run waits for them.
func TestMain(m *testing.M) { leakcheck.VerifyTestMain(m) }
