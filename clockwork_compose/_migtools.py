"""`clockwork migrations status`, `new` and `lint`: the migrations folder as the user sees it.

``status`` and ``lint`` read the running project's history table (``_history.records``, the
way ``clear-failed`` reaches it) and never write to it. ``status`` needs the database: with
the stack down it says so and fails, since a volume kept from an earlier run may hold
applied migrations that "all pending" would hide. ``lint`` does without: it then reads every
file as pending and says so. ``new`` needs no database: it names the next file after the
convention the folder follows (``_migrations.plan_for`` decided it at build).
"""

from __future__ import annotations

import datetime
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from . import _api, _docker, _envfile, _history, _lint
from ._errors import DeclarationError, RuntimeFailure
from ._migrations import MIGRATIONS, Plan, Step
from ._model import DatabaseTarget, Project

# -- status ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class FileStatus:
    #: The record name (the file's base name; ``schema:<name>`` for the schema file).
    version: str
    #: Where the file is, relative to the project folder ("" when it is missing).
    path: str
    state: str  # applied | pending | changed | missing
    applied_at: str = ""


@dataclass(frozen=True)
class DatabaseStatus:
    database: str
    convention: str
    files: tuple[FileStatus, ...]

    def count(self, state: str) -> int:
        return sum(1 for f in self.files if f.state == state)


def status(project_dir: Path, docker: _docker.Containers = _docker.DOCKER) -> list[DatabaseStatus]:
    """Each migrated database's files against its history table. RuntimeFailure when the
    engine does not answer or a database is not running."""
    docker.engine_info()
    project, targets, env = _project(project_dir)
    return [_status(target, env, docker) for target in targets]


def _project(project_dir: Path) -> tuple[Project, list[DatabaseTarget], dict[str, str]]:
    project, _, path = _api.compile_project(project_dir)
    env = _envfile.run_values(path.parent)
    seen: dict[str, DatabaseTarget] = {}
    for target in project.databases:
        if target.migrations is not None and target.migrations.plan is not None:
            seen.setdefault(target.service, target)
    return project, [seen[name] for name in sorted(seen)], env


def _plan(target: DatabaseTarget) -> Plan:
    assert target.migrations is not None and target.migrations.plan is not None
    return target.migrations.plan


def _status(target: DatabaseTarget, env: dict[str, str], docker: _docker.Containers) -> DatabaseStatus:
    plan = _plan(target)
    recorded = _history.records(target, env, docker)
    files = []
    for step in plan.steps:
        shown = _shown(target, step)
        record = recorded.pop(step.version, None)
        if record is None:
            files.append(FileStatus(step.version, shown, "pending"))
        elif record.checksum in (step.checksum, *step.legacy):
            files.append(FileStatus(step.version, shown, "applied", record.applied_at))
        else:
            files.append(FileStatus(step.version, shown, "changed", record.applied_at))
    files += [FileStatus(version, "", "missing", r.applied_at) for version, r in sorted(recorded.items())]
    return DatabaseStatus(target.service, plan.convention, tuple(files))


def _shown(target: DatabaseTarget, step: Step) -> str:
    """The step's file relative to the project folder."""
    migrations = target.migrations
    assert migrations is not None
    if step.kind == "schema":
        return migrations.schema_file or step.path
    folder = (migrations.migrations_dir or "").rstrip("/")
    return f"{folder}/{step.path.removeprefix(MIGRATIONS + '/')}"


# -- lint -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class LintReport:
    findings: tuple[_lint.Finding, ...]
    #: One line per database whose history could not be read (every file was linted).
    notes: tuple[str, ...]


def lint(project_dir: Path, docker: _docker.Containers = _docker.DOCKER) -> LintReport:
    """The findings in each migrated database's pending files (not applied, or changed since);
    every file of a database clockwork cannot read (stack down, no engine), with a note."""
    project, targets, env = _project(project_dir)
    try:
        docker.engine_info()
        down: str | None = None
    except RuntimeFailure as exc:
        down = str(exc).splitlines()[0]
    findings: list[_lint.Finding] = []
    notes = []
    for target in targets:
        plan = _plan(target)
        steps = list(plan.steps)
        if down is None:
            try:
                current = _status(target, env, docker)
                pending = {f.version for f in current.files if f.state in ("pending", "changed")}
                steps = [s for s in steps if s.version in pending]
            except RuntimeFailure as exc:
                notes.append(f"{target.service}: linting every file as if none were applied ({exc})")
        else:
            notes.append(f"{target.service}: linting every file as if none were applied (no Docker engine: {down})")
        findings += _lint.lint_target(project_dir, target, steps)
    return LintReport(tuple(findings), tuple(notes))


# -- new ------------------------------------------------------------------------------------

_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]*")
_LEADING_NUMBER = re.compile(r"(?P<version>[0-9]+)_")
_FLYWAY_VERSION = re.compile(r"V(?P<version>[0-9]+(?:[._][0-9]+)*)__")
#: Version length from which a number is a date and time (``20240131120000``).
_TIMESTAMP_DIGITS = 14
_EPOCH_DIGITS = 10


