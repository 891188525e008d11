"""Consume the "jobs" queue and answer each job (its body upper-cased) on its reply_to
queue. `python3 worker.py send TEXT` sends one job and prints the answer: the round trip
through RabbitMQ, with the AMQP_URL the worker itself uses."""

from __future__ import annotations

import os
import pathlib
import sys
import uuid

import pika

QUEUE = "jobs"
READY = pathlib.Path("/tmp/consuming")


def channel() -> tuple[pika.BlockingConnection, pika.adapters.blocking_connection.BlockingChannel]:
    connection = pika.BlockingConnection(pika.URLParameters(os.environ["AMQP_URL"]))
    ch = connection.channel()
    ch.queue_declare(QUEUE, durable=True)
    return connection, ch


def serve() -> None:
    connection, ch = channel()

    def on_job(ch, method, properties, body: bytes) -> None:  # type: ignore[no-untyped-def]
        answer = body.decode().upper().encode()
        if properties.reply_to:
            ch.basic_publish("", properties.reply_to, answer, pika.BasicProperties(correlation_id=properties.correlation_id))
        ch.basic_ack(method.delivery_tag)
        print(f"job {body!r} -> {answer!r}", flush=True)

    ch.basic_consume(QUEUE, on_job)
    READY.touch()
    print(f"consuming {QUEUE}", flush=True)
    try:
        ch.start_consuming()
    finally:
        READY.unlink(missing_ok=True)
        connection.close()


def send(text: str, timeout: float = 10) -> str:
    connection, ch = channel()
    reply = ch.queue_declare("", exclusive=True).method.queue
    correlation = str(uuid.uuid4())
    ch.basic_publish("", QUEUE, text.encode(), pika.BasicProperties(reply_to=reply, correlation_id=correlation))
    for method, properties, body in ch.consume(reply, auto_ack=True, inactivity_timeout=timeout):
        if method is None:
            raise SystemExit("no answer")
        if properties.correlation_id == correlation:
            connection.close()
            return body.decode()
    raise SystemExit("no answer")


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "send":
        print(send(sys.argv[2]))
    else:
        serve()
