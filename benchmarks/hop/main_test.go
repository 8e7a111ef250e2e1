package hop

import (
	"os"
	"testing"
)

// TestMain removes the receiver process's binary, if a test built it.
func TestMain(m *testing.M) {
	code := m.Run()
	if peerBin.cleanup != nil {
		peerBin.cleanup()
	}
	os.Exit(code)
}
