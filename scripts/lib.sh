# shellcheck shell=bash
# lib.sh: helpers shared by scripts/setup.sh, install-rdma.sh, install-consul.sh and prometheus.sh;
# source it, do not run it:
#
#   . "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
#
# The sourcing script sets, before it calls log, die or apt_install:
#   LOG_TAG   the name its log lines carry ("setup", "install-rdma")
#   LOG       the log file every line goes to (its directory must exist)
# and, for apt_install, defines missing_packages: print the Debian packages still missing
# (space-separated), nothing when none is.

# log MSG...: a timestamped line on stderr, appended to $LOG as well.
log() { printf '%s %s: %s\n' "$(date '+%H:%M:%S')" "$LOG_TAG" "$*" | tee -a "$LOG" >&2; }

# die MSG...: log "ERROR: MSG" and exit 1.
die() {
	log "ERROR: $*"
	exit 1
}

is_root() { [ "$(id -u)" = 0 ]; }
is_ci() { [ "${CI:-}" = true ]; }

# apt_install PKGS: install the Debian packages PKGS (one space-separated word) with apt-get,
# its output appended to $LOG, then die unless missing_packages reports nothing left.
# Not root: it logs the apt-get command to run and returns 1 (nothing installed), or exits 1
# when CI=true. A failed apt-get or a missing apt-get dies.
apt_install() {
	local pkgs="$1"
	if ! is_root; then
		log "missing Debian packages: $pkgs (not root, so not installing them;" \
			"run: sudo apt-get install $pkgs)"
		if is_ci; then exit 1; fi
		return 1
	fi
	command -v apt-get >/dev/null 2>&1 || die "missing $pkgs and no apt-get here: install them by hand"
	log "installing Debian packages: $pkgs (output in $LOG)"
	export DEBIAN_FRONTEND=noninteractive
	local apt=(apt-get -q -y -o DPkg::Lock::Timeout=300 -o Dpkg::Use-Pty=0)
	# shellcheck disable=SC2086 # word splitting of the package list is intended
	if ! { "${apt[@]}" update && "${apt[@]}" install --no-install-recommends $pkgs; } >>"$LOG" 2>&1; then
		tail -n 20 "$LOG" >&2
		die "apt-get install $pkgs failed (full output in $LOG)"
	fi
	local still
	still="$(missing_packages)"
	[ -z "$still" ] || die "still missing after apt-get install: $still"
}

# wait_go_build TAG PID BUILD_LOG EVERY: wait for the background build PID, whose output goes to
# BUILD_LOG in stages that each begin with a "==> " line (the compiling stage's line is "==> go
# build: compiling N packages", followed by go build -v's lines, one a package), and return its
# exit status. Every EVERY seconds it prints on stderr, tagged TAG, the time since SECONDS was
# last 0, the stage and, while compiling, how many packages are done and the last one.
wait_go_build() {
	local tag="$1" pid="$2" build_log="$3" every="$4"
	local next=$((SECONDS + every)) status=0
	while kill -0 "$pid" 2>/dev/null; do
		sleep 1
		if [ "$SECONDS" -ge "$next" ] && kill -0 "$pid" 2>/dev/null; then
			go_build_progress "$tag" "$build_log"
			next=$((next + every))
		fi
	done
	wait "$pid" || status=$?
	return "$status"
}

# go_build_progress TAG BUILD_LOG: wait_go_build's progress line.
go_build_progress() {
	local tag="$1" build_log="$2" stage done_pkgs last total
	local elapsed
	elapsed="$(printf '%dm%02ds' $((SECONDS / 60)) $((SECONDS % 60)))"
	stage="$(grep '^==> ' "$build_log" | tail -n 1 | cut -c5-)"
	case "$stage" in
		"go build: compiling "*)
			done_pkgs="$(sed -n '/^==> go build/,$p' "$build_log" | grep -vc '^==> ' || true)"
			last="$(tail -n 1 "$build_log")"
			total="${stage#go build: compiling }"
			printf '%s: %s: go build: %s of %s packages compiled (last: %s)\n' \
				"$tag" "$elapsed" "$done_pkgs" "${total% packages}" "$last" >&2
			;;
		*)
			printf '%s: %s: %s\n' "$tag" "$elapsed" "${stage:-starting}" >&2
			;;
	esac
}
