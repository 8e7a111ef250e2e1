package frame

import "crypto/sha256"

// AuthBytes returns the bytes Sign authenticates, for tests that check the
// tag against crypto/hmac.
func AuthBytes(f *Frame) []byte {
	return appendAuthTail(appendAuthHead(nil, f), f)
}

// SignLegacy makes f a LegacyVersion frame signed with key, as a version 2
// sender signed it: Tag = HMAC-SHA256(key, auth || digest), digest being
// SHA-256 of the inline payload or SHA-256(u16 len(Ref) || Ref || u64 Size).
func SignLegacy(f *Frame, key []byte) {
	f.legacy = true
	if f.PayloadKind == PayloadInline {
		f.Digest = sha256.Sum256(f.Payload)
	} else {
		f.Digest = refDigest([]byte(f.Ref), f.Size)
	}
	s := signers.Get().(*signer)
	f.Tag = s.tag(f, key)
	s.put()
}
