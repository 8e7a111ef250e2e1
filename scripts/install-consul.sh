#!/usr/bin/env bash
# install-consul.sh: build a real Consul agent from its Go module, once, and cache it.
#
#   scripts/install-consul.sh            prints the path of the cached binary (builds it first if needed)
#
# Consul is not packaged for Debian bookworm and nothing can be downloaded but Go modules, so
# the binary is built from github.com/hashicorp/consul (pinned below) in a throwaway module.
# The build takes about ten minutes on two cores; the result is cached under
# $WSK_ROUTE_CACHE (default $HOME/.cache/wsk-route)/bin/consul-<version> and reused.
# Its dependency consul-awsauth is missing from the checksum database, so GONOSUMDB is
# scoped to that one module.
set -euo pipefail

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
trap 'rm -rf "$work"' EXIT
echo "install-consul: building consul $CONSUL_VERSION (about ten minutes; log: $CACHE_DIR/consul-build.log)" >&2
(
	cd "$work"
	export GONOSUMDB=github.com/hashicorp/consul-awsauth GOFLAGS=-mod=mod CGO_ENABLED=0
	go mod init consul-build
	go get "github.com/hashicorp/consul@$CONSUL_VERSION"
	go build -trimpath -ldflags "-s -w" -o "$BIN.tmp" github.com/hashicorp/consul
) >"$CACHE_DIR/consul-build.log" 2>&1 || {
	tail -n 30 "$CACHE_DIR/consul-build.log" >&2
	echo "install-consul: build failed; full log in $CACHE_DIR/consul-build.log" >&2
	exit 1
}
mv "$BIN.tmp" "$BIN"
"$BIN" version >&2
echo "$BIN"
