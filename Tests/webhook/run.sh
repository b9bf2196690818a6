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

if ! command -v "$python" >/dev/null 2>&1; then
    echo "webhook: skipped ($python not found)"
    exit 0
fi
if [[ ! -x "$binary" ]]; then
    echo "webhook: $binary is not an executable; build it first (swift build) or pass its path" >&2
    exit 2
fi
if [[ ! -x "$venv/bin/python" ]]; then
    echo "webhook: creating virtualenv $venv"
    if ! "$python" -m venv "$venv" >/dev/null 2>&1; then
        rm -rf "$venv"
        echo "webhook: skipped (cannot create a virtualenv with $python; is the venv module installed?)"
        exit 0
    fi
fi
if ! "$venv/bin/python" -c "import standardwebhooks" >/dev/null 2>&1; then
    echo "webhook: installing standardwebhooks"
    if ! log="$("$venv/bin/python" -m pip install --disable-pip-version-check -q standardwebhooks 2>&1)"; then
        echo "webhook: skipped (pip install standardwebhooks failed: $(echo "$log" | tail -1))"
        exit 0
    fi
fi

"$venv/bin/python" "$repo/Tests/webhook/verify_standardwebhooks.py" "$binary"
