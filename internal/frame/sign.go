package frame

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"hash"
	"sync"
)

// signer is the scratch state of one tag computation. Everything a hash
// sees through its interface lives here, so computing a tag does not
// allocate once the pool is warm.
type signer struct {
	h       hash.Hash // SHA-256
	buf     []byte    // auth bytes, then the ref digest input
	k       [sha256.BlockSize]byte
	pad     [sha256.BlockSize]byte
	digest  [sha256.Size]byte
	inner   [sha256.Size]byte
	outer   [sha256.Size]byte
	scratch [2 + MaxRef + 8]byte
}

var signers = sync.Pool{New: func() any {
	return &signer{h: sha256.New(), buf: make([]byte, 0, 512)}
}}

// Sign sets f.Tag = HMAC-SHA256(key, auth || digest). auth is the encoded
// header without its length prefix, Seq and Tag (header bytes 4..11 and
// 20..H-32 of the layout in the package doc); digest is SHA-256(Payload) for
// an inline payload and, for shm and blob payloads, SHA-256(u16 len(Ref) ||
// Ref || u64 Size).
//
// So the tag does not cover the content of a shm segment or blob: a
// segment is protected by the per-namespace shm directory it lives in, and a
// blob by the host agent that serves it; the tag proves only that the
// namespace's key holder pointed at it, with that size. Seq is not covered,
// so a transport may renumber a signed frame. Sign on a frame that
// [AppendHeader] would refuse gives a tag of no meaning.
func (f *Frame) Sign(key []byte) {
	s := signers.Get().(*signer)
	f.Tag = s.tag(f, key)
	s.put()
}

// Verify reports, in constant time, whether f.Tag is right for key.
func (f *Frame) Verify(key []byte) bool {
	s := signers.Get().(*signer)
	want := s.tag(f, key)
	ok := hmac.Equal(want[:], f.Tag[:])
	s.put()
	return ok
}

// put clears key material and returns s to the pool.
func (s *signer) put() {
	clear(s.k[:])
	clear(s.pad[:])
	if cap(s.buf) > MaxHeader {
		s.buf = make([]byte, 0, 512)
	}
	signers.Put(s)
}

// tag computes HMAC-SHA256 (RFC 2104) by hand over s's buffers; a test
// checks it against crypto/hmac.
func (s *signer) tag(f *Frame, key []byte) [32]byte {
	if f.PayloadKind == PayloadInline {
		s.digest = sha256.Sum256(f.Payload)
	} else {
		b := binary.BigEndian.AppendUint16(s.scratch[:0], uint16(len(f.Ref)))
		b = append(b, f.Ref...) // spills to the heap only for a Ref over MaxRef
		b = binary.BigEndian.AppendUint64(b, f.Size)
		s.digest = sha256.Sum256(b)
	}
	s.buf = appendAuthTail(appendAuthHead(s.buf[:0], f), f)

	clear(s.k[:])
	if len(key) > sha256.BlockSize {
		sum := sha256.Sum256(key)
		copy(s.k[:], sum[:])
	} else {
		copy(s.k[:], key)
	}
	for i, b := range s.k {
		s.pad[i] = b ^ 0x36
	}
	s.h.Reset()
	s.h.Write(s.pad[:])
	s.h.Write(s.buf)
	s.h.Write(s.digest[:])
	s.h.Sum(s.inner[:0])
	for i, b := range s.k {
		s.pad[i] = b ^ 0x5c
	}
	s.h.Reset()
	s.h.Write(s.pad[:])
	s.h.Write(s.inner[:])
	s.h.Sum(s.outer[:0])
	return s.outer
}
