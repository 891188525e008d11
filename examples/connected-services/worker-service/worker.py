"""Background worker of the connected-services example.

Connects to REDIS_URL, then loops: refreshes a heartbeat key every few seconds
and processes jobs pushed onto a Redis list (RPUSH jobs '<payload>').
Stops within about a second on SIGTERM/SIGINT.
"""

import json
import logging
import os
import signal
import socket
import sys
import time
from urllib.parse import urlsplit

import redis

logging.basicConfig(
    level=logging.INFO,
    format="%(asctime)s %(levelname)s worker-service: %(message)s",
    stream=sys.stdout,
)
log = logging.getLogger("worker-service")

REDIS_URL = os.environ.get("REDIS_URL", "redis://redis-cache:6379/0")
QUEUE = os.environ.get("WORKER_QUEUE", "jobs")
HEARTBEAT_KEY = os.environ.get("WORKER_HEARTBEAT_KEY", "worker:heartbeat")
HEARTBEAT_INTERVAL = float(os.environ.get("WORKER_HEARTBEAT_INTERVAL", "5"))
POLL_TIMEOUT = 1  # seconds BLPOP blocks; bounds how long a stop request waits

stopping = None  # name of the signal that asked us to stop


def request_stop(signum, _frame):
    # Only set a flag here; the loop notices it within POLL_TIMEOUT.
    global stopping
    stopping = signal.Signals(signum).name


def connect() -> redis.Redis:
    parts = urlsplit(REDIS_URL)
    where = f"{parts.hostname}:{parts.port or 6379}/{parts.path.lstrip('/') or '0'}"
    client = redis.Redis.from_url(
        REDIS_URL, socket_timeout=POLL_TIMEOUT + 5, socket_connect_timeout=3, decode_responses=True
    )
    while not stopping:
        try:
            client.ping()
            log.info("Connected to Redis at %s", where)
            return client
        except redis.RedisError as exc:
            log.warning("Waiting for Redis at %s: %s", where, exc)
            time.sleep(1)
    log.info("Received %s before connecting, exiting", stopping)
    sys.exit(0)


def heartbeat(client: redis.Redis) -> None:
    value = json.dumps({"ts": time.time(), "host": socket.gethostname(), "pid": os.getpid()})
    client.set(HEARTBEAT_KEY, value, ex=int(HEARTBEAT_INTERVAL * 3))


def process(payload: str) -> None:
    log.info("Processing job from %r: %s", QUEUE, payload)
    # Real work would go here.
    log.info("Job done: %s", payload)


def main() -> int:
    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)
    client = connect()
    log.info("Waiting for jobs on list %r (heartbeat key %r every %.0fs)",
             QUEUE, HEARTBEAT_KEY, HEARTBEAT_INTERVAL)
    next_beat = 0.0
    while not stopping:
        try:
            if time.monotonic() >= next_beat:
                heartbeat(client)
                next_beat = time.monotonic() + HEARTBEAT_INTERVAL
            item = client.blpop([QUEUE], timeout=POLL_TIMEOUT)
            if item is not None:
                process(item[1])
                client.incr("worker:jobs_processed")
        except redis.RedisError as exc:
            log.warning("Redis error: %s; retrying", exc)
            time.sleep(1)
    log.info("Received %s, worker stopped", stopping)
    return 0


if __name__ == "__main__":
    sys.exit(main())
