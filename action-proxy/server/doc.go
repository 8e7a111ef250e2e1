// Package server is the HTTP face of the wsk-route action proxy: the
// POST /init and POST /run handler that OpenWhisk's invoker talks to on port
// 8080, answering byte for byte as the stock ActionLoop proxy of
// openwhisk-runtime-go does (see docs/proxy.md for the differences, all of
// them on error paths the stock proxy gets wrong).
//
// # Usage
//
// Build a Config (FromEnv reads the stock OW_* variables), create a Proxy
// with New and serve it on :8080. Call Close on shutdown to kill the
// action's processes. The caller owns the listener and the http.Server.
//
// # What it does
//
// /init decodes the action (plain source or executable, zip, tar.gz; base64
// when "binary"), builds it into BaseDir/<n>/bin with the runtime's
// compiler when needed, checks bin/exec.env, and starts bin/exec, waiting
// for its ack. /run streams the activation to the child and answers its
// result line; after every exchange with the child it writes one log
// sentinel on stdout and one on stderr. Every response carries
// Content-Length, and no ordinary error is ever answered with 503, which
// the invoker reads as "container shutting down".
package server
