"""`clockwork migrations clear-failed`: forget the records of migrations that failed.

On an engine whose DDL is not transactional (MariaDB, MySQL), a migration that fails half
way is recorded ``failed`` and every later apply refuses to run. Once the user has fixed
the database by hand (undone or finished what the file's first statements did), this
removes those records, so that the next ``clockwork apply`` runs the files again. Engines
whose driver never leaves an unfinished record (postgres) have nothing to clear.
"""

from __future__ import annotations

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