def new(
    project_dir: Path,
    name: str,
    database: str | None = None,
    now: Callable[[], datetime.datetime] | None = None,
) -> list[Path]:
    """Create the next migration file(s) of ``name`` in the database's migrations folder, in
    the convention the folder follows; never over an existing file. The paths created."""
    slug = "_".join(name.split())
    if not _NAME.fullmatch(slug):
        raise DeclarationError(
            None, "NAME", f"{name!r} cannot be part of a migration's file name", "use letters, digits, _ and - only"
        )
    _, targets, _ = _project(project_dir)
    target = _one(targets, database)
    migrations = target.migrations
    assert migrations is not None
    if migrations.migrations_dir is None:
        raise DeclarationError(
            target.service, "migrations_dir", "the database has a schema file and no migrations folder", "set one"
        )
    folder = project_dir / migrations.migrations_dir
    clock = now or (lambda: datetime.datetime.now(datetime.UTC))
    files = _files_for(_plan(target).convention, folder, slug, clock)
    for path, _ in files:
        if path.exists():
            raise DeclarationError(
                None, "NAME", f"{path} exists already and clockwork never overwrites a migration", "give another name"
            )
    for path, text in files:
        with path.open("x", encoding="utf-8") as out:  # "x": fails rather than overwrite
            out.write(text)
    return [path for path, _ in files]


def _one(targets: list[DatabaseTarget], database: str | None) -> DatabaseTarget:
    names = ", ".join(t.service for t in targets) or "none"
    if database is not None:
        for target in targets:
            if target.service == database:
                return target
        raise DeclarationError(database, "--database", "no migrated database has this name", f"give one of: {names}")
    if len(targets) != 1:
        fix = f"give --database with one of: {names}" if targets else "connect a DatabaseConnection(migrations_dir=...)"
        raise DeclarationError(None, "--database", f"the project has {len(targets)} migrated databases", fix)
    return targets[0]


def _files_for(
    convention: str, folder: Path, slug: str, clock: Callable[[], datetime.datetime]
) -> list[tuple[Path, str]]:
    names = sorted(p.name for p in folder.iterdir() if p.is_file() and p.name.endswith(".sql"))
    header = f"-- {slug}\n"
    if convention == "sqitch":
        raise DeclarationError(
            None, "NAME", "the folder is a sqitch project, whose plan sqitch writes", f"run `sqitch add {slug}`"
        )
    if convention == "flyway":
        return [(folder / f"V{_flyway_next(folder)}__{slug}.sql", header)]
    version = _next_version([m["version"] for n in names if (m := _LEADING_NUMBER.match(n))], convention, clock)
    if convention == "plain" and names and not any(_LEADING_NUMBER.match(n) for n in names):
        raise DeclarationError(
            None,
            "NAME",
            f"{folder} runs its files in name order and none starts with a number to follow",
            "create the file yourself, named to sort after the others",
        )
    if convention == "dbmate":
        return [(folder / f"{version}_{slug}.sql", "-- migrate:up\n\n\n-- migrate:down\n\n")]
    if convention == "goose":
        return [(folder / f"{version}_{slug}.sql", "-- +goose Up\n\n\n-- +goose Down\n\n")]
    if convention == "golang-migrate" or (convention == "timestamp" and any(n.endswith(".up.sql") for n in names)):
        return [
            (folder / f"{version}_{slug}.up.sql", header),
            (folder / f"{version}_{slug}.down.sql", f"-- undo {slug}\n"),
        ]
    return [(folder / f"{version}_{slug}.sql", header)]


def _next_version(versions: list[str], convention: str, clock: Callable[[], datetime.datetime]) -> str:
    """After the highest version, written as the others are: a date and time, seconds since
    1970, or a number with the same zero padding (001); an empty folder: the convention's
    own default (a timestamp for dbmate and timestamp folders, else 001)."""
    highest = max((int(v) for v in versions), default=0)
    widths = {len(v) for v in versions}
    now = clock()
    if (convention in ("dbmate", "timestamp") and not versions) or (versions and min(widths) >= _TIMESTAMP_DIGITS):
        return str(max(int(now.strftime("%Y%m%d%H%M%S")), highest + 1))
    if versions and min(widths) == _EPOCH_DIGITS == max(widths) and convention != "plain":
        return str(max(int(now.timestamp()), highest + 1))
    padded = [v for v in versions if v.startswith("0")]
    width = max(len(v) for v in padded) if padded else (3 if not versions else 1)
    return str(highest + 1).zfill(width)


def _flyway_next(folder: Path) -> str:
    """Flyway's next version: the highest, its last part plus one, written with its separator."""
    found = [m["version"] for p in folder.rglob("V*__*.sql") if (m := _FLYWAY_VERSION.match(p.name))]
    if not found:
        return "1"
    highest = max(found, key=lambda v: tuple(int(x) for x in re.split(r"[._]", v)))
    head, sep, last = highest.rpartition("_" if "_" in highest else ".")
    return f"{head}{sep}{int(last) + 1}" if sep else str(int(highest) + 1)
