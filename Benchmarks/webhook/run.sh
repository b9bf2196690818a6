#!/usr/bin/env bash
# The webhook benchmark: installs nginx and wrk (Debian packages) when missing, builds
# WebhookBenchmark in release mode and runs it (nginx on a free loopback port, started and
# stopped by the benchmark itself). Prints Markdown tables.
#
# Usage: Benchmarks/webhook/run.sh [deliveries 100000] [concurrency per endpoint 16]
# Env:   BENCH_ENDPOINTS (default 1,8,32), BENCH_BATCH (default 256), BENCH_SINK_ONLY=0, BENCH_BARE_CLIENT=0, SWIFT (default swift)
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
swift="${SWIFT:-swift}"
sudo=""
[[ "$(id -u)" == "0" ]] || sudo="sudo"

if ! command -v nginx >/dev/null 2>&1 && [[ ! -x /usr/sbin/nginx ]] || ! command -v wrk >/dev/null 2>&1; then
    echo "webhook bench: installing nginx and wrk"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq nginx wrk
fi

cd "$repo"
"$swift" build -c release --product WebhookBenchmark
.build/release/WebhookBenchmark "${1:-100000}" "${2:-16}"
