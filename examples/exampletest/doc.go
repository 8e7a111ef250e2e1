// Package exampletest is test support for the examples under examples/:
// it starts a `wsk-route dev` sandbox whose containers run a freshly built
// proxy, and deploys and runs an example on it exactly as a user would
// (`wsk-route compose`, which deploys the actions of the workflow file's
// actions section and then the workflow; runs with `wsk action invoke`'s
// REST call).
//
// It is imported only from _test.go files. The caller's duties: call
// Start once per test (it registers the sandbox's shutdown with
// t.Cleanup), run that test from the example's own directory (go test
// does), and do not mark it t.Parallel: Compose sets WSK_CONFIG_FILE with
// t.Setenv.
package exampletest
