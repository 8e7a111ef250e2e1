// Package testbed tests the ansible roles (ansible/) on a small
// OpenWhisk-like cluster on this machine: a controller host and two invoker
// hosts, docker containers of a Debian image built with debootstrap, each
// with its own address, filesystem, systemd and (invokers) docker engine,
// running the sandbox split over hosts (wsk-route dev controller / invoker).
// See scripts/testbed.sh and docs/deploy.md.
//
// It runs only with WSK_ROUTE_TESTBED=1, as root, with docker, debootstrap and
// ansible (scripts/setup.sh):
//
//	WSK_ROUTE_TESTBED=1 go test -v -timeout 30m ./ansible/testbed/
//
// WSK_ROUTE_TESTBED_KEEP=1 leaves the hosts running afterwards
// (scripts/testbed.sh down removes them).
package testbed
