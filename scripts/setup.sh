#!/usr/bin/env bash
# setup.sh: install and start everything the wsk-route tests need.
#
# Target: a Debian bookworm machine (or container) on which we are root.
#
#   scripts/setup.sh              install what is missing, start dockerd if no daemon answers
#   scripts/setup.sh --check      only check; exit 1 and say what is missing, change nothing
#   scripts/setup.sh --if-needed  check, and when something is missing say what it is and
#                                 what will be done about it, then do it (what `make test` runs)
#
# It is idempotent and cheap to re-run: apt is touched only when a tool is missing, and the
# docker daemon is started only when `docker info` gets no answer. Everything it does is
# logged to $HOME/.cache/wsk-route/setup.log (dockerd's own output to dockerd.log there).
#
# Not root and something missing: it prints what is missing and exits non-zero only when
# CI=true (a developer's machine may provide the tools some other way).
set -euo pipefail

# ---------------------------------------------------------------------------------------------
# Settings

: "${HOME:=$(getent passwd "$(id -u)" | cut -d: -f6)}"
CACHE_DIR="${WSK_ROUTE_CACHE:-$HOME/.cache/wsk-route}"
LOG="$CACHE_DIR/setup.log"
DOCKERD_LOG="$CACHE_DIR/dockerd.log"
DOCKER_WAIT_SECONDS="${DOCKER_WAIT_SECONDS:-90}" # bound on waiting for a daemon to answer

# Command -> Debian package that provides it. Keep this list to what tests and scripts use.
TOOLS=(
	"docker:docker.io"
	"dockerd:docker.io"
	"jq:jq"
	"zip:zip"
	"ip:iproute2"
	"tc:iproute2"
	"iptables:iptables"
	"python3:python3"
	"make:make"
	# cgo: `go test -race` (make test's race step) and the rdma-tagged build.
	"gcc:gcc"
	# The ansible roles (ansible/) and their test bed (ansible/testbed, scripts/testbed-image.sh).
	"ansible-playbook:ansible"
	"ansible-lint:ansible-lint"
	"debootstrap:debootstrap"
)

CHECK_ONLY=false IF_NEEDED=false
case "${1:-}" in
	--check) CHECK_ONLY=true ;;
	--if-needed) IF_NEEDED=true ;;
	"") ;;
	-h | --help)
		sed -n '2,16p' "$0" | sed 's/^# \{0,1\}//'
		exit 0
		;;
	*)
		echo "setup.sh: unknown argument '$1' (use --check, --if-needed or no argument)" >&2
		exit 2
		;;
esac

mkdir -p "$CACHE_DIR"

LOG_TAG=setup
# log, die, is_root, is_ci, apt_install
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

# ---------------------------------------------------------------------------------------------
# 1. Tools from Debian packages

missing_packages() {
	local entry cmd pkg out=()
	for entry in "${TOOLS[@]}"; do
		cmd="${entry%%:*}"
		pkg="${entry#*:}"
		if ! command -v "$cmd" >/dev/null 2>&1; then
			case " ${out[*]-} " in *" $pkg "*) ;; *) out+=("$pkg") ;; esac
		fi
	done
	echo "${out[*]-}"
}

check_go() {
	if ! command -v go >/dev/null 2>&1; then
		if [ -x /usr/local/go/bin/go ]; then
			log "go is at /usr/local/go/bin/go but not on PATH: export PATH=\$PATH:/usr/local/go/bin"
		else
			log "go is not installed: this module needs the Go toolchain named in go.mod" \
				"(Debian's golang package is too old; install it from go.dev)"
		fi
		return 1
	fi
}

# ---------------------------------------------------------------------------------------------
# 2. The docker daemon

docker_answers() { timeout 20 docker info >/dev/null 2>&1; }

dockerd_pid() {
	local pid
	[ -r /var/run/docker.pid ] || return 1
	pid="$(cat /var/run/docker.pid 2>/dev/null)" || return 1
	[ -n "$pid" ] && kill -0 "$pid" 2>/dev/null && echo "$pid"
}

# wait_for_docker PID: poll `docker info` until it answers, PID dies, or the bound passes.
wait_for_docker() {
	local pid="$1" deadline=$((SECONDS + DOCKER_WAIT_SECONDS))
	while [ "$SECONDS" -lt "$deadline" ]; do
		if docker_answers; then return 0; fi
		if [ -n "$pid" ] && ! kill -0 "$pid" 2>/dev/null && ! dockerd_pid >/dev/null; then return 1; fi
		sleep 0.5
	done
	return 1
}

# start_dockerd [ARGS...]: start dockerd in the background, detached from this shell.
start_dockerd() {
	log "starting dockerd${*:+ $*} (log: $DOCKERD_LOG)"
	printf '\n==== %s dockerd %s\n' "$(date -Is)" "$*" >>"$DOCKERD_LOG"
	setsid nohup dockerd "$@" >>"$DOCKERD_LOG" 2>&1 </dev/null &
	echo $!
}

