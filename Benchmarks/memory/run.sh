#!/usr/bin/env bash
# Benchmark: memory (RSS) of `thingbridge serve` at a steady rate of durable callbacks, then
# during a sink outage of several minutes (the backlog must live on disk, not in memory), then
# while the backlog drains. Prints a Markdown table. Not a test.
#
# The outage is a full disk under the file sink: its folder is a tmpfs (mounted here, so run as
# root or with sudo) that is filled up; every write then fails with ENOSPC (retriable).
#
# Usage: Benchmarks/memory/run.sh [steady seconds, default 60] [outage seconds, default 600] [rate/s, default 5000]
# Installs wrk from Debian when missing; builds thingbridge in release mode.
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
steady="${1:-60}"
outage="${2:-600}"
rate="${3:-5000}"
SUDO=""; [[ "$(id -u)" == "0" ]] || SUDO=sudo
command -v wrk >/dev/null || { $SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq wrk >/dev/null; }

(cd "$repo" && swift build -c release --product thingbridge >/dev/null)
binary="$repo/.build/release/thingbridge"

work="$(mktemp -d -t tb-memory-bench.XXXXXX)"
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }
port="$(free_port)"; admin="$(free_port)"
sink_dir="$work/sink"
mkdir -p "$sink_dir"
$SUDO mount -t tmpfs -o size=6g tmpfs "$sink_dir"
cleanup() {
    [[ -n "${wrk_pid:-}" ]] && kill "$wrk_pid" 2>/dev/null || true
    [[ -n "${bridge_pid:-}" ]] && kill -TERM "$bridge_pid" 2>/dev/null && wait "$bridge_pid" 2>/dev/null || true
    $SUDO umount "$sink_dir" 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT

# One account, one file sink retried forever; back-pressure set high enough that the whole outage
# is absorbed on disk (the default, 100k, would answer 503 after 20 s at 5k/s: also correct,
# but then the backlog would be queued at ThingSpace instead of measured here).
mkdir -p "$work/routes" "$work/data"
printf 'routes:\n  - name: all\n    to: [archive]\n' > "$work/routes/all.yaml"
cat > "$work/thingbridge.yaml" <<CONF
ingress: { listen: "127.0.0.1:$port" }
admin: { listen: "127.0.0.1:$admin" }
dataDir: "$work/data"
routesDir: "$work/routes"
accounts:
  - name: "0000123456-00001"
    callback: { username: thingspace, password: bench-secret }
sinks:
  archive: { type: file, path: "$sink_dir/archive.jsonl", maxFileSize: 8GiB, retry: { base: 1s, cap: 30s, maxAttempts: 0 } }
journal:
  backpressure: { highWater: 10000000, lowWater: 9000000 }
CONF
"$binary" serve --config "$work/thingbridge.yaml" --log-level error > "$work/serve.log" 2>&1 &
bridge_pid=$!
for _ in $(seq 1 100); do curl -sf "http://127.0.0.1:$admin/healthz" >/dev/null && break; sleep 0.1; done

# Each connection waits `delay` ms before each request; the delay is calibrated for the rate.
connections=40
cat > "$work/paced.lua" <<'LUA'
local counter = 0
local thread_id = 0
local pause = tonumber(os.getenv("PAUSE_MS") or "7")
-- Each wrk run (calibration, steady, outage) gets its own tag: request ids must never repeat
-- across runs, or the gateway rightly answers them as duplicates and stores nothing.
local tag = os.getenv("RUN_TAG") or "run"
function setup(thread) thread:set("id", thread_id); thread_id = thread_id + 1 end
function delay() return pause end
request = function()
    counter = counter + 1
    local body = string.format('{"username":"thingspace","password":"bench-secret","requestId":"mem-%s-%d-%d","deviceIds":[{"id":"70228%05d","kind":"mdn"}],"smsMessage":"temp=21.5;door=closed","callbackCount":1}', tag, id, counter, counter % 1000)
    return wrk.format("POST", "/callbacks/thingspace/0000123456-00001", {["Content-Type"] = "application/json"}, body)
end
LUA
url="http://127.0.0.1:$port/callbacks/thingspace/0000123456-00001"
measure_rate() { # pause seconds -> requests/s
    RUN_TAG="calibrate-$RANDOM-$1" PAUSE_MS="$1" wrk -t2 -c"$connections" -d"$2"s -s "$work/paced.lua" "$url" | awk '/Requests\/sec/ {print $2}'
}
pause=7
for _ in 1 2 3; do
    got="$(measure_rate "$pause" 5)"
    # period per connection = connections/rate; the rest of the period is latency.
    pause="$(python3 -c "c=$connections; r=float('$got'); p=$pause; t=$rate; lat=max(0.0, c/r*1000-p); print(max(0, round(c/t*1000-lat)))")"
done

rss() { awk '/VmRSS/ {print int($2/1024)}' "/proc/$bridge_pid/status"; }
backlog() { curl -s "http://127.0.0.1:$admin/readyz" | python3 -c 'import json,sys; print(json.load(sys.stdin).get("backlog", "?"))' 2>/dev/null || echo "?"; }
# Runs wrk for $1 seconds in the background and samples RSS every 10 s; prints "min max end rate non2xx".
phase() {
    local seconds="$1" out="$work/wrk-$2.txt" samples=()
    RUN_TAG="$2" PAUSE_MS="$pause" wrk -t2 -c"$connections" -d"${seconds}s" -s "$work/paced.lua" "$url" > "$out" 2>&1 &
    wrk_pid=$!
    local elapsed=0
    while kill -0 "$wrk_pid" 2>/dev/null; do
        sleep 10; elapsed=$((elapsed + 10))
        samples+=("$(rss)")
        echo "  [$2] ${elapsed}s: RSS $(rss) MiB, backlog $(backlog)" >&2
    done
    wait "$wrk_pid" || true; wrk_pid=""
    local min max
    min="$(printf '%s\n' "${samples[@]}" | sort -n | head -1)"; max="$(printf '%s\n' "${samples[@]}" | sort -n | tail -1)"
    echo "$min $max $(rss) $(awk '/Requests\/sec/ {printf "%.0f", $2}' "$out") $(awk '/Non-2xx/ {print $NF}' "$out" | grep . || echo 0)"
}

start_rss="$(rss)"
read -r s_min s_max s_end s_rate s_bad <<<"$(phase "$steady" steady)"
# The sink's disk is now full: every write fails (ENOSPC), is truncated back and retried.
fallocate -l "$(df --output=avail -B1 "$sink_dir" | tail -1)" "$sink_dir/filler" 2>/dev/null \
    || dd if=/dev/zero of="$sink_dir/filler" bs=1M >/dev/null 2>&1 || true
read -r o_min o_max o_end o_rate o_bad <<<"$(phase "$outage" outage)"
o_backlog="$(backlog)"
journal_mib="$(du -sm "$work/data" | awk '{print $1}')"
rm -f "$sink_dir/filler"
drain_start=$(date +%s); d_samples=()
while :; do
    b="$(backlog)"; d_samples+=("$(rss)")
    [[ "$b" == "0" ]] && break
    (( $(date +%s) - drain_start > 1800 )) && break
    sleep 5
done
drain_seconds=$(( $(date +%s) - drain_start ))
d_max="$(printf '%s\n' "${d_samples[@]}" | sort -n | tail -1)"

echo ""
echo "Memory of thingbridge serve, $(nproc) cores, wrk paced to ~$rate callbacks/s on the same machine"
echo ""
echo "| phase | seconds | callbacks/s | non-2xx | RSS min | RSS max | RSS at end | backlog at end |"
echo "|---|---:|---:|---:|---:|---:|---:|---:|"
echo "| steady, sink healthy | $steady | $s_rate | $s_bad | $s_min MiB | $s_max MiB | $s_end MiB | 0 |"
echo "| sink down (its disk full) | $outage | $o_rate | $o_bad | $o_min MiB | $o_max MiB | $o_end MiB | $o_backlog |"
echo "| sink back, backlog drains | $drain_seconds | 0 | 0 | | $d_max MiB | $(rss) MiB | $(backlog) |"
echo ""
echo "RSS before load: $start_rss MiB. Journal folder after the outage: $journal_mib MiB. Duplicates answered: $(curl -s "http://127.0.0.1:$admin/status" | python3 -c 'import json,sys; print(json.load(sys.stdin).get("duplicatesSeen", "?"))')."
