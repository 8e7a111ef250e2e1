#!/usr/bin/env bash
# Compares /bin/proxy at BASE and at the working tree: stripped binary
# size, time from exec to its port accepting connections (40 starts,
# interleaved, twice) and the resident memory of an idle proxy.
#
# Usage: benchmarks/composer/startup.sh BASE   (a commit, e.g. 7a68b49)
set -euo pipefail
cd "$(dirname "$0")/../.."
base=${1:?usage: startup.sh BASE}
work=$(mktemp -d)
trap 'git worktree remove --force "$work/base" >/dev/null 2>&1; rm -rf "$work"' EXIT
git worktree add -q "$work/base" "$base"
(cd "$work/base" && go build -trimpath -ldflags '-s -w' -o "$work/proxy.base" ./cmd/proxy)
go build -trimpath -ldflags '-s -w' -o "$work/proxy.head" ./cmd/proxy
python3 - "$work/proxy.base" "$work/proxy.head" <<'PY'
import os, socket, subprocess, sys, time
def start(binary, port):
    p = subprocess.Popen([binary, "-listen", "127.0.0.1:%d" % port], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    t0 = time.perf_counter()
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.05).close()
            return p, time.perf_counter() - t0
        except OSError:
            time.sleep(0.0002)
def rss(p):
    f = dict(l.split(":", 1) for l in open("/proc/%d/status" % p.pid))
    return f["VmRSS"].strip(), f["RssAnon"].strip(), f["RssFile"].strip()
print("load average %.2f %.2f %.2f" % os.getloadavg())
times = {b: [] for b in sys.argv[1:]}
for _ in range(2):
    for b in sys.argv[1:]:
        for _ in range(40):
            p, t = start(b, 18799)
            times[b].append(t)
            p.kill(); p.wait()
for b in sys.argv[1:]:
    ts = sorted(times[b])
    p, _ = start(b, 18799)
    time.sleep(1)
    r = rss(p)
    p.kill(); p.wait()
    print("%-12s %10d bytes  exec to listening p50 %.2f ms p90 %.2f ms  idle RSS %s (anon %s, file %s)" % (
        os.path.basename(b), os.path.getsize(b), ts[len(ts)//2]*1e3, ts[len(ts)*9//10]*1e3, *r))
print("load average %.2f %.2f %.2f" % os.getloadavg())
PY
