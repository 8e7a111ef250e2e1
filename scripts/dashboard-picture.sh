#!/usr/bin/env bash
# dashboard-picture.sh: the picture of the Grafana dashboard in docs/observability.md, from a
# real run: docs/observability/wsk-route-dashboard.json's queries, evaluated by a real
# Prometheus over a real run of `wsk-route dev`, drawn as SVG by scripts/dashboard-picture
# (Grafana itself cannot run here: no container registry, no npm).
#
#   scripts/dashboard-picture.sh        (from anywhere; about RUN_SECONDS + 1 min, plus the
#                                        Prometheus build of scripts/prometheus.sh the first time)
#
# It builds wsk-route and the renderer, starts `wsk-route dev` and a Prometheus (built once
# by scripts/prometheus.sh) that scrapes, every SCRAPE seconds, the sandbox's user-events
# metrics (the API's /metrics: openwhisk_action_*) and its agent's /metrics (wsk_route_*,
# served with --metrics-listen); composes four example workflows
# (textflow, finra, socialnet, and the openwhisk-composer collatz) and runs them from CLIENTS
# client loops for RUN_SECONDS: mostly successes, every 10th finra and socialnet run with an
# input that fails a step, collatz with inputs whose odd numbers make its halve step fail
# (caught by the workflow), and socialnet in bursts, a minute on and a minute off, idle long
# enough (IDLE_TIMEOUT) for its containers to go, so that it starts cold again. Then it draws
# the picture, prints a line per panel (its series, or "No data"), and stops everything it
# started.
#
# Environment: WSK_ROUTE (a wsk-route binary to run; default: one built from this checkout),
# RUN_SECONDS (300), CLIENTS (2), SCRAPE (2, seconds), IDLE_TIMEOUT (40s), USER_MEMORY (8192, MB:
# the sandbox's memory for containers; at its default, 2048, the 14 actions and 4 entries do not
# fit, and its invoker keeps evicting warm containers, so that most hops fall back),
# PORT (3233, the sandbox's API), PROM_PORT (9090), AGENT_METRICS_PORT (9464),
# OUT (docs/observability/dashboard.svg), PROM_DATA (a directory to keep Prometheus'
# data in, to draw again later with go run ./scripts/dashboard-picture; default: a
# temporary one, removed).
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
RUN_SECONDS="${RUN_SECONDS:-300}"
CLIENTS="${CLIENTS:-2}"
SCRAPE="${SCRAPE:-2}"
IDLE_TIMEOUT="${IDLE_TIMEOUT:-40s}"
USER_MEMORY="${USER_MEMORY:-8192}"
PORT="${PORT:-3233}"
PROM_PORT="${PROM_PORT:-9090}"
AGENT_METRICS_PORT="${AGENT_METRICS_PORT:-9464}"
OUT="${OUT:-docs/observability/dashboard.svg}"

say() { printf '%s dashboard-picture: %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() {
	say "ERROR: $*"
	exit 1
}

work=""
dev_pid="" prom_pid="" client_pids=()
cleanup() {
	local pid
	for pid in "${client_pids[@]}"; do kill "$pid" 2>/dev/null || true; done
	for pid in "${client_pids[@]}"; do wait "$pid" 2>/dev/null || true; done
	if [[ -n "$prom_pid" ]] && kill -0 "$prom_pid" 2>/dev/null; then
		kill -TERM "$prom_pid"
		wait "$prom_pid" || true
	fi
	if [[ -n "$dev_pid" ]] && kill -0 "$dev_pid" 2>/dev/null; then
		kill -INT "$dev_pid"
		wait "$dev_pid" || true
	fi
	[[ -n "$work" ]] || return 0
	if pgrep -f "$work/wsk-route proxy" >/dev/null; then
		say "proxy processes were left behind: $(pgrep -f "$work/wsk-route proxy" | tr '\n' ' ')"
	fi
	rm -rf "$work"
}

