package agent_test

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/wsk-route/wsk-route/internal/shm"
	"github.com/wsk-route/wsk-route/invoker-plugin/agent"
)

// Segments whose sender died before removing them are swept once their
// deadline and the grace have passed; live ones stay.
func TestSweepRemovesExpiredSegments(t *testing.T) {
	shmRoot := filepath.Join(shortTempDir(t), "shm")
	startAgent(t, "sweep-host", newStore(t), func(c *agent.Config) {
		c.ShmRoot = shmRoot
		c.SweepInterval = 20 * time.Millisecond
		c.ShmGrace = 10 * time.Millisecond
	})
	dir := filepath.Join(shmRoot, "guest")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	expired, err := shm.Write(dir, []byte(`{"left":"behind"}`), time.Now().Add(-time.Second))
	if err != nil {
		t.Fatal(err)
	}
	live, err := shm.Write(dir, []byte(`{"still":"used"}`), time.Now().Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		if _, err := os.Stat(filepath.Join(dir, expired)); os.IsNotExist(err) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("expired segment %s still there after 10 s", expired)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if _, err := os.Stat(filepath.Join(dir, live)); err != nil {
		t.Fatalf("live segment %s: %v", live, err)
	}
}
