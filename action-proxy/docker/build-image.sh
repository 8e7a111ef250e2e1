#!/usr/bin/env bash
# build-image.sh: build a docker image that runs the wsk-route proxy, with no registry and no
# base image. It builds static binaries from this repository, puts them in a rootfs tarball
# and turns that into an image with `docker import`.
#
#   action-proxy/docker/build-image.sh [--smoke] [IMAGE]     IMAGE defaults to wsk-route/proxy:dev
#
# The image holds:
#   /bin/proxy     the proxy (./cmd/proxy), the ENTRYPOINT, listening on :8080
#   /bin/example   a static example action (./examples/hello-go) to send to /init
#   /action        the working directory; each /init unpacks into /action/action/<n>/
#   /tmp           for the proxy and actions
# and is configured like the official ActionLoop images, minus the compiler (there is no
# toolchain in it, so actions must be sent as static executables or zips of them):
#   OW_WAIT_FOR_ACK=1    wait for the action's {"ok":true} on fd 3 at /init
#   OW_LOG_INIT_ERROR=1  init errors go to the logs, with sentinels; the response is generic
# OW_EXECUTION_ENV is not set: a plain executable carries no exec.env to check it against.
#
# --smoke runs the image once after building it: /init with /bin/example, one /run, checks
# the answer and the log sentinels, then removes the container. Needs python3.
set -euo pipefail

smoke=false
if [ "${1:-}" = --smoke ]; then
	smoke=true
	shift
fi
IMAGE="${1:-wsk-route/proxy:dev}"
GO="${GO:-go}"

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
work="$(mktemp -d "${TMPDIR:-/tmp}/wsk-route-image.XXXXXX")"
trap 'rm -rf "$work"' EXIT
rootfs="$work/rootfs"
mkdir -p "$rootfs/bin" "$rootfs/action" "$rootfs/tmp"
chmod 0755 "$rootfs" "$rootfs/bin" "$rootfs/action"
chmod 1777 "$rootfs/tmp"

docker info >/dev/null 2>&1 || {
	echo "build-image: no docker daemon answers 'docker info' (run scripts/setup.sh)" >&2
	exit 1
}

echo "==> building static binaries"
(
	cd "$repo"
	export CGO_ENABLED=0
	"$GO" build -trimpath -ldflags '-s -w' -o "$rootfs/bin/proxy" ./cmd/proxy
	"$GO" build -trimpath -ldflags '-s -w' -o "$rootfs/bin/example" ./examples/hello-go
)

version="$(git -C "$repo" describe --always --dirty 2>/dev/null || echo unknown)"
echo "==> docker import -> $IMAGE (wsk-route $version)"
tar --numeric-owner --owner=0 --group=0 -C "$rootfs" -cf - . |
	docker import \
		--change 'ENTRYPOINT ["/bin/proxy"]' \
		--change 'WORKDIR /action' \
		--change 'ENV PATH=/bin' \
		--change 'ENV OW_WAIT_FOR_ACK=1' \
		--change 'ENV OW_LOG_INIT_ERROR=1' \
		--change 'EXPOSE 8080' \
		--change "LABEL org.opencontainers.image.title=wsk-route-proxy org.opencontainers.image.version=$version" \
		--message "wsk-route proxy $version" \
		- "$IMAGE" >/dev/null
docker image ls "$IMAGE"

$smoke || exit 0

echo "==> smoke test of $IMAGE"
name="wsk-route-smoke-$$"
cleanup() {
	docker rm -f "$name" >/dev/null 2>&1 || true
	rm -rf "$work"
}
trap cleanup EXIT
docker run -d --name "$name" "$IMAGE" >/dev/null
ip="$(docker inspect -f '{{.NetworkSettings.IPAddress}}' "$name")"
[ -n "$ip" ] || {
	echo "build-image: container $name has no IP on the default bridge" >&2
	exit 1
}
python3 - "$ip" "$rootfs/bin/example" <<'PY'
import base64, json, sys, time, urllib.error, urllib.request

ip, example = sys.argv[1], sys.argv[2]
url = "http://%s:8080" % ip

def post(path, body):
    req = urllib.request.Request(url + path, data=json.dumps(body).encode(),
                                 headers={"Content-Type": "application/json"}, method="POST")
    try:
        with urllib.request.urlopen(req, timeout=60) as r:
            return r.status, r.headers.get("Content-Length"), r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.headers.get("Content-Length"), e.read()

code = base64.b64encode(open(example, "rb").read()).decode()
init = {"value": {"name": "example", "main": "main", "binary": True, "code": code, "env": {}}}
deadline = time.monotonic() + 30
while True:  # like the invoker: retry /init while the proxy is not listening yet
    try:
        status, length, body = post("/init", init)
        break
    except (ConnectionRefusedError, urllib.error.URLError) as e:
        if time.monotonic() > deadline:
            sys.exit("smoke: /init: proxy not reachable at %s: %s" % (url, e))
        time.sleep(0.05)
print("/init ->", status, body)
if status != 200:
    sys.exit("smoke: /init answered %d %r" % (status, body))
status, length, body = post("/run", {"value": {"name": "smoke"}, "activation_id": "smoke-1"})
print("/run  ->", status, body)
if status != 200 or json.loads(body) != {"greeting": "Hello, smoke!"} or length is None:
    sys.exit("smoke: /run answered %d, Content-Length %s, %r" % (status, length, body))
PY
sentinel=XXX_THE_END_OF_A_WHISK_ACTIVATION_XXX
# The log driver may lag the HTTP answer a little: poll, with a bound, until both show up.
deadline=$((SECONDS + 20))
while :; do
	n_out="$(docker logs "$name" 2>/dev/null | grep -cx "$sentinel" || true)"
	n_err="$(docker logs "$name" 2>&1 >/dev/null | grep -cx "$sentinel" || true)"
	if { [ "$n_out" -ge 1 ] && [ "$n_err" -ge 1 ]; } || [ "$SECONDS" -ge "$deadline" ]; then break; fi
	sleep 0.1
done
echo "sentinels: stdout $n_out, stderr $n_err"
if [ "$n_out" != 1 ] || [ "$n_err" != 1 ]; then
	echo "build-image: want one sentinel per stream after one /run; logs:" >&2
	docker logs "$name" >&2
	exit 1
fi
echo "==> smoke test passed"
