package usermetrics_test

import (
	"testing"

	"github.com/wsk-route/wsk-route/internal/leakcheck"
)

// TestMain checks that the tests leave no goroutine behind.
func TestMain(m *testing.M) { leakcheck.VerifyTestMain(m) }
