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
		lo, hi := checksumField(b)
		for i := range b {
			if (i < lo || i >= hi) && once[i] != b[i] {
				t.Fatalf("byte %d changed from %#x to %#x, outside the checksum field [%d, %d)", i, b[i], once[i], lo, hi)
			}
		}
		twice := append([]byte(nil), once...)
		fixChecksum(twice)
		if !bytes.Equal(once, twice) {
			t.Fatalf("not idempotent")
		}
	})
}

// checksumField returns the bounds [lo, hi) of the TCP or UDP checksum field
// of the IPv4 frame b: bytes 16-17 of a TCP header, 6-7 of a UDP one, after
// the 14-byte Ethernet header and the IP header of its IHL. It returns an
// empty range when b holds no such field.
func checksumField(b []byte) (lo, hi int) {
	if len(b) < 14+20 || b[12] != 0x08 || b[13] != 0x00 || b[14]>>4 != 4 {
		return 0, 0
	}
	var off int
	switch b[14+9] {
	case 6:
		off = 16
	case 17:
		off = 6
	default:
		return 0, 0
	}
	lo = 14 + int(b[14]&0x0f)*4 + off
	if lo+2 > len(b) {
		return 0, 0
	}
	return lo, lo + 2
}
