#!/usr/bin/env bash
# testbed-image.sh: build (once) the Debian image of the ansible test bed's hosts and print
# its tag. A Debian bookworm root filesystem made with debootstrap from Debian's mirror
# (minbase, plus systemd, python3 for ansible and docker.io for the invoker hosts' own
# docker engine), cached as a tarball under $WSK_ROUTE_CACHE (default
# $HOME/.cache/wsk-route)/testbed, and turned into an image with `docker import` (no
# registry: nothing is pulled).
#
#   scripts/testbed-image.sh          print the image tag (build the rootfs and image if needed)
#   scripts/testbed-image.sh --check  exit 1 if debootstrap or docker is missing
#
# The first build takes one or two minutes and about 250 MB of downloads; later ones
# only `docker import` the cached tarball when the image is gone.
set -euo pipefail

: "${HOME:=$(getent passwd "$(id -u)" | cut -d: -f6)}"
CACHE_DIR="${WSK_ROUTE_CACHE:-$HOME/.cache/wsk-route}/testbed"
MIRROR="${DEBIAN_MIRROR:-http://deb.debian.org/debian}"
SUITE=bookworm
PACKAGES=python3,systemd,systemd-sysv,dbus,docker.io,iproute2,procps,ca-certificates,logrotate
# The tag names the package list, so a changed list builds a new rootfs and image.
VERSION="$(printf '%s %s' "$SUITE" "$PACKAGES" | sha256sum | cut -c1-12)"
TARBALL="$CACHE_DIR/rootfs-$VERSION.tar"
IMAGE="wsk-route/testbed-host:$VERSION"

need() { command -v "$1" >/dev/null 2>&1 || {
	echo "testbed-image: $1 is missing (scripts/setup.sh installs it)" >&2
	return 1
}; }

if [ "${1:-}" = --check ]; then
	need debootstrap && need docker
	exit
fi

if docker image inspect "$IMAGE" >/dev/null 2>&1; then
	echo "$IMAGE"
	exit 0
fi
[ "$(id -u)" = 0 ] || {
	echo "testbed-image: debootstrap needs root" >&2
	exit 1
}
mkdir -p "$CACHE_DIR"
if [ ! -s "$TARBALL" ]; then
	need debootstrap
	work="$(mktemp -d "$CACHE_DIR/rootfs.XXXXXX")"
	trap 'rm -rf "$work"' EXIT
	echo "testbed-image: debootstrap $SUITE ($PACKAGES) from $MIRROR; log $CACHE_DIR/debootstrap.log" >&2
	debootstrap --variant=minbase --include="$PACKAGES" "$SUITE" "$work/rootfs" "$MIRROR" \
		>"$CACHE_DIR/debootstrap.log" 2>&1 || {
		tail -n 20 "$CACHE_DIR/debootstrap.log" >&2
		exit 1
	}
	# The hosts boot systemd in a container: no getty, no udev-dependent units.
	chroot "$work/rootfs" systemctl mask getty@tty1.service console-getty.service \
		systemd-udevd.service systemd-udev-trigger.service >/dev/null 2>&1 || true
	rm -rf "$work/rootfs/var/cache/apt/archives/"*.deb "$work/rootfs/var/lib/apt/lists/"*
	tar --numeric-owner -C "$work/rootfs" -cf "$TARBALL.tmp" .
	mv "$TARBALL.tmp" "$TARBALL"
fi
echo "testbed-image: docker import $TARBALL -> $IMAGE" >&2
docker import --change 'CMD ["/lib/systemd/systemd"]' \
	"$TARBALL" "$IMAGE" >/dev/null
echo "$IMAGE"
