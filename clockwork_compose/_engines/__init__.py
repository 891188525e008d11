"""The engines clockwork knows: one module per engine, listed once in ``CATALOG``.

An engine is recognised from a resource's image (``postgres:15-alpine``,
``docker.io/library/redis:7``, ``valkey/valkey:8``). Its module owns everything
engine-specific: default port, readiness probe, URL and the variable a plain ``connect()``
injects, credentials from the image's env contract, data directory, the migrator (client,
environment, driver template, lock, history table) and how ``assert`` reaches it.

A new engine is one more module here, one more entry in ``CATALOG`` and, when it has
migrations, one driver template in ``templates/``. An image no engine recognises runs as
a plain container.
"""

from __future__ import annotations

from . import mariadb, postgres, rabbitmq, redis
from ._engine import Credentials, Engine, ExecIn, Migrator, Refusal, repository_name

CATALOG: tuple[Engine, ...] = (postgres.ENGINE, redis.ENGINE, mariadb.ENGINE, rabbitmq.ENGINE)

__all__ = [
    "CATALOG",
    "Credentials",
    "Engine",
    "ExecIn",
    "Migrator",
    "Refusal",
    "engine_for_image",
    "engine_named",
    "repository_name",
    "with_migrations",
]


def engine_for_image(image: str | None) -> Engine | None:
    """The engine that runs ``image``; None for an image clockwork does not know."""
    if not image:
        return None
    return next((engine for engine in CATALOG if engine.recognises(image)), None)


def engine_named(name: str | None) -> Engine | None:
    """The engine called ``name`` (as the model records it), or None."""
    return next((engine for engine in CATALOG if engine.name == name), None)


def with_migrations() -> tuple[str, ...]:
    """The names of the engines that run schema files and migrations."""
    return tuple(engine.name for engine in CATALOG if engine.migrator is not None)
