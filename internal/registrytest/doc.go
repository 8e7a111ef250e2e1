// Package registrytest checks any implementation of the route registry
// (the agent.Registry of invoker-plugin/agent plus PutSpec, GetSpec,
// DeleteSpec and ListSpecs) against the contract its implementations
// share: internal/consulstore's Store and the sandbox's embedded
// cmd/wsk-route/sandbox/registry.
//
// It is test support: import it only from _test.go files. The caller's
// duties: pass Run an open function that returns a fresh, empty registry
// for every call (a Consul-backed one on a KV prefix and service of its
// own), released through t.Cleanup; and keep the tests that only one
// implementation promises (TTL expiry through the Consul agent, the
// embedded registry's fake clock, key files) in its own test files.
package registrytest
