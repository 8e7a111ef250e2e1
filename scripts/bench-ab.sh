#!/usr/bin/env bash
# bench-ab.sh: an interleaved A/B of one Go benchmark between an earlier commit and the
# working tree, in the same run, with the load average beside every round:
#
#   scripts/bench-ab.sh BASE PKG BENCH [ROUNDS] [BENCHTIME]
#   scripts/bench-ab.sh aa1619e ./action-proxy/routetest/ DirectChain 8 2000x
#
# It checks BASE out into a temporary worktree, builds PKG's test binary there and here,
# then runs them in turns, ROUNDS times (default 8), each from its own checkout's package
# directory (tests that build helper binaries from the source tree build their own side's),
# with -test.benchtime BENCHTIME (default 1s). It prints the rounds, the load average before
# each round and after the last, and benchstat's comparison (golang.org/x/perf, pinned).
# Nothing is written in the repository.
set -euo pipefail

if [ $# -lt 3 ]; then
	sed -n '2,13p' "$0" >&2
	exit 2
fi
base=$1 pkg=$2 bench=$3 rounds=${4:-8} benchtime=${5:-1s}
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
benchstat=golang.org/x/perf/cmd/benchstat@v0.0.0-20260908200009-22c9c6c9d4da

tmp=$(mktemp -d)
trap 'git -C "$root" worktree remove --force "$tmp/base" >/dev/null 2>&1 || true; rm -rf "$tmp"' EXIT
git -C "$root" worktree add --detach "$tmp/base" "$base" >/dev/null
(cd "$tmp/base" && go test -c -o "$tmp/a.test" "$pkg")
(cd "$root" && go test -c -o "$tmp/b.test" "$pkg")
dir=${pkg#./}
dir=${dir%/}

run() { # run SIDE CHECKOUT BINARY
	(cd "$2/$dir" && "$3" -test.run '^$' -test.bench "$bench" -test.benchtime "$benchtime") | grep '^Benchmark' >>"$tmp/$1.txt"
}
echo "# $bench in $pkg: $base (before) against the working tree (after), $rounds rounds, -benchtime $benchtime"
echo "# load average (1, 5, 15 min) before each round and after the last:"
for i in $(seq "$rounds"); do
	echo "#   round $i: $(cut -d' ' -f1-3 /proc/loadavg)"
	run before "$tmp/base" "$tmp/a.test"
	run after "$root" "$tmp/b.test"
done
echo "#   after: $(cut -d' ' -f1-3 /proc/loadavg)"
echo
echo "## before"
cat "$tmp/before.txt"
echo
echo "## after"
cat "$tmp/after.txt"
echo
echo "## benchstat before after"
go run "$benchstat" "$tmp/before.txt" "$tmp/after.txt"
