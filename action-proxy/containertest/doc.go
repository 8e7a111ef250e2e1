// Package containertest holds no code: its tests run the proxy (./cmd/proxy) as /bin/proxy
// inside a real docker container, the way an OpenWhisk invoker does, and check the wire
// contract from outside: /init and /run over the container's bridge IP, the log sentinels
// in `docker logs`, and what happens on docker pause, unpause and kill and when the action
// process dies.
//
// The image is built without a registry: the test builds the proxy with CGO_ENABLED=0,
// writes a rootfs tarball holding it and loads that with `docker import`. The action is
// testdata/echo, a static Go program that speaks the ActionLoop protocol with the
// standard library only, sent to /init base64-encoded with "binary":true, as the invoker
// sends a native action.
//
// The tests skip when `docker info` fails, unless CI=true, where they fail instead.
// Every container and image they make is removed when they end, also on failure; the
// containers carry the label wsk-route.test=containertest, so leftovers of a killed run
// can be found with `docker ps -a --filter label=wsk-route.test=containertest`.
package containertest
