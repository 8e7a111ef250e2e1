package frame

// AuthBytes returns the bytes Sign authenticates before the digest, for
// tests that check the tag against crypto/hmac.
func AuthBytes(f *Frame) []byte {
	return appendAuthTail(appendAuthHead(nil, f), f)
}
