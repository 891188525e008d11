"""`clockwork migrations clear-failed`: forget the records of migrations that failed.

On an engine whose DDL is not transactional (MariaDB, MySQL), a migration that fails half
way is recorded ``failed`` and every later apply refuses to run. Once the user has fixed
the database by hand (undone or finished what the file's first statements did), this
removes those records, so that the next ``clockwork apply`` runs the files again. Engines
whose driver never leaves an unfinished record (postgres) have nothing to clear.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from . import _api, _docker, _envfile
from ._engines import engine_named
from ._errors import DeclarationError, RuntimeFailure
from ._model import DatabaseTarget


@dataclass(frozen=True)
class Cleared:
    database: str
    #: (record name, state) of each record removed.
    records: tuple[tuple[str, str], ...]


def clear_failed(
    project_dir: Path, database: str | None = None, engine: _docker.Containers = _docker.DOCKER
) -> list[Cleared]:
    """Remove the unfinished migration records of each migrated database (or of ``database``)
    of the running project; what was removed, per database. ``engine`` answers the
    containers and runs the client in them (a unit test passes a fake)."""
    engine.engine_info()
    project, _, path = _api.compile_project(project_dir)
    env = _envfile.run_values(path.parent)  # .env, overridden by the environment, as apply reads them
    targets = _migrated(project.databases)
    if database is not None:
        if database not in targets:
            known = ", ".join(sorted(targets)) or "none"
            raise DeclarationError(
                database, "--database", "no migrated database has this name", f"give one of: {known}"
            )
        targets = {database: targets[database]}
    return [_clear(target, env, engine) for _, target in sorted(targets.items())]


def _migrated(databases: list[DatabaseTarget]) -> dict[str, DatabaseTarget]:
    found: dict[str, DatabaseTarget] = {}
    for target in databases:
        if target.migrations is not None:
            found.setdefault(target.service, target)
    return found


def _clear(target: DatabaseTarget, env: dict[str, str], docker: _docker.Containers) -> Cleared:
    engine = engine_named(target.engine)
    migrator = engine.migrator if engine is not None else None
    if engine is None or migrator is None:
        return Cleared(target.service, ())
    unfinished, clear = migrator.unfinished_sql(), migrator.clear_sql()
    if unfinished is None or clear is None:
        return Cleared(target.service, ())
    state = docker.container(target.service)
    if state is None or state.status != "running":
        raise RuntimeFailure(
            f"{target.service} is not running: start it with `clockwork apply` (its migrator will refuse, "
            "the database starts), then clear the failed migrations"
        )

    def run(sql: str) -> list[tuple[object, ...]]:
        return engine.query(target, env, sql, lambda name, argv, extra: docker.exec_in(name, argv, env=extra))

    try:
        rows = run(unfinished)
    except RuntimeFailure as exc:
        if migrator.history_table in str(exc) and "doesn't exist" in str(exc):
            return Cleared(target.service, ())  # never migrated: nothing recorded
        raise
    if rows:
        run(clear)
    return Cleared(target.service, tuple((str(r[0]), str(r[1]) if len(r) > 1 else "") for r in rows))


@dataclass(frozen=True)
class Record:
    """One applied migration, as the migrator recorded it."""

    checksum: str
    applied_at: str


class _Inside:
    """Runs the engine's client in the database's container (``inside_only``: never through a
    host port, which the database may not publish)."""

    inside_only = True

    def __init__(self, docker: _docker.Containers) -> None:
        self.docker = docker

    def __call__(self, name: str, argv: Sequence[str], extra: Mapping[str, str]) -> str:
        return self.docker.exec_in(name, argv, env=extra)


def records(
    target: DatabaseTarget, env: dict[str, str], docker: _docker.Containers, inside: bool = False
) -> dict[str, Record]:
    """The applied records in the target's history table (none before its first migration).
    Reads only. RuntimeFailure when its database is not running or cannot be read.
    ``inside``: query with the client in the database's container, whatever the engine's way."""
    engine = engine_named(target.engine)
    migrator = engine.migrator if engine is not None else None
    if engine is None or migrator is None:
        return {}
    state = docker.container(target.service)
    if state is None or state.status != "running":
        raise RuntimeFailure(f"{target.service} is not running: start the stack with `clockwork apply`")
    try:
        through = _Inside(docker) if inside else lambda name, argv, extra: docker.exec_in(name, argv, env=extra)
        rows = engine.query(target, env, migrator.history_sql(), through)
    except LookupError as exc:
        raise RuntimeFailure(f"{target.service}: clockwork cannot read its migrations: {exc}") from None
    except Exception as exc:  # psycopg's errors, the client's: one line
        said = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        if migrator.history_table in said and ("does not exist" in said or "doesn't exist" in said):
            return {}  # never migrated
        raise RuntimeFailure(f"{target.service}: reading {migrator.history_table} failed: {said}") from None
    return {str(row[0]): Record(str(row[1]), _when(row[2])) for row in rows}


def _when(value: object) -> str:
    """A record's time as one word: ``2026-12-03T05:18:10Z`` (UTC)."""
    import datetime

    if isinstance(value, datetime.datetime):
        if value.tzinfo is not None:
            value = value.astimezone(datetime.UTC).replace(tzinfo=None)
        return value.replace(microsecond=0).isoformat() + "Z"
    text = str(value).strip()
    return text.replace(" ", "T")[:19] + "Z" if text and text != "NULL" else ""
