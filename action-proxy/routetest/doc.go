// Package routetest holds the end-to-end tests of the route plane: real
// proxy processes running real actions, real host agents, a real Consul,
// and, for the cross-host cases, network namespaces. It has no code of its
// own outside its tests.
package routetest
