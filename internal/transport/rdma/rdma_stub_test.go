//go:build !rdma

package rdma

import (
	"context"
	"errors"
	"strings"
	"testing"
)

func TestNotBuilt(t *testing.T) {
	const addr = "10.0.0.2:7000"
	for name, call := range map[string]func() error{
		"Listen": func() error { _, err := Listen(addr); return err },
		"Dial":   func() error { _, err := Dial(context.Background(), "rdma", addr); return err },
	} {
		t.Run(name, func(t *testing.T) {
			err := call()
			if !errors.Is(err, ErrNotBuilt) {
				t.Fatalf("got %v, want an error wrapping ErrNotBuilt", err)
			}
			if !strings.Contains(err.Error(), addr) || !strings.Contains(err.Error(), "-tags rdma") {
				t.Errorf("error %q should name %s and say how to build with the tag", err, addr)
			}
		})
	}
}
