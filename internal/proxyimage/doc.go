// Package proxyimage builds the action image that holds only the static
// action proxy, for the tests that run actions in docker and for the
// sandbox's --docker mode. There is no registry and no base image to pull:
// Import writes a root file system tarball (the proxy as /bin/proxy, empty
// /action and /tmp) and loads it with `docker import`, configured like
// action-proxy/docker/build-image.sh's image.
//
// The caller's duties: pass a statically linked proxy binary (the image
// holds nothing else to load a dynamic one with), choose a tag that does
// not collide with other images, bound the import with ctx, and remove the
// image (`docker image rm`) when done. The package is not linked by
// cmd/proxy.
package proxyimage
