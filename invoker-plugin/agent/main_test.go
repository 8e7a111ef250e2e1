package agent_test

import (
	"testing"

	"github.com/wsk-route/wsk-route/internal/leakcheck"
	"github.com/wsk-route/wsk-route/internal/testenv"
)

// TestMain stops the shared Consul agent once the tests are done (testenv.M)
// and then fails the package's tests if they leave goroutines behind.
func TestMain(m *testing.M) { leakcheck.VerifyTestMain(testenv.M(m)) }
