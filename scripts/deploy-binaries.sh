#!/usr/bin/env bash
# deploy-binaries.sh: build the static binaries the ansible roles ship to the hosts, into
# one directory (the roles' wsk_route_bin_dir), and print it.
#
#   scripts/deploy-binaries.sh [DIR]     DIR defaults to $WSK_ROUTE_BIN_DIR, else
#                                        $HOME/.cache/wsk-route/deploy/bin
#
# It writes wsk-route-agent (the host agent), proxy (the action proxy that replaces
# /bin/proxy in the runtime images), wsk-route (the CLI) and consul (the project's own
# build, scripts/install-consul.sh; about ten minutes the first time), each with
# CGO_ENABLED=0, and VERSION (git describe of the checkout).
set -euo pipefail

: "${HOME:=$(getent passwd "$(id -u)" | cut -d: -f6)}"
DIR="${1:-${WSK_ROUTE_BIN_DIR:-$HOME/.cache/wsk-route/deploy/bin}}"
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
GO="${GO:-go}"
mkdir -p "$DIR"
version="$(git -C "$repo" describe --always --dirty 2>/dev/null || echo unknown)"
(
	cd "$repo"
	export CGO_ENABLED=0
	for pair in wsk-route-agent:./cmd/wsk-route-agent proxy:./cmd/proxy wsk-route:./cmd/wsk-route; do
		"$GO" build -trimpath -ldflags '-s -w' -o "$DIR/${pair%%:*}.tmp" "${pair#*:}"
		mv "$DIR/${pair%%:*}.tmp" "$DIR/${pair%%:*}"
	done
)
consul="$("$repo/scripts/install-consul.sh")"
cmp -s "$consul" "$DIR/consul" 2>/dev/null || cp "$consul" "$DIR/consul"
echo "$version" >"$DIR/VERSION"
echo "$DIR"
