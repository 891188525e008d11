"""FastAPI backend of the connected-services example.

Reads DATABASE_URL (postgresql://user:password@host:port/db) and REDIS_URL
(redis://host:port/db) from the environment, both injected by Clockwork.
Serve with: uvicorn app:app --host 0.0.0.0 --port 80
"""

import inspect
import logging
import os
import time
from contextlib import asynccontextmanager
from urllib.parse import unquote, urlsplit

import psycopg
import redis
from fastapi import FastAPI
from fastapi.responses import JSONResponse

# Own handler, not the root logger: uvicorn's loggers propagate to root on some versions.
log = logging.getLogger("api-server")
_handler = logging.StreamHandler()
_handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
log.addHandler(_handler)
log.setLevel(logging.INFO)
log.propagate = False

DATABASE_URL = os.environ.get("DATABASE_URL", "")
REDIS_URL = os.environ.get("REDIS_URL", "redis://redis-cache:6379/0")
STARTUP_TIMEOUT = float(os.environ.get("STARTUP_TIMEOUT", "30"))


def describe_db(url: str) -> str:
    """host:port/db and user of a database URL, never the password."""
    parts = urlsplit(url)
    user = unquote(parts.username or "")
    return f"database {parts.path.lstrip('/') or '?'} at {parts.hostname}:{parts.port or 5432} as {user or '?'}"


def describe_redis(url: str) -> str:
    parts = urlsplit(url)
    return f"Redis at {parts.hostname}:{parts.port or 6379}/{parts.path.lstrip('/') or '0'}"


def check_database() -> None:
    if not DATABASE_URL:
        raise RuntimeError("DATABASE_URL is not set")
    with psycopg.connect(DATABASE_URL, connect_timeout=3) as conn:
        conn.execute("SELECT 1").fetchone()


redis_client = redis.Redis.from_url(
    REDIS_URL, socket_timeout=3, socket_connect_timeout=3, decode_responses=True
)


def check_redis() -> None:
    if not redis_client.ping():
        raise RuntimeError("PING did not return PONG")


def wait_for(name: str, check, description: str) -> None:
    """Log once when `check` succeeds; retry until STARTUP_TIMEOUT, then carry on."""
    deadline = time.monotonic() + STARTUP_TIMEOUT
    while True:
        try:
            check()
            log.info("Connected to %s", description)
            return
        except Exception as exc:  # noqa: BLE001 - report any driver error
            if time.monotonic() >= deadline:
                log.error("Could not connect to %s: %s", name, exc)
                return
            time.sleep(1)


def startup() -> None:
    wait_for("database", check_database, describe_db(DATABASE_URL))
    wait_for("Redis", check_redis, describe_redis(REDIS_URL))


# FastAPI >= 0.93 takes a lifespan; older ones (Debian bookworm's 0.92) use on_startup.
if "lifespan" in inspect.signature(FastAPI.__init__).parameters:

    @asynccontextmanager
    async def lifespan(_app):
        startup()
        yield

    app = FastAPI(title="connected-services api-server", lifespan=lifespan)
else:
    app = FastAPI(title="connected-services api-server", on_startup=[startup])


@app.get("/")
def root():
    return {"service": "api-server", "endpoints": ["/health", "/users"]}


@app.get("/health")
def health():
    body = {"status": "ok", "database": "ok", "redis": "ok"}
    for name, check in (("database", check_database), ("redis", check_redis)):
        try:
            check()
        except Exception as exc:  # noqa: BLE001
            body[name] = f"error: {exc}"
            body["status"] = "error"
    return JSONResponse(body, status_code=200 if body["status"] == "ok" else 503)


@app.get("/users")
def users():
    try:
        with psycopg.connect(DATABASE_URL, connect_timeout=3) as conn:
            cur = conn.execute(
                "SELECT id, username, email, created_at FROM users ORDER BY id LIMIT 100"
            )
            rows = [
                {"id": r[0], "username": r[1], "email": r[2],
                 "created_at": r[3].isoformat() if r[3] else None}
                for r in cur.fetchall()
            ]
    except Exception as exc:  # noqa: BLE001
        return JSONResponse({"error": str(exc)}, status_code=503)
    return {"users": rows}
