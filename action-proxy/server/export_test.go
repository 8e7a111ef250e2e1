package server

// InvokerWaiting returns the number of invoker /run requests waiting for
// or holding the action in route mode (0 in stock mode).
func (p *Proxy) InvokerWaiting() int {
	if rs := p.routeOf(); rs != nil {
		return int(rs.invokerWaiting.Load())
	}
	return 0
}
