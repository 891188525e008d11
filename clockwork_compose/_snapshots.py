"""Snapshots: a dump of a migrated database taken before its migrator applies pending files,
listed by `clockwork snapshots` and loaded back by `clockwork restore` (Compose only).

Design: apply takes the dump itself, before `compose up` starts the migrator, in a throwaway
container of the database's own image (its clients: pg_dump, mariadb-dump) that shares the
database container's network (the server is on 127.0.0.1) and mounts the volume
``<database>_snapshots``. The migrator and the compose file stay as they are, so
``apply --snapshot`` needs nothing declared; ``snapshot=True`` also declares the volume, so
that Compose owns it. Apply creates the volume, labelled as Compose labels it, when missing;
`destroy` removes it with the project's other volumes (``--keep-volumes`` keeps it).

A dump is taken only when there is something to lose: the database's container runs, its
history table holds at least one record, and a planned migration is not recorded yet. Its
name is the UTC time and the first pending migration (``20261203T061502Z-before-002_drop.pgdump``);
it is written under a temporary name and renamed once complete, so a listed snapshot is whole.
Restore never deletes a snapshot.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from . import _docker
from ._engines import Snapshots, engine_named
from ._errors import DeclarationError, RuntimeFailure
from ._history import records
from ._lower import snapshot_volume
from ._model import DatabaseTarget, Project

_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]+")
_NAME = re.compile(r"(?P<when>\d{8}T\d{6}Z)-before-(?P<before>.+)")
#: Prints ``size mtime name`` per file in the volume.
_LIST = 'for f in *; do [ -f "$f" ] && stat -c "%s %Y %n" "$f"; done; true'


@dataclass(frozen=True)
class Snapshot:
    name: str
    #: The database resource (its service) it is a dump of.
    database: str
    #: Bytes.
    size: int
    #: When it was taken, UTC: ``2026-12-03T06:15:02Z``.
    taken_at: str
    #: The migration it precedes (as the file name spells it).
    before: str
    volume: str
    #: Seconds the dump took (0 when listed, not taken).
    seconds: float = 0.0


@dataclass(frozen=True)
class Restored:
    snapshot: Snapshot
    #: Apps stopped while the database was replaced, then started again.
    restarted: tuple[str, ...]
    #: Migrations recorded after the snapshot: no longer recorded (the next apply runs those
    #: still in the folder again).
    discarded: tuple[str, ...]
    seconds: float
    #: The checks of `clockwork assert`, run afterwards (an ``AssertReport``).
    checks: Any


def volume_of(project: str, database: str) -> str:
    return f"{project}_{snapshot_volume(database)}"


def file_name(when: datetime, before: str, suffix: str) -> str:
    """``20261203T061502Z-before-002_drop_note.sql.pgdump``: sorts by time; shell-safe."""
    return f"{when.astimezone(UTC):%Y%m%dT%H%M%SZ}-before-{_UNSAFE.sub('_', before)}{suffix}"


def migrated(project: Project) -> dict[str, DatabaseTarget]:
    """One target per database with migrations whose engine can be dumped, by service."""
    found: dict[str, DatabaseTarget] = {}
    for target in project.databases:
        engine = engine_named(target.engine)
        dumpable = target.migrations is not None and engine is not None and engine.snapshots is not None
        if dumpable and (target.snapshot or target.service not in found):
            found[target.service] = target
    return found


# -- apply: before the migrator runs --------------------------------------------------------


def take(
    project: Project,
    folder: Path,
    env: Mapping[str, str],
    engine: _docker.Engine,
    requested: bool = False,
    now: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> tuple[Snapshot, ...]:
    """Dump each database declared ``snapshot=True`` (every migrated one when ``requested``:
    ``apply --snapshot``) that holds applied migrations and has one pending. RuntimeFailure,
    before anything changed, when one exists but does not run (it cannot be dumped)."""
    taken = []
    volumes = {v.name for v in engine.volumes(project.name)}
    for service, target in sorted(migrated(project).items()):
        if not (requested or target.snapshot):
            continue
        container = project.services[service].container
        state = engine.container(container)
        if state is None:
            continue  # never created: no data yet
        if state.status != "running":
            raise RuntimeFailure(
                f"{service} is {state.status}, so apply cannot take the snapshot asked for before its migrations run: "
                f"start it (`docker start {container}`) and apply again"
            )
        before = pending(target, dict(env), engine)
        if before is None:
            continue
        volume = volume_of(project.name, service)
        if volume not in volumes:
            engine.create_volume(volume, _labels(project.name, service, folder))
        taken.append(_dump(target, container, state.image, volume, before, env, engine, now()))
    return tuple(taken)


def pending(target: DatabaseTarget, env: dict[str, str], engine: _docker.Containers) -> str | None:
    """The first planned migration not recorded, when some are: None on a database with no
    record (nothing to lose) or nothing pending."""
    applied = records(target, env, engine, inside=True)
    if not applied or target.migrations is None:
        return None
    return next((m for m in target.migrations.migration_files if m not in applied), None)


def _labels(project: str, service: str, folder: Path) -> dict[str, str]:
    return {
        _docker.PROJECT_LABEL: project,
        _docker.VOLUME_LABEL: snapshot_volume(service),
        _docker.OWNER_LABEL: str(folder),
    }


def _spec(target: DatabaseTarget) -> Snapshots:
    engine = engine_named(target.engine)
    assert engine is not None and engine.snapshots is not None
    return engine.snapshots


def _dump(
    target: DatabaseTarget,
    container: str,
    image: str,
    volume: str,
    before: str,
    env: Mapping[str, str],
    engine: _docker.Engine,
    when: datetime,
) -> Snapshot:
    spec = _spec(target)
    name = file_name(when, before, spec.suffix)
    started = time.monotonic()
    size = engine.run_with_volume(
        image,
        volume,
        f'{spec.dump}; stat -c %s "$1"',
        [name],
        beside=container,
        env=spec.environment(target, env),
        action=f"dumping {target.service} into {volume}",
    )
    return Snapshot(
        name,
        target.service,
        int(size.split()[-1]),
        f"{when.astimezone(UTC):%Y-%m-%dT%H:%M:%SZ}",
        before,
        volume,
        time.monotonic() - started,
    )


# -- `clockwork snapshots` ------------------------------------------------------------------


def listed(project: Project, engine: _docker.Engine) -> list[Snapshot]:
    """Every snapshot in the volumes of the project's migrated databases, oldest first per
    database. Reads only; a volume that does not exist is not created."""
    volumes = {v.name for v in engine.volumes(project.name)}
    found: list[Snapshot] = []
    for service, target in sorted(migrated(project).items()):
        volume = volume_of(project.name, service)
        if volume not in volumes:
            continue
        state = engine.container(project.services[service].container)  # its image, also when built here
        image = state.image if state is not None and state.image else project.services[service].image or ""
        out = engine.run_with_volume(image, volume, _LIST, readonly=True, action=f"listing {volume}")
        suffix = _spec(target).suffix
        for line in out.splitlines():
            size, mtime, name = line.split(" ", 2)
            if name.endswith(suffix):
                found.append(_parsed(name, service, int(size), int(mtime), volume, suffix))
    return sorted(found, key=lambda s: (s.database, s.name))


def _parsed(name: str, service: str, size: int, mtime: int, volume: str, suffix: str) -> Snapshot:
    match = _NAME.fullmatch(name.removesuffix(suffix))
    if match is None:  # a file someone put there: its time is when it was written
        when = datetime.fromtimestamp(mtime, UTC)
        return Snapshot(name, service, size, f"{when:%Y-%m-%dT%H:%M:%SZ}", "", volume)
    when = datetime.strptime(match["when"], "%Y%m%dT%H%M%SZ")
    return Snapshot(name, service, size, f"{when:%Y-%m-%dT%H:%M:%SZ}", match["before"], volume)


# -- `clockwork restore` --------------------------------------------------------------------


def find(snapshots: Sequence[Snapshot], name: str) -> Snapshot:
    """The snapshot named ``name`` (``DATABASE/NAME`` where two databases hold one name)."""
    database, _, file = name.rpartition("/")
    found = [s for s in snapshots if s.name == file and database in ("", s.database)]
    if len(found) == 1:
        return found[0]
    if found:
        options = ", ".join(f"{s.database}/{s.name}" for s in found)
        raise DeclarationError(
            None, "SNAPSHOT", f"{name} names a snapshot of several databases", f"give one of {options}"
        )
    raise DeclarationError(None, "SNAPSHOT", f"no snapshot is named {name}", "list them with `clockwork snapshots`")


def newer(snapshot: Snapshot, target: DatabaseTarget, env: dict[str, str], engine: _docker.Containers) -> list[str]:
    """Migrations recorded after the snapshot was taken (restoring discards them)."""
    applied = records(target, env, engine, inside=True)
    return sorted(v for v, r in applied.items() if r.applied_at and r.applied_at >= snapshot.taken_at)


def refusal(snapshot: Snapshot, discarded: Sequence[str]) -> DeclarationError:
    """Restore replaces everything written since the snapshot: asked for by name."""
    since = f"migrations applied since: {', '.join(discarded)}" if discarded else "and any other writes since"
    return DeclarationError(
        None,
        "--discard-newer",
        f"restoring {snapshot.name} replaces {snapshot.database}'s database with its state at {snapshot.taken_at} "
        f"and loses what was written since ({since})",
        f"to go ahead, run `clockwork restore {snapshot.name} --discard-newer`",
    )


def dependants(project: Project, database: str) -> list[str]:
    """The apps (not migrators) that depend on ``database``, directly or not, in start-up order."""
    found: set[str] = set()
    order = _start_order(project)
    for name in order:
        deps = project.services[name].depends_on
        if database in deps or found.intersection(deps):
            found.add(name)
    return [project.services[n].container for n in order if n in found and project.services[n].migrator is None]


def _start_order(project: Project) -> list[str]:
    from ._targets.compose.runtime import dependency_order

    return dependency_order(project)


def load(
    snapshot: Snapshot,
    project: Project,
    target: DatabaseTarget,
    env: Mapping[str, str],
    engine: _docker.Engine,
) -> tuple[str, ...]:
    """Stop the running apps that use the database, drop and recreate it, load the dump, and
    start the apps again (also when loading failed: they find what there is). The stopped
    apps."""
    container = project.services[target.service].container
    state = engine.container(container)
    if state is None or state.status != "running":
        raise RuntimeFailure(f"{target.service} is not running: start the stack with `clockwork apply`, then restore")
    running = {s.name for s in engine.containers_named(dependants(project, target.service)) if s.status == "running"}
    stopped = [c for c in dependants(project, target.service) if c in running]
    engine.stop_containers(list(reversed(stopped)))
    try:
        engine.run_with_volume(
            state.image,
            snapshot.volume,
            _spec(target).restore,
            [snapshot.name],
            beside=container,
            env=_spec(target).environment(target, env),
            readonly=True,
            action=f"restoring {target.service} from {snapshot.name}",
        )
    finally:
        engine.start_containers(stopped)
    return tuple(stopped)


# -- the commands ---------------------------------------------------------------------------


def snapshots(project_dir: Path, engine: _docker.Engine = _docker.DOCKER) -> list[Snapshot]:
    """`clockwork snapshots`: the snapshots of the folder's project."""
    from . import _api

    engine.engine_info()
    project, _, _ = _api.compile_project(project_dir)
    return listed(project, engine)


def restore(
    project_dir: Path,
    name: str,
    discard_newer: bool = False,
    timeout: float = 60.0,
    engine: _docker.Engine = _docker.DOCKER,
) -> Restored:
    """`clockwork restore`: the database as it was at the snapshot, its apps back, and the
    checks of `clockwork assert`. Refused (DeclarationError, nothing changed) without
    ``discard_newer``: what was written since the snapshot is lost."""
    from . import _api, _envfile
    from ._targets.compose import runtime

    engine.engine_info()
    project, _, path = _api.compile_project(project_dir)
    env = _envfile.run_values(path.parent)
    snapshot = find(listed(project, engine), name)
    target = migrated(project)[snapshot.database]
    discarded = newer(snapshot, target, env, engine)
    if not discard_newer:
        raise refusal(snapshot, discarded)
    started = time.monotonic()
    with _docker.project_lock(project.name, "restore"):
        stopped = load(snapshot, project, target, env, engine)
    seconds = time.monotonic() - started
    checks = runtime.check(project_dir, _api.compile_project, timeout, engine)
    return Restored(snapshot, stopped, tuple(discarded), seconds, checks)