port_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# wait_http URL SECONDS: until URL answers 200.
wait_http() {
	local deadline=$((SECONDS + $2))
	until curl -fsS -o /dev/null "$1" 2>/dev/null; do
		[[ $SECONDS -lt $deadline ]] || die "$1 did not answer within $2 s"
		sleep 0.2
	done
}

# invoke NAME JSON: one blocking run through the workflow's entry; prints the HTTP code.
invoke() {
	curl -s -o /dev/null -w '%{http_code}\n' -u "$auth" -X POST -H 'Content-Type: application/json' \
		--max-time 70 "$api/api/v1/namespaces/_/actions/$1?blocking=true&result=true" -d "$2" || echo 000
}

# client N: runs the mix until RUN_SECONDS have passed since $from; one line per run:
# "<workflow> <http code>".
client() {
	local n="$1" i=0 end=$((from + RUN_SECONDS)) now trade post
	trade="$(cat examples/finra/trade.json)"
	post="$(cat examples/socialnet/post.json)"
	local collatz=(6 7 27 9 12 97)
	while now="$(date +%s)" && [[ $now -lt $end ]]; do
		i=$((i + 1))
		echo "textflow $(invoke textflow "{\"text\":\"client $n run $i: hello from the dashboard picture\"}")"
		if ((i % 10 == 5)); then
			echo "finra-bad $(invoke finra '{"trade":{"id":"T-0","qty":1}}')" # no symbol: marketdata fails
		else
			echo "finra $(invoke finra "$trade")"
		fi
		echo "collatz $(invoke collatz "{\"n\":${collatz[$((i % ${#collatz[@]}))]}}")"
		if ((((now - from) / 60) % 2 == 0)); then # socialnet: a minute on, a minute off
			if ((i % 10 == 7)); then
				echo "socialnet-bad $(invoke socialnet '{"post":{"user":"eve","text":""}}')" # no text: sn-text fails
			else
				echo "socialnet $(invoke socialnet "$post")"
			fi
		fi
		sleep 0.2
	done
}

