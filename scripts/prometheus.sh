#!/usr/bin/env bash
# prometheus.sh: build a real Prometheus server from its Go module, once, and cache it.
#
#   scripts/prometheus.sh            prints the path of the cached binary (builds it first if needed)
#
# Nothing can be downloaded here but Go modules and Debian packages, and Debian's prometheus
# package is far older than the server the dashboard is written for, so the binary is built
# from github.com/prometheus/prometheus/cmd/prometheus (pinned below; module v0.316.0 is
# Prometheus 3.16.0) in a throwaway module. It is built without its web UI (the UI's
# JavaScript needs npm; the HTTP API, /api/v1/..., is all we use) and with the build tag
# remove_all_sd, which leaves out the cloud service discoveries (static_configs still work),
# so it takes minutes rather than a quarter of an hour on two cores. The result is cached
# under $WSK_ROUTE_CACHE (default ${XDG_CACHE_HOME:-$HOME/.cache}/wsk-route)/bin/prometheus-<version>
# and reused. While it builds, a line every 30 s (PROGRESS_SECONDS) on stderr says how long it
# has taken, what it is doing and, while compiling, how many packages are done.
set -euo pipefail

# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

PROMETHEUS_MODULE_VERSION="${PROMETHEUS_MODULE_VERSION:-v0.316.0}"
PROMETHEUS_VERSION="${PROMETHEUS_VERSION:-3.16.0}" # what `prometheus --version` and buildinfo say
: "${HOME:=$(getent passwd "$(id -u)" | cut -d: -f6)}"
CACHE_DIR="${WSK_ROUTE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/wsk-route}"
BIN="$CACHE_DIR/bin/prometheus-$PROMETHEUS_VERSION"
PKG=github.com/prometheus/prometheus/cmd/prometheus

if [ -x "$BIN" ] && "$BIN" --version >/dev/null 2>&1; then
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
BUILD_LOG="$CACHE_DIR/prometheus-build.log"
PROGRESS_SECONDS="${PROGRESS_SECONDS:-30}" # a progress line this often while it builds
echo "prometheus.sh: building prometheus $PROMETHEUS_VERSION from its Go module (several minutes on two cores, once; log: $BUILD_LOG)" >&2

# The build, in stages; each stage writes a "==> " line to the log, which the progress
# lines below name. go build -v logs each package as it is compiled, which they count.
(
	cd "$work"
	export GOFLAGS=-mod=mod CGO_ENABLED=0
	tags=remove_all_sd
	echo "==> go get github.com/prometheus/prometheus@$PROMETHEUS_MODULE_VERSION: downloading its modules"
	go mod init prometheus-build
	go get "github.com/prometheus/prometheus@$PROMETHEUS_MODULE_VERSION"
	echo "==> go build: compiling $(go list -tags "$tags" -deps "$PKG" | wc -l) packages"
	go build -v -trimpath -tags "$tags" \
		-ldflags "-s -w -X github.com/prometheus/common/version.Version=$PROMETHEUS_VERSION -X github.com/prometheus/common/version.Branch=module-$PROMETHEUS_MODULE_VERSION" \
		-o "$BIN.tmp" "$PKG"
	echo "==> done"
) >"$BUILD_LOG" 2>&1 &
build_pid=$!

SECONDS=0
status=0
wait_go_build prometheus.sh "$build_pid" "$BUILD_LOG" "$PROGRESS_SECONDS" || status=$?
build_pid=""
if [ "$status" -ne 0 ]; then
	tail -n 30 "$BUILD_LOG" >&2
	echo "prometheus.sh: build failed after ${SECONDS}s (exit $status); full log in $BUILD_LOG" >&2
	exit 1
fi
mv "$BIN.tmp" "$BIN"
printf 'prometheus.sh: built prometheus in %dm%02ds\n' $((SECONDS / 60)) $((SECONDS % 60)) >&2
"$BIN" --version >&2
echo "$BIN"
