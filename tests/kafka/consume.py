#!/usr/bin/env python3
"""An independent Kafka consumer for the relay's tests (confluent-kafka, which
bundles its own librdkafka): reads the given topics from the beginning until
`--expect` distinct event ids (`ce_id`) arrived or `--timeout` seconds passed, and prints one JSON
object per message: topic, partition, offset, key, headers, value."""

import argparse
import json
import sys
import time
import uuid

from confluent_kafka import Consumer, KafkaError


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--brokers", required=True)
    p.add_argument("--topics", required=True, help="comma-separated")
    p.add_argument("--expect", type=int, required=True)
    p.add_argument("--timeout", type=float, default=60.0)
    args = p.parse_args()
    consumer = Consumer({
        "bootstrap.servers": args.brokers,
        "group.id": f"orderflow-test-{uuid.uuid4()}",
        "auto.offset.reset": "earliest",
        "enable.auto.commit": False,
    })
    consumer.subscribe(args.topics.split(","))
    ids = set()
    seen = 0
    deadline = time.monotonic() + args.timeout
    try:
        while len(ids) < args.expect and time.monotonic() < deadline:
            msg = consumer.poll(0.5)
            if msg is None:
                continue
            if msg.error():
                if msg.error().code() in (KafkaError._PARTITION_EOF, KafkaError.UNKNOWN_TOPIC_OR_PART):
                    continue
                print(f"consumer error: {msg.error()}", file=sys.stderr)
                continue
            headers = {k: (v.decode() if v is not None else None) for k, v in (msg.headers() or [])}
            print(json.dumps({
                "topic": msg.topic(),
                "partition": msg.partition(),
                "offset": msg.offset(),
                "key": msg.key().decode() if msg.key() else None,
                "headers": headers,
                "value": msg.value().decode() if msg.value() else None,
            }), flush=True)
            seen += 1
            ids.add(headers.get("ce_id"))
    finally:
        consumer.close()
    return 0 if len(ids) >= args.expect else 1


if __name__ == "__main__":
    sys.exit(main())
