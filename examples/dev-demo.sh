#!/usr/bin/env bash
# The README's run command: starts `wsk-route dev` (the OpenWhisk-compatible
# sandbox, on its embedded defaults) and runs the textflow example through
# it end to end: three actions in three kinds (a native Go binary, Python,
# Go source), first as an OpenWhisk sequence (cold, then warm, with each
# step's activation record and logs), then composed as a wsk-route workflow
# with `wsk-route compose` and invoked through its entry action (direct hops
# between the warm containers), and the two timed against each other (whole
# calls, and per step with a call's fixed cost taken out; it says why its
# figures are lower than docs/benchmarks/sandbox.md's 4.6-5.1x). Then
# Ctrl-C's the sandbox, as a user would, and checks that it left no process
# behind.
#
# Usage: examples/dev-demo.sh     (from the repository root, or via `make demo`)
# Environment: PORT (default 3233), TEXT (the input), DEMO_CHART (the file the comparison
# is drawn into as an SVG chart; default ~/.cache/wsk-route/demo.svg, outside the
# checkout; scripts/bench-report.sh puts it beside its report).
set -euo pipefail

cd "$(dirname "$0")/.."
port="${PORT:-3233}"
DEMO_CHART="${DEMO_CHART:-${XDG_CACHE_HOME:-$HOME/.cache}/wsk-route/demo.svg}"
mkdir -p "$(dirname "$DEMO_CHART")"
work="$(mktemp -d)"
dev_pid=""
cleanup() {
	if [[ -n "$dev_pid" ]] && kill -0 "$dev_pid" 2>/dev/null; then kill -INT "$dev_pid"; wait "$dev_pid" || true; fi
	rm -rf "$work"
}
trap cleanup EXIT

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

step "building wsk-route and the native step (static, CGO_ENABLED=0)"
CGO_ENABLED=0 go build -trimpath -o "$work/wsk-route" ./cmd/wsk-route
CGO_ENABLED=0 go build -trimpath -o "$work/upper" ./examples/textflow/upper

step "starting: wsk-route dev --port $port --write-wskprops $work/wskprops"
"$work/wsk-route" dev --port "$port" --write-wskprops "$work/wskprops" >"$work/dev.out" 2>"$work/dev.err" &
dev_pid=$!
for _ in $(seq 1 300); do
	if [[ -s "$work/wskprops" ]]; then break; fi
	if ! kill -0 "$dev_pid" 2>/dev/null; then cat "$work/dev.out" "$work/dev.err"; echo "wsk-route dev exited" >&2; exit 1; fi
	sleep 0.1
done
cat "$work/dev.out"

step "deploying the three actions and the textflow-seq sequence, and invoking it (go run ./examples/textflow)"
go run ./examples/textflow -wskprops "$work/wskprops" -upper "$work/upper" ${TEXT:+-text "$TEXT"}

export WSK_CONFIG_FILE="$work/wskprops"
# --skip-actions: the actions are the three just deployed (textflow.yaml also
# declares them, with a Python upper, for `compose` on its own).
step "the same steps as a wsk-route workflow: wsk-route compose examples/textflow/textflow.yaml --skip-actions"
"$work/wsk-route" compose examples/textflow/textflow.yaml --skip-actions --dry-run
"$work/wsk-route" compose examples/textflow/textflow.yaml --skip-actions

step "wsk-route invoke textflow -p text ... -r --watch (the entry runs it: direct hops between the warm containers)"
"$work/wsk-route" invoke textflow -p text "${TEXT:-hello from wsk-route dev}" -r --watch

step "the sequence against the workflow, warm, on the same containers"
go run ./examples/textflow -wskprops "$work/wskprops" -mode compare -n 20 ${TEXT:+-text "$TEXT"} ${DEMO_CHART:+-chart "$DEMO_CHART"}

step "Ctrl-C: the sandbox stops and removes its containers, sockets and shm"
kill -INT "$dev_pid"
wait "$dev_pid"
dev_pid=""
tail -n 1 "$work/dev.out"
if pgrep -f "$work/wsk-route proxy" >/dev/null; then
	echo "proxy processes were left behind" >&2
	exit 1
fi
echo "no proxy process left"
