package netns

import (
	"bytes"
	"testing"
)

// tcpFrame is an Ethernet/IPv4/TCP SYN from 10.0.0.1:1234 to 10.0.0.2:80 whose TCP
// checksum field holds garbage.
func tcpFrame() []byte {
	f := make([]byte, 14+20+20)
	f[12], f[13] = 0x08, 0x00
	ip := f[14:]
	ip[0] = 0x45
	ip[3] = 40 // total length
	ip[8] = 64
	ip[9] = 6
	copy(ip[12:], []byte{10, 0, 0, 1, 10, 0, 0, 2})
	tcp := ip[20:]
	tcp[0], tcp[1], tcp[2], tcp[3] = 0x04, 0xd2, 0, 80
	tcp[12] = 5 << 4
	tcp[13] = 0x02
	tcp[16], tcp[17] = 0xde, 0xad
	return f
}

func TestFixChecksum(t *testing.T) {
	f := tcpFrame()
	fixChecksum(f)
	// The one's-complement sum over pseudo header and segment, checksum included,
	// must be 0xffff.
	ip := f[14:]
	var sum uint32
	for i := 12; i < 20; i += 2 {
		sum += uint32(ip[i])<<8 | uint32(ip[i+1])
	}
	sum += 6 + 20
	for i := 20; i < 40; i += 2 {
		sum += uint32(ip[i])<<8 | uint32(ip[i+1])
	}
	for sum>>16 != 0 {
		sum = sum&0xffff + sum>>16
	}
	if sum != 0xffff {
		t.Fatalf("checksum check sum: got %#x, want 0xffff", sum)
	}
}

// FuzzFixChecksum checks that fixChecksum never panics or writes outside the
// checksum field, and is idempotent.
func FuzzFixChecksum(f *testing.F) {
	f.Add(tcpFrame())
	f.Add([]byte{})
	f.Add(make([]byte, 14))
	short := tcpFrame()
	short[14+3] = 60 // total length beyond the frame
	f.Add(short)
	f.Fuzz(func(t *testing.T, b []byte) {
		once := append([]byte(nil), b...)
		fixChecksum(once)
		if len(once) != len(b) {
			t.Fatalf("length changed")
		}
		twice := append([]byte(nil), once...)
		fixChecksum(twice)
		if !bytes.Equal(once, twice) {
			t.Fatalf("not idempotent")
		}
	})
}
