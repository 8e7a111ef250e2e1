package testenv_test

import (
	"strings"
	"sync"
	"testing"

	"github.com/wsk-route/wsk-route/internal/testenv"
)

func TestSyncBuffer(t *testing.T) {
	var b testenv.SyncBuffer
	if got := b.String(); got != "" {
		t.Fatalf("zero value holds %q", got)
	}
	const writers, each = 8, 100
	var wg sync.WaitGroup
	for range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range each {
				if n, err := b.Write([]byte("x")); n != 1 || err != nil {
					t.Errorf("Write: %d, %v", n, err)
				}
				_ = b.String() // reads while others write (go test -race sees a race here without the lock)
			}
		}()
	}
	wg.Wait()
	if got, want := b.String(), strings.Repeat("x", writers*each); got != want {
		t.Errorf("after %d writes: %d bytes, want %d", writers*each, len(got), len(want))
	}
}
