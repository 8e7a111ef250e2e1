package transport

import (
	"bytes"
	"testing"
	"time"

	"github.com/wsk-route/wsk-route/internal/frame"
	"github.com/wsk-route/wsk-route/internal/shm"
)

// Detach hands out inline bytes as they are, and copies a shm payload out
// before unmapping it.
func TestDetach(t *testing.T) {
	inline := &Delivery{Frame: frame.Frame{Payload: []byte(`{"a":1}`)}}
	if got := inline.Detach(); string(got) != `{"a":1}` || &got[0] != &inline.Frame.Payload[0] {
		t.Errorf("inline Detach = %q, want the delivery's own bytes", got)
	}

	dir := t.TempDir()
	want := bytes.Repeat([]byte("x"), 100<<10)
	name, err := shm.Write(dir, want, time.Now().Add(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	seg, err := shm.Open(dir, name, uint64(len(want)))
	if err != nil {
		t.Fatal(err)
	}
	d := &Delivery{Frame: frame.Frame{PayloadKind: frame.PayloadShm, Ref: name, Size: uint64(len(want))}, seg: seg}
	got := d.Detach()
	if !bytes.Equal(got, want) {
		t.Fatalf("shm Detach returned %d bytes, want the segment's %d", len(got), len(want))
	}
	if d.Payload() != nil {
		t.Error("the segment is still mapped after Detach")
	}
	got[0] = 'y' // the caller's own copy: writable, unlike the mapping
}

func TestUsesShm(t *testing.T) {
	tests := []struct {
		c        *Client
		endpoint string
		size     int
		want     bool
	}{
		{&Client{ShmDir: "/s"}, "unix:/x.sock", DefaultShmThreshold + 1, true},
		{&Client{ShmDir: "/s"}, "unix:/x.sock", DefaultShmThreshold, false},
		{&Client{ShmDir: "/s"}, "tcp:1.2.3.4:5", 1 << 20, false},
		{&Client{}, "unix:/x.sock", 1 << 20, false},
		{&Client{ShmDir: "/s", ShmThreshold: -1}, "unix:/x.sock", 1 << 20, false},
		{&Client{ShmDir: "/s", ShmThreshold: 10}, "unix:/x.sock", 11, true},
		{&Client{ShmDir: "/s"}, "bogus", 1 << 20, false},
	}
	for _, tt := range tests {
		if got := tt.c.UsesShm(tt.endpoint, tt.size); got != tt.want {
			t.Errorf("Client{ShmDir: %q, ShmThreshold: %d}.UsesShm(%q, %d) = %v, want %v",
				tt.c.ShmDir, tt.c.ShmThreshold, tt.endpoint, tt.size, got, tt.want)
		}
	}
}
