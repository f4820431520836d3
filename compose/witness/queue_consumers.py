"""Consumers per RabbitMQ queue, asked over AMQP: `python3 queue_consumers.py QUEUE...` prints {queue: consumers}.

Run inside the witness container (Mistral's venv has py-amqp; the broker's password comes in BROKER_PASSWORD).
A passive declare answers with the queue's consumer count without creating it; a missing queue counts 0. The
lab's readiness poll asks this every second while Mistral boots: `rabbitmqctl list_queues` boots an Erlang VM
for each answer (1-3 s of CPU on 2 cores, taken from the Mistral processes it waits for), this costs a tenth.
Exits 1 when the broker cannot be reached: the caller falls back to rabbitmqctl.
"""
from __future__ import annotations

import json
import os
import sys

import amqp


def consumers(queues: list[str], password: str, host: str = "broker:5672") -> dict[str, int]:
    counts: dict[str, int] = {}
    with amqp.Connection(host=host, userid="mistral", password=password, connect_timeout=3,
                         read_timeout=5, write_timeout=5) as connection:
        channel = connection.channel()
        for queue in queues:
            try:
                _, _, count = channel.queue_declare(queue=queue, passive=True)
            except amqp.exceptions.NotFound:
                count = 0
                channel = connection.channel()  # the broker closes a channel on a failed passive declare
            counts[queue] = int(count)
    return counts


def main() -> int:
    try:
        print(json.dumps(consumers(sys.argv[1:], os.environ["BROKER_PASSWORD"])))
    except (OSError, amqp.exceptions.AMQPError, KeyError) as exc:
        print(f"cannot ask the broker: {exc!r}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
