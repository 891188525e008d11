"""The engines clockwork knows: one module per engine, listed once in ``CATALOG``.

An engine is recognised from a resource's image (``postgres:15-alpine``,
``docker.io/library/redis:7``, ``valkey/valkey:8``). Its module owns everything
engine-specific: default port, readiness probe, URL (and the schemes a query URL names it
by) and the variable a plain ``connect()`` injects, credentials from the image's env
contract, data directory, the migrator (client, lexer, environment, driver template, lock,
history table) and how ``assert`` reaches it.

A new engine is one more module here, one more entry in ``CATALOG`` and, when it has
migrations, a lexer module here (``<engine>_lexer.py``, its ``DIALECT``) and one driver
template in ``templates/``. An image no engine recognises runs as
a plain container.
"""

from __future__ import annotations

from . import mariadb, postgres, rabbitmq, redis
from ._engine import Credentials, Engine, ExecIn, Migrator, Refusal, Snapshots, repository_name

CATALOG: tuple[Engine, ...] = (postgres.ENGINE, redis.ENGINE, mariadb.ENGINE, rabbitmq.ENGINE)
#: The engine of a migration plan or driver that names none (``plan_for(folder)``).
DEFAULT_MIGRATIONS: Engine = postgres.ENGINE

__all__ = [
    "CATALOG",
    "DEFAULT_MIGRATIONS",
    "Credentials",
    "Engine",
    "ExecIn",
    "Migrator",
    "Refusal",
    "Snapshots",
    "engine_for_image",
    "engine_for_url",
    "engine_named",
    "migrating_engine",
    "repository_name",
    "unknown_scheme",
    "url_schemes",
    "with_migrations",
]


def engine_for_image(image: str | None) -> Engine | None:
    """The engine that runs ``image``; None for an image clockwork does not know."""
    if not image:
        return None
    return next((engine for engine in CATALOG if engine.recognises(image)), None)


def engine_for_url(url: str) -> Engine | None:
    """The engine the URL's scheme names (``postgresql://``, ``mysql://``...), or None."""
    scheme = url.split("://", 1)[0].lower() if "://" in url else ""
    return next((engine for engine in CATALOG if scheme in engine.url_schemes), None)


def url_schemes() -> tuple[str, ...]:
    """Every scheme an engine can be queried through, for messages."""
    return tuple(scheme for engine in CATALOG for scheme in engine.url_schemes)


def unknown_scheme(url: str) -> tuple[str, str]:
    """What is wrong with a query URL no engine claims, and the fix (never the URL itself:
    it may hold a password)."""
    scheme = url.split("://", 1)[0] if "://" in url else ""
    named = f"scheme {scheme}://" if scheme else "no scheme"
    known = ", ".join(f"{s}://" for s in url_schemes())
    return f"the url has {named}, which names no engine clockwork can query", f"start it with one of {known}"


def engine_named(name: str | None) -> Engine | None:
    """The engine called ``name`` (as the model records it), or None."""
    return next((engine for engine in CATALOG if engine.name == name), None)


def migrating_engine(engine: Engine | str | None) -> Engine:
    """The engine ``engine`` names (an engine, its name, or None for the default), which must
    run migrations; ValueError otherwise."""
    found = engine_named(engine) if isinstance(engine, str) else engine or DEFAULT_MIGRATIONS
    if found is None or found.migrator is None:
        raise ValueError(f"no migrations for engine {engine!r}")
    return found


def with_migrations() -> tuple[str, ...]:
    """The names of the engines that run schema files and migrations."""
    return tuple(engine.name for engine in CATALOG if engine.migrator is not None)
