package route

import "time"

// runKey names one step execution of a run: a frame retried to the same
// instance has the same key and never runs the step twice.
type runKey struct {
	run    string
	step   string
	branch uint32
	outer  string // the slots of the regions around, slotsKey
}

// seenSet remembers accepted step frames until their deadline (plus a
// grace period) has passed. It is not safe for concurrent use and does no
// I/O: the caller passes the time.
type seenSet struct {
	m         map[runKey]time.Time // expiry
	nextPrune time.Time
}

// dedupeGrace keeps a key past its frame's deadline, for late retries.
const dedupeGrace = time.Minute

// dedupeDefault is how long a frame without deadline is remembered.
const dedupeDefault = 10 * time.Minute

// add records k and reports true, or reports false if k is already there.
func (s *seenSet) add(k runKey, deadline, now time.Time) bool {
	if s.m == nil {
		s.m = make(map[runKey]time.Time)
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
	exp := now.Add(dedupeDefault)
	if !deadline.IsZero() {
		exp = deadline.Add(dedupeGrace)
	}
	s.m[k] = exp
	return true
}

// remove forgets k (the frame was refused after all).
func (s *seenSet) remove(k runKey) { delete(s.m, k) }

// len returns the number of keys remembered.
func (s *seenSet) len() int { return len(s.m) }
