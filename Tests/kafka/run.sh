#!/usr/bin/env bash
# Consumes a topic that ThingBridge's Kafka sink wrote (kcat) and validates every record with the
# CloudEvents Python SDK (PyPI `cloudevents`), in binary or structured mode.
#
# Usage: Tests/kafka/run.sh BROKERS TOPIC EXPECTED_COUNT
# Env:   CLOUDEVENTS_VENV (default .build-cloudevents/venv), PYTHON (default python3)
#
# Prints "cloudevents: skipped (…)" and exits 0 when python3 or kcat is missing, or when the SDK
# cannot be installed (offline); exits 1 when a record is not a valid CloudEvent.
# The KafkaSinkTests suite runs it against a mock cluster (test `cloudEventsSDKParsesTheRecords`).
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
brokers="$1"; topic="$2"; expected="$3"
python="${PYTHON:-python3}"
venv="${CLOUDEVENTS_VENV:-$repo/.build-cloudevents/venv}"

if ! command -v kcat >/dev/null 2>&1; then echo "cloudevents: skipped (kcat not found; apt-get install kcat)"; exit 0; fi
source "$repo/Tests/lib/python-venv.sh"
python_venv cloudevents "$python" "$venv" cloudevents.core.bindings.kafka 'cloudevents>=2,<3' skip

kcat -C -b "$brokers" -t "$topic" -o beginning -e -J -q \
    | "$venv/bin/python" "$repo/Tests/kafka/cloudevents_check.py" --expect "$expected"
