#!/usr/bin/env bash
# Runs Verizon's generated Python SDK (PyPI sdksio-verizon-apis-sdk) against the ThingSpace
# simulator, to check that the simulator speaks what real clients expect.
#
# Usage: Tests/compat/run.sh [path/to/thingbridge]     (default .build/debug/thingbridge)
# Env:   COMPAT_VENV (default .build-compat/venv), PYTHON (default python3)
#
# Exits 0 with "skipped" when python3 is missing; non-zero when the SDK cannot be
# installed, the simulator does not start, or a check fails.
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
binary="${1:-$repo/.build/debug/thingbridge}"
python="${PYTHON:-python3}"
venv="${COMPAT_VENV:-$repo/.build-compat/venv}"

if ! command -v "$python" >/dev/null 2>&1; then
    echo "compat: skipped ($python not found)"
    exit 0
fi
if [[ ! -x "$binary" ]]; then
    echo "compat: $binary is not an executable; build it first (swift build) or pass its path" >&2
    exit 2
fi

# Python is here: from now on a missing venv module or package is a failure, not a skip.
source "$repo/Tests/lib/python-venv.sh"
python_venv compat "$python" "$venv" verizon sdksio-verizon-apis-sdk fail

port="$("$venv/bin/python" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()')"
base="http://127.0.0.1:$port"
log_file="$(mktemp -t thingspace-sim.XXXXXX)"

"$binary" simulate --host 127.0.0.1 --port "$port" --log-level warning >"$log_file" 2>&1 &
simulator_pid=$!
cleanup() {
    if kill -0 "$simulator_pid" 2>/dev/null; then
        kill -TERM "$simulator_pid" 2>/dev/null || true
        wait "$simulator_pid" 2>/dev/null || true
    fi
    rm -f "$log_file"
}
trap cleanup EXIT INT TERM

for _ in $(seq 1 100); do
    if "$venv/bin/python" -c "import urllib.request, sys; urllib.request.urlopen(sys.argv[1], timeout=1)" "$base/simulator/stats" >/dev/null 2>&1; then
        break
    fi
    if ! kill -0 "$simulator_pid" 2>/dev/null; then
        echo "compat: the simulator exited early:" >&2
        cat "$log_file" >&2
        exit 4
    fi
    sleep 0.1
done
if ! "$venv/bin/python" -c "import urllib.request, sys; urllib.request.urlopen(sys.argv[1], timeout=1)" "$base/simulator/stats" >/dev/null 2>&1; then
    echo "compat: the simulator did not answer on $base within 10 s:" >&2
    cat "$log_file" >&2
    exit 4
fi

echo "compat: simulator on $base (pid $simulator_pid)"
"$venv/bin/python" "$repo/Tests/compat/thingspace_sdk_compat.py" "$base"
