// Package proxytest runs the action proxy (action-proxy/server) behind
// httptest for black-box tests, as OpenWhisk's ActionContainer.withContainer
// runs a runtime image: it starts a Proxy with its stdout and stderr in temp
// files, POSTs /init and /run bodies while checking the transport rules every
// answer must obey, counts and strips the activation sentinels on each log
// stream (ActionContainer.checkStreams), and builds OpenWhisk's /init and /run
// payloads (ActionContainer.initPayload, runPayload, Exec.isBinaryCode).
//
// It is test support: import it only from _test.go files. It uses the
// standard library and the server package only.
package proxytest
