#!/usr/bin/env bash
# bench-ab.sh: an interleaved A/B of one Go benchmark between earlier commits and the
# working tree, in the same run, with the load average beside every round:
#
#   scripts/bench-ab.sh BASE[,BASE...] PKG BENCH [ROUNDS] [BENCHTIME]
#   scripts/bench-ab.sh aa1619e ./action-proxy/routetest/ DirectChain 8 2000x
#   scripts/bench-ab.sh 15b8167,4523301 ./action-proxy/routetest/ DirectChain 10 2000x
#
# It checks each BASE out into a temporary worktree, builds PKG's test binary there and
# here, then runs them in turns, ROUNDS times (default 8), each from its own checkout's
# package directory (tests that build helper binaries from the source tree build their
# own side's), with -test.benchtime BENCHTIME (default 1s). It prints the rounds, the load
# average before each round and after the last, and benchstat's comparison
# (golang.org/x/perf, pinned): with one BASE, "before" against "after" (the working tree);
# with several, each commit by name, then "after". Nothing is written in the repository.
set -euo pipefail

if [ $# -lt 3 ]; then
	sed -n '2,15p' "$0" >&2
	exit 2
fi
bases=$1 pkg=$2 bench=$3 rounds=${4:-8} benchtime=${5:-1s}
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
benchstat=golang.org/x/perf/cmd/benchstat@v0.0.0-20260908200009-22c9c6c9d4da

tmp=$(mktemp -d)
IFS=, read -r -a commits <<<"$bases"
cleanup() {
	for c in "${commits[@]}"; do
		git -C "$root" worktree remove --force "$tmp/wt-$c" >/dev/null 2>&1 || true
	done
	rm -rf "$tmp"
}
trap cleanup EXIT
# sides: name, checkout and test binary of each, the working tree last.
names=() dirs=()
for c in "${commits[@]}"; do
	git -C "$root" worktree add --detach "$tmp/wt-$c" "$c" >/dev/null
	names+=("$c") dirs+=("$tmp/wt-$c")
done
if [ ${#commits[@]} -eq 1 ]; then
	names=(before)
fi
names+=(after) dirs+=("$root")
for i in "${!names[@]}"; do
	(cd "${dirs[$i]}" && go test -c -o "$tmp/${names[$i]}.test" "$pkg")
done
dir=${pkg#./}
dir=${dir%/}

echo "# $bench in $pkg: ${bases//,/, } (before) against the working tree (after), $rounds rounds, -benchtime $benchtime"
echo "# load average (1, 5, 15 min) before each round and after the last:"
for r in $(seq "$rounds"); do
	echo "#   round $r: $(cut -d' ' -f1-3 /proc/loadavg)"
	for i in "${!names[@]}"; do
		(cd "${dirs[$i]}/$dir" && "$tmp/${names[$i]}.test" -test.run '^$' -test.bench "$bench" -test.benchtime "$benchtime") |
			grep '^Benchmark' >>"$tmp/${names[$i]}.txt"
	done
done
echo "#   after: $(cut -d' ' -f1-3 /proc/loadavg)"
args=()
for n in "${names[@]}"; do
	echo
	echo "## $n"
	cat "$tmp/$n.txt"
	args+=("$n=$tmp/$n.txt")
done
echo
echo "## benchstat ${names[*]}"
cd "$tmp" && go run "$benchstat" "${args[@]}"