# The whole run is in a function, so that bash has read all of it before it starts: editing
# this file during a run does not change the run.
main() {
	cd "$repo"
	trap cleanup EXIT
	trap 'exit 130' INT TERM
	work="$(mktemp -d)"
	PROM_DATA="${PROM_DATA:-$work/prometheus-data}"
	local p
	for p in "$PORT" "$PROM_PORT" "$AGENT_METRICS_PORT"; do
		port_free "$p" || die "127.0.0.1:$p is taken (set PORT, PROM_PORT or AGENT_METRICS_PORT)"
	done

	local prometheus
	prometheus="$(bash scripts/prometheus.sh)"
	if [[ -n "${WSK_ROUTE:-}" ]]; then
		cp "$WSK_ROUTE" "$work/wsk-route"
	else
		say "building wsk-route"
		CGO_ENABLED=0 go build -trimpath -o "$work/wsk-route" ./cmd/wsk-route
	fi
	say "building the renderer"
	go build -o "$work/dashboard-picture" ./scripts/dashboard-picture

	local load_start load_end
	load_start="$(uptime)"
	say "uptime at start: $load_start"

	# The sandbox, with its agent's /metrics.
	local agent_metrics="127.0.0.1:$AGENT_METRICS_PORT"
	local dev_args=(dev --port "$PORT" --write-wskprops "$work/wskprops" --idle-timeout "$IDLE_TIMEOUT" --user-memory "$USER_MEMORY"
		--metrics-listen "$agent_metrics")
	say "starting: wsk-route ${dev_args[*]}"
	"$work/wsk-route" "${dev_args[@]}" >"$work/dev.out" 2>"$work/dev.err" &
	dev_pid=$!
	local i
	for i in $(seq 1 600); do
		[[ -s "$work/wskprops" ]] && break
		kill -0 "$dev_pid" 2>/dev/null || {
			cat "$work/dev.out" "$work/dev.err" >&2
			die "wsk-route dev exited"
		}
		sleep 0.1
	done
	[[ -s "$work/wskprops" ]] || die "wsk-route dev did not write $work/wskprops within 60 s"
	export WSK_CONFIG_FILE="$work/wskprops"
	auth="$(sed -n 's/^AUTH=//p' "$work/wskprops")"
	api="http://127.0.0.1:$PORT"

	# Prometheus, scraping the sandbox's user-events metrics and its agent's.
	{
		printf 'global:\n  scrape_interval: %ss\n  scrape_timeout: %ss\n  evaluation_interval: %ss\n' "$SCRAPE" "$SCRAPE" "$SCRAPE"
		printf 'scrape_configs:\n'
		printf '  - job_name: wsk-route-dev-user-events\n    static_configs:\n      - targets: ["127.0.0.1:%s"]\n' "$PORT"
		printf '  - job_name: wsk-route-agent\n    static_configs:\n      - targets: ["%s"]\n' "$agent_metrics"
	} >"$work/prometheus.yml"
	mkdir -p "$PROM_DATA"
	say "starting: $(basename "$prometheus") scraping every ${SCRAPE}s (data: $PROM_DATA)"
	"$prometheus" --config.file="$work/prometheus.yml" --storage.tsdb.path="$PROM_DATA" \
		--web.listen-address="127.0.0.1:$PROM_PORT" --log.level=warn >"$work/prometheus.log" 2>&1 &
	prom_pid=$!
	wait_http "http://127.0.0.1:$PROM_PORT/-/ready" 60
	from="$(date +%s)"

	say "composing textflow, finra, socialnet and collatz"
	local f
	for f in examples/textflow/textflow.yaml examples/finra/finra.yaml examples/socialnet/socialnet.yaml \
		examples/composer-let-while/collatz.json; do
		"$work/wsk-route" compose "$f" >>"$work/compose.out" 2>&1 || {
			cat "$work/compose.out" >&2
			die "wsk-route compose $f failed"
		}
	done

	say "running the workflows for ${RUN_SECONDS}s from $CLIENTS clients"
	local n pid
	for n in $(seq 1 "$CLIENTS"); do
		client "$n" >"$work/client-$n.out" 2>&1 &
		client_pids+=($!)
	done
	for pid in "${client_pids[@]}"; do wait "$pid"; done
	client_pids=()
	sleep $((3 * SCRAPE)) # the last runs' counters, scraped
	local to
	to="$(date +%s)"
	load_end="$(uptime)"
	say "uptime at end: $load_end"

	local runs
	runs="$(cat "$work"/client-*.out | sort | uniq -c | sort -k2 | awk '{printf "%s%s %s×%s", sep, $2, $1, $3; sep=", "}')"
	say "runs (workflow, count × HTTP status): $runs"
	la() { sed 's/.*load average: //; s/,.*//' <<<"$1"; }
	local minutes=$(((to - from + 30) / 60))
	local note
	note="Queries of wsk-route-dashboard.json evaluated by $(basename "$prometheus" | tr - ' ') over a ${minutes}-minute run of wsk-route dev on $(date -u +%Y-%m-%d) (textflow, finra, socialnet, collatz; load average $(la "$load_start") → $(la "$load_end")), drawn by scripts/dashboard-picture, not by Grafana."
	say "drawing $OUT"
	"$work/dashboard-picture" -dashboard docs/observability/wsk-route-dashboard.json \
		-prometheus "http://127.0.0.1:$PROM_PORT" -from "$from" -to "$to" -scrape-interval "${SCRAPE}s" \
		-note "$note" -out "$OUT"
	say "wrote $OUT: from $from to $to ($(date -u -d "@$from" +%H:%M:%S) to $(date -u -d "@$to" +%H:%M:%S) UTC)"
}

main "$@"
