package frame

import (
	"crypto/hmac"
	"crypto/sha256"
	"hash"
	"sync"
)

// signer is the scratch state of one tag computation. Everything a hash
// sees through its interface lives here, so computing a tag does not
// allocate once the pool is warm.
type signer struct {
	h     hash.Hash // SHA-256
	buf   []byte    // auth bytes
	k     [sha256.BlockSize]byte
	pad   [sha256.BlockSize]byte
	inner [sha256.Size]byte
	outer [sha256.Size]byte
}

var signers = sync.Pool{New: func() any {
	return &signer{h: sha256.New(), buf: make([]byte, 0, 512)}
}}

// Sign sets f.Digest (SHA-256 of a non-empty inline payload, else zero)
// and f.Tag = HMAC-SHA256(key, auth), where auth is the encoded header
// without its length prefix, Seq and Tag (header bytes 4..11 and 20..H-32
// of the layout in the package doc). The header holds Digest, so the tag
// covers the payload through it; for shm and blob payloads it covers Ref
// and Size, not the referenced bytes: a segment is protected by the
// per-namespace shm directory it lives in, and a blob by the host agent
// that serves it; the tag proves only that the namespace's key holder
// pointed at it, with that size.
//
// Sign always makes a Version frame (a LegacyVersion frame becomes one).
// Seq is not covered, so a transport may renumber a signed frame. Sign on
// a frame that [AppendHeader] would refuse gives a tag of no meaning.
func (f *Frame) Sign(key []byte) {
	f.legacy = false
	f.Digest = [digestLen]byte{}
	if f.PayloadKind == PayloadInline && len(f.Payload) > 0 {
		f.Digest = sha256.Sum256(f.Payload)
	}
	s := signers.Get().(*signer)
	f.Tag = s.tag(f, key)
	s.put()
}

// Verify reports, in constant time, whether f.Tag is right for key. It
// looks at the header only: for a Version frame the tag covers Digest, and
// the decoders ([Decode], [Reader]) refuse a frame whose inline payload
// does not match its Digest, so a decoded frame that verifies is authentic
// payload included; and a [Reader] can verify a frame before reading its
// payload (NextHeader, Verify, ReadPayload). A LegacyVersion frame's tag is
// HMAC-SHA256(key, auth || Digest), Digest being the one its decoder set:
// it can only be verified once its payload is read. Verify does not hash
// f.Payload (but for an unsigned frame, whose Digest is zero: see
// AppendHeader), so a frame built in memory whose Payload changed after
// Sign still verifies; it would not decode.
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
	s.buf = appendAuthTail(appendAuthHead(s.buf[:0], f), f)
	if f.legacy {
		s.buf = append(s.buf, f.Digest[:]...)
	}

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
