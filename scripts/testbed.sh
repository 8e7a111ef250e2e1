#!/usr/bin/env bash
# testbed.sh: a small OpenWhisk-like cluster on this machine, for the ansible roles.
#
#   scripts/testbed.sh up      start the hosts and the sandbox's parts on them
#   scripts/testbed.sh down    remove the hosts and their network
#   scripts/testbed.sh status  show the hosts and their services
#
# Three hosts, each a docker container of the Debian image scripts/testbed-image.sh builds,
# booting systemd, with its own address on a private network and its own filesystem:
#   wsk-route-tb-controller0  172.31.77.10  `wsk-route dev controller` (REST API :3233,
#                                           controller, store, Kafka-protocol broker :9092)
#   wsk-route-tb-invoker0     172.31.77.11  its own docker engine, `wsk-route dev invoker
#   wsk-route-tb-invoker1     172.31.77.12  --index N` reading /etc/wsk-route/invoker.env,
#                                           and testbed/action-golang-native:1, the
#                                           stand-in for the operator's runtime image
# Consul, the agents, the route-enabled images and the invokers' wsk-route settings are
# not there: ansible/ deploys them (inventory ansible/environments/testbed).
# Needs root, a docker engine, debootstrap (once) and the binaries of
# scripts/deploy-binaries.sh ($WSK_ROUTE_BIN_DIR).
set -euo pipefail

: "${HOME:=$(getent passwd "$(id -u)" | cut -d: -f6)}"
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BIN_DIR="${WSK_ROUTE_BIN_DIR:-$HOME/.cache/wsk-route/deploy/bin}"
NET=wsk-route-testbed
SUBNET=172.31.77.0/24
CONTROLLER_IP=172.31.77.10
HOSTS=(controller0:172.31.77.10 invoker0:172.31.77.11 invoker1:172.31.77.12)
PREFIX=wsk-route-tb-
RUNTIME_IMAGE=testbed/action-golang-native:1

say() { printf '%s testbed: %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() {
	say "ERROR: $*"
	exit 1
}
in_host() { docker exec -i "$PREFIX$1" "${@:2}"; }

# wait_for HOST SECONDS CMD...: run CMD in HOST until it succeeds or the bound passes.
wait_for() {
	local host="$1" deadline=$((SECONDS + $2))
	shift 2
	until in_host "$host" "$@" >/dev/null 2>&1; do
		[ "$SECONDS" -lt "$deadline" ] || die "$host: '$*' did not succeed within the bound"
		sleep 0.5
	done
}

down() {
	local h
	for h in "${HOSTS[@]}"; do
		# An invoker host's paused (frozen) action containers would keep the host
		# container from dying: unpause and remove them first. The invoker goes
		# first, at once (KILL: a graceful stop can wait for its containers), so
		# that it starts no new ones.
		timeout 60 docker exec "$PREFIX${h%%:*}" sh -c 'systemctl kill -s KILL wsk-route-testbed-invoker 2>/dev/null
			systemctl stop wsk-route-testbed-invoker 2>/dev/null
			docker ps -q --filter status=paused | xargs -r docker unpause
			docker ps -aq | xargs -r docker rm -f' >/dev/null 2>&1 || true
		docker rm -f -v "$PREFIX${h%%:*}" >/dev/null 2>&1 || true
	done
	docker network rm "$NET" >/dev/null 2>&1 || true
}

controller_unit() {
	cat <<UNIT
[Unit]
Description=wsk-route test bed: the sandbox's API, controller and Kafka broker
After=network-online.target

[Service]
ExecStart=/usr/local/bin/wsk-route dev controller --listen 0.0.0.0:3233 --kafka-listen $CONTROLLER_IP:9092 \\
  --consul 127.0.0.1:8500 --invokers 2 --data-dir /var/lib/wsk-route-testbed --blocking-wait 60s
Restart=always
RestartSec=1
StandardOutput=append:/var/log/wsk-route-testbed.log
StandardError=append:/var/log/wsk-route-testbed.log

[Install]
WantedBy=multi-user.target
UNIT
}

invoker_unit() {
	cat <<UNIT
[Unit]
Description=wsk-route test bed: the sandbox's invoker $1 (OpenWhisk's invoker stands here)
After=network-online.target docker.service
Requires=docker.service

