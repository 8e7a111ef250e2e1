package flow

import "time"

// Seen remembers accepted step frames until their deadline (plus a grace
// period) has passed, so that a frame retried to the same instance never
// runs the step twice. The zero Seen is ready to use; the caller passes
// the time.
type Seen struct {
	m         map[Key]time.Time // expiry
	nextPrune time.Time
}

// SeenGrace keeps a key past its frame's deadline, for late retries.
const SeenGrace = time.Minute

// SeenDefault is how long a frame without deadline is remembered.
const SeenDefault = 10 * time.Minute

// Add records k, accepted at now for a run with deadline (zero: none),
// and reports true, or reports false if k is already there.
func (s *Seen) Add(k Key, deadline, now time.Time) bool {
	if s.m == nil {
		s.m = make(map[Key]time.Time)
	}
	if now.After(s.nextPrune) {
		for key, exp := range s.m {
			if now.After(exp) {
				delete(s.m, key)
			}
		}
		s.nextPrune = now.Add(time.Second)
	}
	if exp, ok := s.m[k]; ok && !now.After(exp) {
		return false
	}
	exp := now.Add(SeenDefault)
	if !deadline.IsZero() {
		exp = deadline.Add(SeenGrace)
	}
	s.m[k] = exp
	return true
}

// Remove forgets k: the frame will not run here after all, so the same
// frame, sent again, is not a duplicate.
func (s *Seen) Remove(k Key) { delete(s.m, k) }

// Len returns the number of keys remembered.
func (s *Seen) Len() int { return len(s.m) }
