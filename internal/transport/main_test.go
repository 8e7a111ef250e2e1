package transport

import (
	"testing"

	"github.com/wsk-route/wsk-route/internal/leakcheck"
)

// TestMain fails the package's tests if they leave goroutines behind.
func TestMain(m *testing.M) { leakcheck.VerifyTestMain(m) }
