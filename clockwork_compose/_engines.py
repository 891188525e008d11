"""The catalog of engines clockwork knows: one entry per engine, in one place.

An engine is recognised from a resource's image (``postgres:15-alpine``,
``docker.io/library/redis:7``, ``valkey/valkey:8``). Each entry says its default port,
how to tell it is ready, its connection URL, where it keeps data and how migrations run.
A new engine is one more ``Engine(...)`` in ``CATALOG``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

from ._model import EnvValue


@dataclass(frozen=True)
class Credentials:
    """Who a connection logs in as, read from the database resource's own settings."""

    user: EnvValue
    password: EnvValue
    database: EnvValue


@dataclass(frozen=True)
class Engine:
    name: str
    #: Image repository names (last path component) that run this engine.
    images: tuple[str, ...]
    default_port: int
    #: The engine's usual URL, with clockwork's placeholders.
    url_template: str
    #: The variable a plain ``connect()`` injects.
    url_env_var: str
    data_dir: str
    #: Healthcheck ``test`` that is only true once the engine really serves clients over TCP.
    readiness: Callable[[Credentials, int], list[EnvValue]]
    #: The engine's defaults for user, password and database, from its image's contract.
    credentials: Callable[[Mapping[str, EnvValue]], Credentials]
    #: Client that applies SQL files inside the engine's own image; None: no migrations.
    migration_client: str | None = None


def _postgres_credentials(env: Mapping[str, EnvValue]) -> Credentials:
    user = env.get("POSTGRES_USER", "postgres")
    return Credentials(user, env.get("POSTGRES_PASSWORD", ""), env.get("POSTGRES_DB", user))


def _postgres_ready(creds: Credentials, port: int) -> list[EnvValue]:
    # Over TCP: during initdb the official image listens on its Unix socket only.
    return ["CMD", "pg_isready", "-h", "127.0.0.1", "-p", str(port), "-U", creds.user, "-d", creds.database]


def _redis_ready(creds: Credentials, port: int) -> list[EnvValue]:
    # `redis-cli ping` exits 0 on LOADING or NOAUTH errors: require the PONG itself.
    return ["CMD-SHELL", f"redis-cli -h 127.0.0.1 -p {port} ping | grep -q PONG"]


POSTGRES = Engine(
    name="postgres",
    images=("postgres", "postgis"),
    default_port=5432,
    url_template="postgresql://{user}:{password}@{host}:{port}/{database}",
    url_env_var="DATABASE_URL",
    data_dir="/var/lib/postgresql/data",
    readiness=_postgres_ready,
    credentials=_postgres_credentials,
    migration_client="psql",
)

REDIS = Engine(
    name="redis",
    images=("redis", "valkey", "redis-stack-server"),
    default_port=6379,
    url_template="redis://{host}:{port}/0",
    url_env_var="REDIS_URL",
    data_dir="/data",
    readiness=_redis_ready,
    credentials=lambda env: Credentials("", "", "0"),
)

CATALOG: tuple[Engine, ...] = (POSTGRES, REDIS)


def repository_name(image: str) -> str:
    """``docker.io/library/postgres:15-alpine@sha256:...`` -> ``postgres``."""
    without_digest = image.split("@", 1)[0]
    last = without_digest.rsplit("/", 1)[-1]
    return last.split(":", 1)[0]


def engine_for_image(image: str | None) -> Engine | None:
    if not image:
        return None
    repository = repository_name(image)
    for engine in CATALOG:
        if repository in engine.images:
            return engine
    return None
