// Package testenv holds test-only helpers that run real dependencies for
// wsk-route's tests: a Consul dev agent (StartConsul, SharedConsul), docker
// (RequireDocker, Docker, ImportProxyImage: an image of the static proxy
// made with docker import, no registry), and the rule that a test whose
// environment is missing skips with a clear message, but fails when
// CI=true (Skip, RequireOrSkip). Also: static test binaries built from a
// TestMain (BuildStatic), an in-process Kafka-protocol broker (Kafka,
// franz-go's kfake), and a buffer safe for concurrent writers (SyncBuffer).
// Network-namespace hosts are in the netns subpackage. It is imported only
// from _test.go files.
//
// # Consul
//
// ConsulBinary finds the agent: $WSK_ROUTE_CONSUL, else the binary that
// scripts/install-consul.sh builds and caches under $WSK_ROUTE_CACHE
// (default $HOME/.cache/wsk-route)/bin/consul-v1.20.6, else `consul` on PATH.
//
// StartConsul starts a private `consul agent -dev` for one test, on free
// ports, and stops it at the test's cleanup:
//
//	c := testenv.StartConsul(t, testenv.ConsulOptions{})
//	store, err := consulstore.New(consulstore.Options{Address: c.Addr})
//
// SharedConsul starts one agent per test binary, for packages whose tests
// can share one (giving each test its own KV prefix or service name). It
// needs the package's TestMain to call Main, which stops the agent when the
// tests are done:
//
//	func TestMain(m *testing.M) { testenv.Main(m) }
//
//	func TestX(t *testing.T) {
//		c := testenv.SharedConsul(t)
//		...
//	}
//
// A TestMain that must check something after the agent is stopped (the
// goroutine-leak check) runs the tests through M, which is Main without
// the exit:
//
//	func TestMain(m *testing.M) { leakcheck.VerifyTestMain(testenv.M(m)) }
//
// The caller's duties:
//
//   - call these only from tests;
//   - not rely on an agent outliving its test (StartConsul) or the test
//     binary (SharedConsul);
//   - keep the agent's data apart from other tests' when sharing one.
package testenv
