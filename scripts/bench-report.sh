#!/usr/bin/env bash
# bench-report.sh: issue 12's measurements in one run, into one folder of docs/benchmarks:
#
#   scripts/bench-report.sh [OUTDIR] [BASE]
#
#   1. the hop between two processes against raw unix / TCP ping-pongs of the same shape
#      (benchmarks/hop TestProcessReport, as root for the cross-host and relayed rows):
#      hop-processes.md and its chart, hop-processes.svg;
#   2. the direct step (BenchmarkDirectChain, real proxy processes, 1 and 4 steps), 6 rounds
#      of 2000 runs; with BASE (a commit), interleaved against it (scripts/bench-ab.sh);
#   3. the workflow against the same actions as an OpenWhisk sequence through `wsk-route dev`
#      (make demo's comparison: whole calls, and per step with a call's fixed cost out).
#
# OUTDIR defaults to docs/benchmarks/report-<date>; report.md there says what ran, when, on
# what, with the load average before and after each part. Run it on an otherwise idle machine:
# the figures are ratios against baselines measured in the same run, but wake-ups dominate
# on small VMs and other work changes them.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
out=${1:-docs/benchmarks/report-$(date -u +%F)}
base=${2:-}
mkdir -p "$out"
outabs=$(cd "$out" && pwd)
benchstat=golang.org/x/perf/cmd/benchstat@v0.0.0-20260908200009-22c9c6c9d4da
load() { cut -d' ' -f1-3 /proc/loadavg; }
md="$out/report.md"
{
	echo "# Issue 12 measurements, $(date -u '+%F %H:%M UTC')"
	echo
	echo "Command: \`scripts/bench-report.sh $out${base:+ $base}\` at $(git rev-parse --short HEAD)$(git diff --quiet || echo ' (with uncommitted changes)')."
	echo "Machine: $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(awk '/MemTotal/ {printf "%.1f GiB", $2/1048576}' /proc/meminfo), Linux $(uname -r), $(go version | cut -d' ' -f3)."
	echo
} >"$md"

echo "== 1. hop between two processes (about 2 minutes)" >&2
l0=$(load)
WSK_ROUTE_BENCH=1 WSK_ROUTE_BENCH_OUT="$outabs/hop-processes.md" \
	go test -count=1 -timeout 30m -run '^TestProcessReport$' ./benchmarks/hop/ >"$out/hop-processes.log" 2>&1
{
	echo "## 1. The hop between two processes"
	echo
	echo "Load $l0 → $(load). Full table: [hop-processes.md](hop-processes.md); chart (p50, log scale):"
	echo
	echo "![hop p50 against raw](hop-processes.svg)"
	echo
	# The first table (the production paths; the diagnostics come in a table of their own).
	awk '/^\| path \| size \| n /{n++} n==1 && /^\| (same-host|loopback|cross-host|relayed)/' "$out/hop-processes.md" |
		awk -F'|' 'BEGIN {print "| path | size | hop p50 | baseline p50 | p50 ratio | p99 ratio |"; print "|---|---|---|---|---|---|"}
			{printf "|%s|%s|%s|%s|%s|%s|\n", $2, $3, $5, $8, $10, $11}'
	echo
} >>"$md"

echo "== 2. the direct step (BenchmarkDirectChain)" >&2
l0=$(load)
if [ -n "$base" ]; then
	bash scripts/bench-ab.sh "$base" ./action-proxy/routetest/ DirectChain 6 2000x >"$out/directchain.txt" 2>&1
else
	go test -count=6 -run '^$' -bench DirectChain -benchtime 2000x ./action-proxy/routetest/ >"$out/directchain.txt" 2>&1
	go run "$benchstat" "$out/directchain.txt" >"$out/directchain-stat.txt" 2>&1 || true
fi
{
	echo "## 2. The direct step"
	echo
	echo "\`BenchmarkDirectChain\`: an entry in the test process and proxies with a real action each, as processes, on one host; 1 and 4 steps; 6 rounds of 2000 runs${base:+, interleaved with $base}. Load $l0 → $(load). Raw rounds: [directchain.txt](directchain.txt)."
	echo
	echo '```'
	# bench-ab.sh ends with benchstat's comparison, after its heading.
	if [ -n "$base" ]; then sed -n '/^## benchstat/,$p' "$out/directchain.txt" | sed '1d;/^go: downloading/d'; else cat "$out/directchain-stat.txt"; fi
	echo '```'
	echo
} >>"$md"

echo "== 3. workflow against sequence through wsk-route dev (make demo)" >&2
l0=$(load)
PORT=${PORT:-3299} DEMO_CHART="$outabs/demo.svg" bash examples/dev-demo.sh >"$out/demo.log" 2>&1
{
	echo "## 3. Workflow against sequence through \`wsk-route dev\`"
	echo
	echo "\`make demo\`'s comparison (textflow: 3 steps, warm, same containers). Load $l0 → $(load). Full output: [demo.log](demo.log)."
	echo
	echo "![sequence against workflow](demo.svg)"
	echo
	echo '```'
	sed -n '/the sequence against the workflow/,/Ctrl-C/p' "$out/demo.log" | sed '1d;$d' | sed 's/\x1b\[[0-9;]*m//g' | grep -v '^chart: '
	echo '```'
} >>"$md"
# No machine paths in what goes into the repository: the checkout and temporary directories.
for f in "$out"/*; do
	sed -i -E "s#$root#.#g; s#/tmp/(tmp\.[A-Za-z0-9]+|wsk-route-[a-z-]+[0-9]+)#\$TMPDIR#g; s#/root/#~/#g" "$f"
done
echo "wrote $md" >&2
