#!/usr/bin/env bash
# Verifies ThingBridge's webhook signatures with the reference Python library of Standard
# Webhooks (PyPI `standardwebhooks`): `thingbridge serve` with a webhook group sends a routed
# event to a receiver in the script, which checks both captured requests with the library.
#
# Usage: Tests/webhook/run.sh [path/to/thingbridge]     (default .build/debug/thingbridge)
# Env:   WEBHOOK_VENV (default .build-webhook/venv), PYTHON (default python3)
#
# Exits 0 with "skipped" when python3, its venv module or the package (no network) is not
# available; non-zero when the gateway cannot run or a check fails.
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
binary="${1:-$repo/.build/debug/thingbridge}"
python="${PYTHON:-python3}"
venv="${WEBHOOK_VENV:-$repo/.build-webhook/venv}"

if [[ ! -x "$binary" ]]; then
    echo "webhook: $binary is not an executable; build it first (swift build) or pass its path" >&2
    exit 2
fi
source "$repo/Tests/lib/python-venv.sh"
python_venv webhook "$python" "$venv" standardwebhooks standardwebhooks skip

"$venv/bin/python" "$repo/Tests/webhook/verify_standardwebhooks.py" "$binary"
