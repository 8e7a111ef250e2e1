package rdma

import "sync"

// closer lets calls run only while an object is open, and runs its teardown once,
// after the calls in progress have left. It keeps Close from freeing registered
// memory or a QP that a Read, Write or Accept is still using.
type closer struct {
	mu     sync.Mutex // guards closed
	closed bool
	active sync.WaitGroup
	once   sync.Once
}

// enter registers a call; it returns false once close has started. A true result
// must be paired with leave.
func (c *closer) enter() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return false
	}
	c.active.Add(1)
	return true
}

// leave ends a call registered by enter.
func (c *closer) leave() { c.active.Done() }

// close marks the object closed, runs wake (which must make calls in progress
// return), waits for them, then runs teardown. Only the first call does anything;
// later calls wait for it to finish.
func (c *closer) close(wake, teardown func()) {
	c.once.Do(func() {
		c.mu.Lock()
		c.closed = true
		c.mu.Unlock()
		wake()
		c.active.Wait()
		teardown()
	})
}
