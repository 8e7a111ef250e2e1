package server

import (
	"context"
	"sync"
)

// slots counts the activations the action runs at once, invoker /run
// requests and direct runs apart, and keeps the two together within the
// action's concurrency: a direct run starts only in a free slot, and only
// while no invoker request waits for one; an invoker request waits only
// for direct runs, never for the invoker's own activations, whose number
// OpenWhisk's invoker already keeps within the action's limit.
type slots struct {
	mu      sync.Mutex // guards the fields below
	direct  int        // direct runs holding a slot
	invoker int        // invoker requests holding a slot
	waiting int        // invoker requests waiting for a slot
	// freed is closed, and replaced, when a direct run gives its slot
	// back while an invoker request waits.
	freed chan struct{}
}

// tryDirect takes a slot for a direct run if fewer than max activations
// run and no invoker request waits. It never waits.
func (s *slots) tryDirect(max int) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.waiting > 0 || s.direct+s.invoker >= max {
		return false
	}
	s.direct++
	return true
}

// putDirect gives back a slot that tryDirect took.
func (s *slots) putDirect() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.direct--
	if s.waiting > 0 && s.freed != nil {
		close(s.freed)
		s.freed = nil
	}
}

// takeInvoker takes a slot for an invoker request, waiting while max
// activations run and some of them are direct runs (which end within
// their run's deadline), until ctx ends. max is read again after each
// wait.
func (s *slots) takeInvoker(ctx context.Context, max func() int) error {
	s.mu.Lock()
	for s.direct > 0 && s.direct+s.invoker >= max() {
		if s.freed == nil {
			s.freed = make(chan struct{})
		}
		freed := s.freed
		s.waiting++
		s.mu.Unlock()
		select {
		case <-freed:
		case <-ctx.Done():
			s.mu.Lock()
			s.waiting--
			s.mu.Unlock()
			return ctx.Err()
		}
		s.mu.Lock()
		s.waiting--
	}
	s.invoker++
	s.mu.Unlock()
	return nil
}

// putInvoker gives back a slot that takeInvoker took.
func (s *slots) putInvoker() {
	s.mu.Lock()
	s.invoker--
	s.mu.Unlock()
}

// counts returns the activations running, direct and invoker's, and the
// invoker requests waiting.
func (s *slots) counts() (direct, invoker, waiting int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.direct, s.invoker, s.waiting
}
