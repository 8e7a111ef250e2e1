// Package runtimes holds the action kinds the sandbox runs behind the
// wsk-route proxy (cmd/proxy) without runtime images: it writes each
// kind's files to a directory, detects the interpreters and toolchains of
// this host, and maps an action's exec kind to the environment the proxy
// must be started with (OW_COMPILER, OW_WAIT_FOR_ACK, OW_LOG_INIT_ERROR).
//
// The kinds:
//
//   - "python:3" (also "python:default" and any "python:3.N"): the
//     embedded Python runtime of action-proxy/runtimes/python, run by the
//     local python3 (3.8 or later), whose absolute path replaces the
//     compile script's "#!/usr/bin/env python3", so that the proxy's PATH
//     does not matter. Init errors go to the logs (OW_LOG_INIT_ERROR), as
//     in the stock Python images.
//   - "go:1.N" for the local toolchain's 1.N (also "go:default" and any
//     "go:1.2x"): Go source, a single file of package main defining
//     func Main(map[string]interface{}) map[string]interface{} (the
//     function is the action's main, capitalised; "main" means Main), or
//     a zip of such a package with or without go.mod. A generated compile
//     script adds a stdlib-only ActionLoop launcher and runs go build with
//     CGO_ENABLED=0, GOFLAGS=-mod=mod, GOTOOLCHAIN=local and the build
//     cache GoBuildCache() ($HOME/.cache/wsk-route/go-build by default),
//     kept across sandbox starts: only the first Go action a machine ever
//     builds compiles the standard library (10–20 s); later first calls
//     take about a second. The proxy gives a compiler only PATH and
//     the action's __OW_* variables, so the script carries the absolute
//     path of go and the module settings (GOPATH, GOMODCACHE, GOPROXY, ...)
//     of the environment Install ran in. Init errors, such as compile
//     errors, are answered in the /init response (no OW_LOG_INIT_ERROR),
//     so the user sees them in the activation's result.
//   - "blackbox" (and "native", OpenWhisk's blackbox with image
//     openwhisk/dockerskeleton): no compiler, the code is an executable
//     or a zip with one named exec (which the invoker has the proxy run
//     once per activation when the image is openwhisk/dockerskeleton).
//
// The caller's duties: call Install once per sandbox start (it rewrites the
// files, so a moved toolchain is picked up), keep the directory for the
// sandbox's lifetime, and start each proxy with Runtime.Env added to its
// environment, which must hold PATH.
package runtimes
