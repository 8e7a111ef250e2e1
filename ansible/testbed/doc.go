// Package testbed tests the ansible roles (ansible/) on a small
// OpenWhisk-like cluster on this machine: a controller host and two invoker
// hosts, docker containers of a Debian image built with debootstrap, each
// with its own address, filesystem, systemd and (invokers) docker engine,
// running the sandbox split over hosts (wsk-route dev controller / invoker).
// See scripts/testbed.sh and docs/deploy.md.
//
// TestPlaybooksLint runs in every test run. TestTestbed deploys, runs a
// workflow with direct hops, upgrades and switches the agents to containers
// with runs in flight, and cleans. It runs under CI=true (as part of
// `make test`) or with WSK_ROUTE_TESTBED=1, and skips otherwise; it needs
// root, docker, debootstrap and ansible (scripts/setup.sh), and without them
// it skips, or fails under CI=true:
//
//	WSK_ROUTE_TESTBED=1 go test -count=1 -v -timeout 30m -run 'TestTestbed$' ./ansible/testbed/
//
// What it builds is cached under $WSK_ROUTE_CACHE (default
// $HOME/.cache/wsk-route): the hosts' root filesystem and image
// (scripts/testbed-image.sh) and the binaries the roles ship.
// WSK_ROUTE_TESTBED_KEEP=1 leaves the hosts running afterwards
// (scripts/testbed.sh down removes them).
package testbed