[Service]
# OpenWhisk's ansible passes an invoker its settings as CONFIG_ environment variables;
# ansible/ (wsk_route_invoker) writes wsk-route's there.
EnvironmentFile=-/etc/wsk-route/invoker.env
ExecStart=/usr/local/bin/wsk-route dev invoker --index $1 --host invoker$1 \\
  --kafka $CONTROLLER_IP:9092 --controller http://$CONTROLLER_IP:3233 --image ${RUNTIME_IMAGE}-wsk-route
Restart=always
RestartSec=1
StandardOutput=append:/var/log/wsk-route-testbed.log
StandardError=append:/var/log/wsk-route-testbed.log

[Install]
WantedBy=multi-user.target
UNIT
}

up() {
	[ "$(id -u)" = 0 ] || die "needs root"
	docker info >/dev/null 2>&1 || die "no docker engine answers"
	for b in wsk-route wsk-route-agent proxy consul; do
		[ -x "$BIN_DIR/$b" ] || die "$BIN_DIR/$b is missing: run scripts/deploy-binaries.sh"
	done
	local image h name ip i
	image="$("$repo/scripts/testbed-image.sh")"
	down
	docker network create --subnet "$SUBNET" "$NET" >/dev/null
	for h in "${HOSTS[@]}"; do
		name="${h%%:*}" ip="${h#*:}"
		say "starting host $name ($ip)"
		# systemd as pid 1, and (invokers) a docker engine of its own: every capability
		# this machine can give (not --privileged: its bounding set may lack some).
		docker run -d --name "$PREFIX$name" --hostname "$name" --network "$NET" --ip "$ip" \
			--cap-add ALL --cap-drop SYS_RESOURCE --security-opt seccomp=unconfined \
			--security-opt apparmor=unconfined --stop-signal SIGRTMIN+3 \
			--tmpfs /run --tmpfs /run/lock -v /sys/fs/cgroup:/sys/fs/cgroup:rw --cgroupns=host \
			--label wsk-route.testbed=1 "$image" >/dev/null
	done
	for h in "${HOSTS[@]}"; do
		name="${h%%:*}"
		wait_for "$name" 60 sh -c 'systemctl is-system-running | grep -Eq "running|degraded"'
		docker cp "$BIN_DIR/wsk-route" "$PREFIX$name:/usr/local/bin/wsk-route"
	done
	say "controller0: wsk-route dev controller"
	controller_unit | in_host controller0 sh -c 'cat >/etc/systemd/system/wsk-route-testbed-controller.service'
	in_host controller0 systemctl enable --now wsk-route-testbed-controller >/dev/null 2>&1
	for i in 0 1; do
		name="invoker$i"
		wait_for "$name" 60 docker info
		say "$name: the operator's runtime image $RUNTIME_IMAGE, and wsk-route dev invoker --index $i"
		# The stand-in for an official ActionLoop image: an ActionLoop proxy as /bin/proxy
		# (here a wsk-route proxy build; the roles replace it with the one they ship).
		docker cp "$BIN_DIR/proxy" "$PREFIX$name:/tmp/proxy"
		in_host "$name" sh -c "set -e; d=\$(mktemp -d); mkdir -p \$d/bin \$d/action \$d/tmp; chmod 1777 \$d/tmp
			mv /tmp/proxy \$d/bin/proxy
			tar --numeric-owner -C \$d -cf - . | docker import --change 'ENTRYPOINT [\"/bin/proxy\"]' \
				--change 'WORKDIR /action' --change 'ENV OW_WAIT_FOR_ACK=1' --change 'ENV OW_LOG_INIT_ERROR=1' \
				- $RUNTIME_IMAGE >/dev/null; rm -rf \$d"
		invoker_unit "$i" | in_host "$name" sh -c 'cat >/etc/systemd/system/wsk-route-testbed-invoker.service'
		in_host "$name" systemctl enable --now wsk-route-testbed-invoker >/dev/null 2>&1
	done
	say "up: API http://$CONTROLLER_IP:3233, inventory $repo/ansible/environments/testbed"
}

status() {
	local h
	for h in "${HOSTS[@]}"; do
		echo "== ${h%%:*} (${h#*:})"
		in_host "${h%%:*}" sh -c 'systemctl --no-pager --plain list-units "wsk-route*" docker.service 2>/dev/null | grep -E "^(wsk|docker)" || true' || echo "(not running)"
	done
}

case "${1:-}" in
up) up ;;
down) down ;;
status) status ;;
*)
	sed -n '2,20p' "$0" | sed 's/^# \{0,1\}//'
	exit 2
	;;
esac
