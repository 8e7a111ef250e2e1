#!/usr/bin/env bash
# install-rdma.sh: install the rdma-core headers and libraries that `go build -tags rdma` needs.
#
#   scripts/install-rdma.sh           install libibverbs-dev and librdmacm-dev if missing
#   scripts/install-rdma.sh --check   only check; exit 1 and say what is missing, change nothing
#
# Only internal/transport/rdma built with the `rdma` tag needs these (it uses rdma-core
# through cgo); the default build does not. Idempotent: apt is touched only when a package
# is missing, so re-running it when both are present is a no-op. Everything it does is
# logged to $HOME/.cache/wsk-route/install-rdma.log.
#
# Not root and something missing: it prints the apt-get command to run and exits non-zero
# only when CI=true (a developer's machine may provide the libraries some other way).
# Installing the packages does not create an RDMA device: the tests that need one skip
# (see internal/transport/rdma/doc.go).
set -euo pipefail

: "${HOME:=$(getent passwd "$(id -u)" | cut -d: -f6)}"
CACHE_DIR="${WSK_ROUTE_CACHE:-$HOME/.cache/wsk-route}"
LOG="$CACHE_DIR/install-rdma.log"

# Debian packages: headers for <infiniband/verbs.h> and <rdma/rdma_cma.h>, and the .so links.
PACKAGES=(libibverbs-dev librdmacm-dev)

CHECK_ONLY=false
case "${1:-}" in
	--check) CHECK_ONLY=true ;;
	"") ;;
	-h | --help)
		sed -n '2,15p' "$0" | sed 's/^# \{0,1\}//'
		exit 0
		;;
	*)
		echo "install-rdma.sh: unknown argument '$1' (use --check or no argument)" >&2
		exit 2
		;;
esac

mkdir -p "$CACHE_DIR"

LOG_TAG=install-rdma
# log, die, is_root, is_ci, apt_install
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

# installed PKG: true when dpkg reports PKG fully installed.
installed() {
	[ "$(dpkg-query -W -f '${db:Status-Status}' "$1" 2>/dev/null || true)" = installed ]
}

missing_packages() {
	local pkg out=()
	for pkg in "${PACKAGES[@]}"; do
		installed "$pkg" || out+=("$pkg")
	done
	echo "${out[*]-}"
}

main() {
	command -v dpkg-query >/dev/null 2>&1 ||
		die "no dpkg-query here (not Debian?): install rdma-core's libibverbs and librdmacm headers by hand"

	local missing
	missing="$(missing_packages)"
	if [ -z "$missing" ]; then
		$CHECK_ONLY || log "present: ${PACKAGES[*]} (nothing to do)"
		return 0
	fi
	if $CHECK_ONLY; then
		echo "install-rdma: missing Debian packages: $missing (run scripts/install-rdma.sh)" >&2
		return 1
	fi
	apt_install "$missing" || return 0 # not root: logged what to run
	log "installed: $missing"
}

main
