package logmux

// MarkersWritten returns how many switches went through the pipe.
func (m *Mux) MarkersWritten() int {
	m.switchMu.Lock()
	defer m.switchMu.Unlock()
	return m.sent
}
