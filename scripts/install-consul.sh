#!/usr/bin/env bash
# install-consul.sh: build a real Consul agent from its Go module, once, and cache it.
#
#   scripts/install-consul.sh            prints the path of the cached binary (builds it first if needed)
#
# Consul is not packaged for Debian bookworm and nothing can be downloaded but Go modules, so
# the binary is built from github.com/hashicorp/consul (pinned below) in a throwaway module.
# The build takes about ten minutes on two cores; the result is cached under
# $WSK_ROUTE_CACHE (default $HOME/.cache/wsk-route)/bin/consul-<version> and reused.
# While it builds, a line every 30 s (PROGRESS_SECONDS) on stderr says how long it has taken,
# what it is doing and, while compiling, how many packages are done.
# Its dependency consul-awsauth is missing from the checksum database, so GONOSUMDB is
# scoped to that one module.
set -euo pipefail

# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

CONSUL_VERSION="${CONSUL_VERSION:-v1.20.6}"
: "${HOME:=$(getent passwd "$(id -u)" | cut -d: -f6)}"
CACHE_DIR="${WSK_ROUTE_CACHE:-$HOME/.cache/wsk-route}"
BIN="$CACHE_DIR/bin/consul-$CONSUL_VERSION"

if [ -x "$BIN" ] && "$BIN" version >/dev/null 2>&1; then
	echo "$BIN"
	exit 0
fi

mkdir -p "$CACHE_DIR/bin"
work="$(mktemp -d)"
build_pid=""
cleanup() {
	if [ -n "$build_pid" ]; then kill -- "-$build_pid" 2>/dev/null || kill "$build_pid" 2>/dev/null || true; fi
	rm -rf "$work"
}
trap cleanup EXIT
BUILD_LOG="$CACHE_DIR/consul-build.log"
PROGRESS_SECONDS="${PROGRESS_SECONDS:-30}" # a progress line this often while it builds
echo "install-consul: building consul $CONSUL_VERSION from its Go module (about ten minutes on two cores, once; log: $BUILD_LOG)" >&2

# The build, in stages; each stage writes a "==> " line to the log, which the progress
# lines below name. go build -v logs each package as it is compiled, which they count.
(
	cd "$work"
	export GONOSUMDB=github.com/hashicorp/consul-awsauth GOFLAGS=-mod=mod CGO_ENABLED=0
	echo "==> go get github.com/hashicorp/consul@$CONSUL_VERSION: downloading its modules"
	go mod init consul-build
	go get "github.com/hashicorp/consul@$CONSUL_VERSION"
	echo "==> go build: compiling $(go list -deps github.com/hashicorp/consul | wc -l) packages"
	go build -v -trimpath -ldflags "-s -w" -o "$BIN.tmp" github.com/hashicorp/consul
	echo "==> done"
) >"$BUILD_LOG" 2>&1 &
build_pid=$!

SECONDS=0
status=0
wait_go_build install-consul "$build_pid" "$BUILD_LOG" "$PROGRESS_SECONDS" || status=$?
build_pid=""
if [ "$status" -ne 0 ]; then
	tail -n 30 "$BUILD_LOG" >&2
	echo "install-consul: build failed after ${SECONDS}s (exit $status); full log in $BUILD_LOG" >&2
	exit 1
fi
mv "$BIN.tmp" "$BIN"
printf 'install-consul: built consul in %dm%02ds\n' $((SECONDS / 60)) $((SECONDS % 60)) >&2
"$BIN" version >&2
echo "$BIN"
