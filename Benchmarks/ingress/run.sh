#!/usr/bin/env bash
# Benchmark: durable callbacks per second and ack latency, beside nginx answering a static 200 and
# our listener's own HTTP stack answering a static 200 with no work behind it (the floor),
# with wrk, on this machine, in the same run. Prints a Markdown table; then, per thingbridge run, the
# gateway's own answer time from its histogram (what the gateway adds, without the load generator's
# share on the same cores), and the disk's own fdatasync latency measured alone. Not a test.
#
# Usage: Benchmarks/ingress/run.sh [seconds per run, default 10]
# Installs nginx and wrk from Debian when missing; builds thingbridge in release mode.
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
duration="${1:-10}"
SUDO=""; [[ "$(id -u)" == "0" ]] || SUDO=sudo

if ! command -v wrk >/dev/null || { ! command -v nginx >/dev/null && [[ ! -x /usr/sbin/nginx ]]; }; then
    $SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq nginx-light wrk >/dev/null
fi
NGINX="$(command -v nginx || echo /usr/sbin/nginx)"

(cd "$repo" && swift build -c release --product thingbridge >/dev/null && swift build -c release --product HTTPFloor >/dev/null)
binary="$repo/.build/release/thingbridge"

work="$(mktemp -d -t tb-ingress-bench.XXXXXX)"
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }
nginx_port="$(free_port)"; bridge_port="$(free_port)"; admin_port="$(free_port)"
cleanup() {
    [[ -n "${bridge_pid:-}" ]] && kill -TERM "$bridge_pid" 2>/dev/null && wait "$bridge_pid" 2>/dev/null || true
    [[ -n "${floor_pid:-}" ]] && kill -TERM "$floor_pid" 2>/dev/null && wait "$floor_pid" 2>/dev/null || true
    [[ -f "$work/nginx.pid" ]] && kill -QUIT "$(cat "$work/nginx.pid")" 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT

# nginx: a static 200 for any POST, the fastest possible "acknowledgement" on this machine.
mkdir -p "$work/nginx"
cat > "$work/nginx.conf" <<CONF
worker_processes 2;
pid $work/nginx.pid;
error_log $work/nginx/error.log;
events { worker_connections 1024; }
http {
    access_log off;
    client_body_temp_path $work/nginx;
    proxy_temp_path $work/nginx; fastcgi_temp_path $work/nginx; uwsgi_temp_path $work/nginx; scgi_temp_path $work/nginx;
    server {
        listen 127.0.0.1:$nginx_port;
        location / { client_body_buffer_size 16k; return 200 '{"duplicate":false}'; }
    }
}
CONF
"$NGINX" -c "$work/nginx.conf"

# The floor: thingbridge's callback listener stack (SwiftNIO's HTTP/1.1 server, same event loops,
# options and pipeline) answering 200 as soon as a request has been read: no parsing, no journal.
# What any gateway on this HTTP stack can reach here, in the same run (Benchmarks/HTTPFloor).
"$repo/.build/release/HTTPFloor" 0 > "$work/floor.port" &
floor_pid=$!
for _ in $(seq 1 100); do [[ -s "$work/floor.port" ]] && break; sleep 0.1; done
floor_port="$(head -1 "$work/floor.port")"

# thingbridge: one account, a file sink, every event journaled (fsync) before the 200.
mkdir -p "$work/routes"
printf 'routes:\n  - name: all\n    to: [archive]\n' > "$work/routes/all.yaml"
cat > "$work/thingbridge.yaml" <<CONF
ingress: { listen: "127.0.0.1:$bridge_port" }
admin: { listen: "127.0.0.1:$admin_port" }
dataDir: "$work/data"
routesDir: "$work/routes"
accounts:
  - name: "0000123456-00001"
    callback: { username: thingspace, password: bench-secret }
sinks:
  archive: { type: file, path: "archive.jsonl", maxFileSize: 1GiB }
CONF
"$binary" serve --config "$work/thingbridge.yaml" --log-level error > "$work/serve.log" 2>&1 &
bridge_pid=$!
for _ in $(seq 1 100); do curl -sf "http://127.0.0.1:$admin_port/healthz" >/dev/null && break; sleep 0.1; done

# Every request is a distinct MO SMS (unique requestId), so each is a real journal commit.
# Each wrk run gets its own tag: Lua's random numbers start from the same seed in every run, so
# ids made from a counter and math.random alone repeat from one run to the next, and the gateway
# rightly answers the repeats as duplicates without storing anything (earlier figures of this
# benchmark were inflated that way). The duplicates count is printed after the runs: it must be 0.
cat > "$work/post.lua" <<'LUA'
local counter = 0
local thread_id = 0
local tag = os.getenv("RUN_TAG") or "run"
function setup(thread) thread:set("id", thread_id); thread_id = thread_id + 1 end
function init(args) counter = 0 end
request = function()
    counter = counter + 1
    local body = string.format('{"username":"thingspace","password":"bench-secret","requestId":"bench-%s-%d-%d","deviceIds":[{"id":"7022895555","kind":"mdn"},{"id":"60E5F99D","kind":"esn"}],"smsMessage":"temp=21.5;door=closed","callbackCount":1,"maxCallbackThreshold":4}', tag, id, counter)
    return wrk.format("POST", "/callbacks/thingspace/0000123456-00001", {["Content-Type"] = "application/json"}, body)
end
LUA

# The gateway's own answer time for acknowledged callbacks (`thingbridge_callback_answer_seconds`,
# class 2xx), as cumulative bucket counts "bound count ...", read before and after each of its runs.
answer_histogram() {
    curl -s "http://127.0.0.1:$admin_port/metrics" |
        awk -F'[{}]' '/^thingbridge_callback_answer_seconds_bucket/ && /class="2xx"/ { split($2, kv, "le=\""); sub(/".*/, "", kv[2]); split($3, v, " "); printf "%s %s ", kv[2], v[1] }'
}
# Upper bounds of p50 and p99 and the share within 3 ms, from two snapshots (cumulative counts).
answer_summary() {
    python3 - "$1" "$2" <<'PY'
import sys
def parse(text):
    parts = text.split()
    return [(float("inf") if b == "+Inf" else float(b), float(c)) for b, c in zip(parts[0::2], parts[1::2])]
before, after = dict(parse(sys.argv[1])), parse(sys.argv[2])
counts = [(bound, count - before.get(bound, 0.0)) for bound, count in after]
total = counts[-1][1] if counts else 0
def bound(q):
    for b, c in counts:
        if c >= q * total:
            return "> 5 s" if b == float("inf") else ("%g ms" % round(b * 1000, 3) if b < 1 else "%g s" % b)
within = next((c for b, c in counts if abs(b - 0.003) < 1e-9), 0)
print("%s | %s | %.1f%%" % (bound(0.5), bound(0.99), 100 * within / total) if total else "- | - | -")
PY
}
declare -A answers

run() { # name url connections
    local out before=""
    [[ "$4" == bridge ]] && before="$(answer_histogram)"
    run_number=$(( ${run_number:-0} + 1 ))
    out="$(RUN_TAG="$$-$run_number-$RANDOM" wrk -t "$(( $3 < 2 ? 1 : 2 ))" -c "$3" -d "${duration}s" --latency -s "$work/post.lua" "$2" 2>&1)"
    local rps p50 p99 errors
    rps="$(awk '/Requests\/sec/ {print $2}' <<<"$out")"
    p50="$(awk '$1=="50%" {print $2}' <<<"$out")"
    p99="$(awk '$1=="99%" {print $2}' <<<"$out")"
    errors="$(awk '/Non-2xx/ {print $NF}' <<<"$out")"
    printf '| %s | %s | %.0f | %s | %s | %s |\n' "$1" "$3" "$rps" "$p50" "$p99" "${errors:-0}"
    rate["$4-$3"]="$rps"
    [[ "$4" == bridge ]] && answers["$3"]="$(answer_summary "$before" "$(answer_histogram)") | $p99"
    return 0
}
declare -A rate

echo ""
echo "Ingress, ${duration}s per run, $(nproc) cores, wrk on the same machine"
echo ""
echo "| server | connections | requests/s | p50 | p99 | non-2xx |"
echo "|---|---:|---:|---:|---:|---:|"
for c in 1 16 64; do
    run "nginx static 200 (reference)" "http://127.0.0.1:$nginx_port/callbacks/thingspace/0000123456-00001" "$c" nginx
    run "SwiftNIO HTTP/1.1 static 200 (floor: our listener's stack, no work)" "http://127.0.0.1:$floor_port/callbacks/thingspace/0000123456-00001" "$c" floor
    run "thingbridge, durable (fsync) 200" "http://127.0.0.1:$bridge_port/callbacks/thingspace/0000123456-00001" "$c" bridge
done
rss_kib="$(awk '/VmRSS/ {print $2}' "/proc/$bridge_pid/status")"
read -r events duplicates < <(curl -s "http://127.0.0.1:$admin_port/status" | python3 -c 'import json,sys; d=json.load(sys.stdin); print(d["events"], d["duplicatesSeen"])')
echo ""
for c in 16 64; do
    awk -v c="$c" -v n="${rate[nginx-$c]}" -v f="${rate[floor-$c]}" -v b="${rate[bridge-$c]}" \
        'BEGIN { printf "%d connections: thingbridge at %.1f%% of nginx; the floor (no work at all) at %.1f%%; thingbridge at %.1f%% of the floor\n", c, 100*b/n, 100*f/n, 100*b/f }'
done
echo ""
echo "thingbridge's own answer time for the acknowledged callbacks of each run (\`thingbridge_callback_answer_seconds\`:"
echo "from the request's head read to the answer handed to the connection; p50 and p99 are the histogram's bucket bounds),"
echo "beside the p99 wrk measured (which adds the client's share on the same two cores):"
echo ""
echo "| connections | p50 at most | p99 at most | within 3 ms | wrk's p99 |"
echo "|---:|---:|---:|---:|---:|"
for c in 1 16 64; do echo "| $c | ${answers[$c]} |"; done
echo ""
# The disk under the journal, alone (nothing else running): what one commit's fsync costs here today.
python3 - "$work" <<'PY'
import os, sys, time
path = os.path.join(sys.argv[1], "fsync-probe")
fd = os.open(path, os.O_CREAT | os.O_WRONLY)
page = b"x" * (19 * 4096)  # a commit of ~7 callbacks writes about 19 WAL pages
times = []
for i in range(2000):
    os.pwrite(fd, page, (i % 50) * len(page))
    start = time.perf_counter(); os.fdatasync(fd); times.append((time.perf_counter() - start) * 1000)
os.close(fd); os.remove(path)
times.sort()
print("this disk alone, fdatasync after a 76 KiB write (2,000 times): p50 %.2f ms, p99 %.2f ms, max %.2f ms" % (times[1000], times[1980], times[-1]))
PY
echo "thingbridge after the runs: RSS $(( rss_kib / 1024 )) MiB, $events events journaled, $duplicates requests answered as duplicates (must be 0)"
