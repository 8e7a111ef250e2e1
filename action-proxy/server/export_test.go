package server

// InvokerWaiting returns the number of invoker /run requests waiting for
// or holding the action in route mode (0 in stock mode).
func (p *Proxy) InvokerWaiting() int {
	if rs := p.routeOf(); rs != nil {
		return int(rs.invokerWaiting.Load())
	}
	return 0
}

// SlotCounts returns the direct runs and invoker requests holding a slot,
// and the invoker requests waiting for one.
func (p *Proxy) SlotCounts() (direct, invoker, waiting int) {
	if rs := p.routeOf(); rs != nil {
		return rs.slots.counts()
	}
	return 0, 0, 0
}
