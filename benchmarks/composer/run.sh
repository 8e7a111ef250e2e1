#!/usr/bin/env bash
# Measures openwhisk-composer compositions run by wsk-route (conducted by
# their entry, each action on a direct hop) beside the same actions as
# wsk-route YAML workflows and as an OpenWhisk sequence, through a fresh
# `wsk-route dev` sandbox, warm, in one run:
#
#   cif     composer: inc; if (p => p.x > 3, JavaScript) inc else inc; inc
#   yif     YAML:     the same, with the condition language
#   cseq    composer: inc; inc; inc
#   ychain  YAML:     inc; inc; inc
#   oseq    OpenWhisk sequence of inc, inc, inc
#
# Usage: benchmarks/composer/run.sh [ROUNDS]   (default 300)
set -euo pipefail
cd "$(dirname "$0")/../.."
rounds=${1:-300}
work=$(mktemp -d)
trap 'kill "${dev:-0}" 2>/dev/null; wait 2>/dev/null; rm -rf "$work"' EXIT
go build -o "$work/wsk-route" ./cmd/wsk-route
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
"$work/wsk-route" dev --port "$port" --write-wskprops "$work/wskprops" >"$work/dev.log" 2>&1 &
dev=$!
export WSK_CONFIG_FILE=$work/wskprops
for _ in $(seq 100); do [ -s "$work/wskprops" ] && break; sleep 0.1; done
. "$work/wskprops"
api() { curl -fsS -u "$AUTH" -H 'Content-Type: application/json' -X "$1" "$APIHOST/api/v1/namespaces/_/$2" -d "$3" >/dev/null; }
code=$(python3 -c 'import json,sys; print(json.dumps(open(sys.argv[1]).read()))' benchmarks/composer/workflows/inc.py)
api PUT 'actions/bench-inc?overwrite=true' "{\"exec\":{\"kind\":\"python:3\",\"code\":$code}}"
api PUT 'actions/oseq?overwrite=true' '{"exec":{"kind":"sequence","components":["/guest/bench-inc","/guest/bench-inc","/guest/bench-inc"]}}'
for f in cif.json cseq.json yif.yaml ychain.yaml; do
  "$work/wsk-route" compose "benchmarks/composer/workflows/$f" >/dev/null 2>&1
done
go run ./benchmarks/composer -wskprops "$work/wskprops" -n "$rounds" cif yif cseq ychain oseq
