#!/usr/bin/env bash
# The proxy demo (`make proxy-demo`): one action through the wsk-route
# action proxy alone, exactly as OpenWhisk's invoker drives it: build the
# static proxy and the hello-go action, start the proxy as a runtime image
# does (OW_WAIT_FOR_ACK=1, OW_LOG_INIT_ERROR=1; no host agent, so no route
# plane: the stock proxy's behaviour), POST /init with the binary as
# base64, POST /run with a name and with none, and print the answers and
# the logs the invoker would collect (one sentinel per stream per /run).
# `make demo` is the other demo: a whole workflow through `wsk-route dev`
# (examples/dev-demo.sh).
#
# Usage: examples/demo.sh [NAME]      (from the repository root, or via `make proxy-demo`)
# Environment: PORT (default 18080).
set -euo pipefail

cd "$(dirname "$0")/.."
name="${1:-OpenWhisk}"
port="${PORT:-18080}"
work="$(mktemp -d)"
proxy_pid=""
cleanup() {
	if [[ -n "$proxy_pid" ]]; then kill "$proxy_pid" 2>/dev/null || true; wait "$proxy_pid" 2>/dev/null || true; fi
	rm -rf "$work"
}
trap cleanup EXIT

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

step "building the proxy and the hello-go action (static, CGO_ENABLED=0)"
CGO_ENABLED=0 go build -trimpath -o "$work/proxy" ./cmd/proxy
CGO_ENABLED=0 go build -trimpath -o "$work/exec" ./examples/hello-go
"$work/proxy" -version

step "starting the proxy on 127.0.0.1:$port, as a runtime image does (OW_WAIT_FOR_ACK=1)"
(cd "$work" && OW_WAIT_FOR_ACK=1 OW_LOG_INIT_ERROR=1 exec ./proxy -listen "127.0.0.1:$port" >"$work/stdout" 2>"$work/stderr") &
proxy_pid=$!

step "POST /init with the binary, base64-encoded, as the invoker sends it"
code="$(base64 -w0 "$work/exec")"
printf '{"value":{"name":"hello","main":"main","binary":true,"code":"%s","env":{"__OW_NAMESPACE":"guest"}}}' "$code" >"$work/init.json"
for _ in $(seq 1 100); do # the invoker retries /init until the proxy listens
	if curl -sS -o /dev/null "http://127.0.0.1:$port/" 2>/dev/null; then break; fi
	sleep 0.05
done
curl -sS -i -X POST -H 'Content-Type: application/json' --data-binary "@$work/init.json" "http://127.0.0.1:$port/init"

step "POST /run {\"name\":\"$name\"}"
curl -sS -i -X POST -H 'Content-Type: application/json' \
	--data "{\"value\":{\"name\":\"$name\"},\"namespace\":\"guest\",\"action_name\":\"/guest/hello\",\"activation_id\":\"a1\",\"deadline\":\"4102444800000\"}" \
	"http://127.0.0.1:$port/run"

step "POST /run {} (no name)"
curl -sS -i -X POST -H 'Content-Type: application/json' --data '{"value":{}}' "http://127.0.0.1:$port/run"

step "the action's logs, as the invoker collects them (one sentinel per stream per /run)"
echo "-- stdout:"; cat "$work/stdout"
echo "-- stderr:"; cat "$work/stderr"
