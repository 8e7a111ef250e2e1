package sandbox

// KafkaRetention reports what the sandbox's embedded broker holds: the
// bytes of its batches, and how many records it has cut since it started
// (kafka.go). ok is false for a sandbox on a real broker.
func KafkaRetention(s *Sandbox) (bytes, trimmed int64, ok bool) {
	if s.kafka == nil {
		return 0, 0, false
	}
	r := s.kafka.retention()
	return r.Bytes, r.Trimmed, true
}
