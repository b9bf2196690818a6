#!/usr/bin/env python3
"""Validates Kafka records produced by ThingBridge's Kafka sink with the CloudEvents Python SDK.

Reads `kcat -C -J` output (one JSON object per line) on standard input, turns each record into the
SDK's KafkaMessage and parses it with `cloudevents.core.bindings.kafka.from_kafka_event`, which
detects binary or structured mode, checks the required attributes and parses `time`. Then checks
what ThingBridge promises on top: the event type and source, the device id as `subject` and as the
record key (the default key template), and the SMS `data` fields.

Usage: kcat -C -J -e -o beginning -b BROKERS -t TOPIC | cloudevents_check.py --expect N
Exit status: 0 when N valid events were read, 1 otherwise.
"""
import argparse
import datetime
import json
import sys

from cloudevents.core.bindings.kafka import KafkaMessage, from_kafka_event


def to_message(record):
    headers = record.get("headers") or []
    pairs = dict(zip(headers[0::2], headers[1::2]))
    key = record.get("key")
    payload = record.get("payload") or ""
    return KafkaMessage(
        headers={name: (value or "").encode() for name, value in pairs.items()},
        key=key.encode() if key is not None else None,
        value=payload.encode(),
    ), pairs


def check(record):
    message, headers = to_message(record)
    event = from_kafka_event(message)
    problems = []
    mode = "binary" if "ce_id" in headers else "structured"
    if event.get_specversion() != "1.0":
        problems.append(f"specversion {event.get_specversion()!r}")
    if event.get_type() != "com.verizon.thingspace.sms.mo":
        problems.append(f"type {event.get_type()!r}")
    if not event.get_source().startswith("/thingspace/accounts/"):
        problems.append(f"source {event.get_source()!r}")
    if not event.get_id():
        problems.append("empty id")
    if not isinstance(event.get_time(), datetime.datetime):
        problems.append(f"time {event.get_time()!r} is not a timestamp")
    if event.get_datacontenttype() != "application/json":
        problems.append(f"datacontenttype {event.get_datacontenttype()!r}")
    data = event.get_data()
    if not isinstance(data, dict):
        problems.append(f"data is {type(data).__name__}, not an object")
    else:
        for field in ("account", "device", "deviceIds", "text", "channel", "receivedAt"):
            if field not in data:
                problems.append(f"data.{field} missing")
        if isinstance(data.get("device"), dict) and data["device"].get("id") != event.get_subject():
            problems.append("subject is not data.device.id")
    if record.get("key") is not None and record["key"] != event.get_subject():
        problems.append(f"key {record['key']!r} is not the subject {event.get_subject()!r}")
    return mode, event.get_id(), problems


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--expect", type=int, required=True, help="how many records must be read")
    args = parser.parse_args()
    modes, failures, ids = {}, 0, set()
    for line in sys.stdin:
        line = line.strip()
        if not line:
            continue
        record = json.loads(line)
        try:
            mode, event_id, problems = check(record)
        except Exception as error:  # the SDK refused it
            mode, event_id, problems = "?", None, [f"the SDK cannot parse it: {type(error).__name__}: {error}"]
        modes[mode] = modes.get(mode, 0) + 1
        ids.add(event_id)
        if problems:
            failures += 1
            print(f"cloudevents: partition {record.get('partition')} offset {record.get('offset')}: " + "; ".join(problems))
    total = sum(modes.values())
    summary = ", ".join(f"{mode}: {count}" for mode, count in sorted(modes.items()))
    if failures or total != args.expect or len(ids) != total:
        print(f"cloudevents: FAILED: {total} records ({summary}), {failures} invalid, {len(ids)} distinct ids, expected {args.expect}")
        return 1
    print(f"cloudevents: ok: {total} records parsed and valid ({summary})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