ensure_docker() {
	if docker_answers; then return 0; fi
	if ! is_root; then
		log "no docker daemon answers 'docker info' and we are not root, so cannot start one" \
			"(start dockerd, or add this user to the docker group)"
		if is_ci; then exit 1; fi
		return 0
	fi
	local pid
	if pid="$(dockerd_pid)"; then
		log "dockerd (pid $pid) is running but not answering yet; waiting up to ${DOCKER_WAIT_SECONDS}s"
		wait_for_docker "$pid" && return 0
		die "dockerd (pid $pid) does not answer 'docker info'; see $DOCKERD_LOG"
	fi
	pid="$(start_dockerd)"
	if wait_for_docker "$pid"; then
		log "dockerd is up (pid $pid)"
		return 0
	fi
	# The usual reason a fresh dockerd dies in a nested container is the storage driver
	# (overlayfs on overlayfs). vfs is slow but works everywhere; try it once, unless the
	# operator chose a driver in daemon.json.
	if ! kill -0 "$pid" 2>/dev/null && ! grep -qs storage-driver /etc/docker/daemon.json; then
		log "dockerd exited; retrying once with --storage-driver=vfs"
		tail -n 5 "$DOCKERD_LOG" | tee -a "$LOG" >&2
		pid="$(start_dockerd --storage-driver=vfs)"
		if wait_for_docker "$pid"; then
			log "dockerd is up (pid $pid, storage driver vfs)"
			return 0
		fi
	fi
	tail -n 20 "$DOCKERD_LOG" >&2
	die "dockerd did not answer 'docker info' within ${DOCKER_WAIT_SECONDS}s; full log in $DOCKERD_LOG"
}

# ---------------------------------------------------------------------------------------------
# 3. Consul
#
# scripts/install-consul.sh builds a real Consul agent from its Go module and caches it
# under $CACHE_DIR/bin/consul-<version> (about ten minutes the first time, then instant).
# Nothing is exported: tests find the binary themselves (internal/testenv.ConsulBinary:
# $WSK_ROUTE_CONSUL, then that cache, then `consul` on PATH).

INSTALL_CONSUL="$(dirname "$0")/install-consul.sh"
# rdma-core headers for `go build -tags rdma` (internal/transport/rdma), from Debian.
INSTALL_RDMA="$(dirname "$0")/install-rdma.sh"

# consul_binary: print the path of a usable consul, the way internal/testenv looks for one.
consul_binary() {
	local bin
	for bin in "${WSK_ROUTE_CONSUL:-}" "$CACHE_DIR/bin/consul-${CONSUL_VERSION:-v1.20.6}"; do
		if [ -n "$bin" ] && [ -x "$bin" ]; then
			echo "$bin"
			return 0
		fi
	done
	command -v consul 2>/dev/null
}

setup_consul() {
	local bin
	if bin="$(consul_binary)"; then
		log "consul: $bin"
		return 0
	fi
	if ! check_go >/dev/null 2>&1; then
		log "consul is missing and there is no go toolchain to build it with"
		if is_ci; then exit 1; fi
		return 0
	fi
	log "consul is missing; building it with $INSTALL_CONSUL (about ten minutes, once)"
	bin="$("$INSTALL_CONSUL")" || die "consul build failed (log: $CACHE_DIR/consul-build.log)"
	log "consul: $bin"
}

# ---------------------------------------------------------------------------------------------

# todo WHAT: " (WHAT)" with --if-needed, where a check's line says what the install will do.
todo() { if $IF_NEEDED; then printf ' (%s)' "$1"; fi; }

# check: say on stderr what is missing, and return 1 if anything is.
check() {
	local missing ok=true
	missing="$(missing_packages)"
	[ -z "$missing" ] || {
		echo "setup: missing Debian packages: $missing$(todo "to install with apt-get")" >&2
		ok=false
	}
	check_go || ok=false
	if command -v docker >/dev/null 2>&1 && ! docker_answers; then
		echo "setup: no docker daemon answers 'docker info'$(todo "to start: dockerd, in the background")" >&2
		ok=false
	fi
	consul_binary >/dev/null || {
		if $IF_NEEDED; then
			echo "setup: missing consul (to build from its Go module with scripts/install-consul.sh: about ten minutes, once)" >&2
		else
			echo "setup: missing consul (scripts/install-consul.sh builds it)" >&2
		fi
		ok=false
	}
	bash "$INSTALL_RDMA" --check || ok=false
	$ok
}

main() {
	local missing
	if $CHECK_ONLY; then
		check && return 0
		echo "setup: run 'make setup' (scripts/setup.sh) to fix this" >&2
		return 1
	fi
	if $IF_NEEDED; then
		check && return 0
		echo "setup: installing what is missing now (scripts/setup.sh; log: $LOG)" >&2
	fi
	missing="$(missing_packages)"

	log "checking tools (cache and logs: $CACHE_DIR)"
	[ -z "$missing" ] || apt_install "$missing" || true # not root: logged what to run
	if ! check_go && is_ci; then exit 1; fi
	if command -v docker >/dev/null 2>&1; then ensure_docker; fi
	setup_consul
	bash "$INSTALL_RDMA"

	date -Is >"$CACHE_DIR/setup.ok"
	log "ready: $(go version 2>/dev/null || echo 'go: missing');" \
		"docker server $(timeout 20 docker version --format '{{.Server.Version}}' 2>/dev/null || echo 'not answering')"
}

main
