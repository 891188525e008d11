"""What every target that clockwork runs shares: the ``Target`` interface the CLI dispatches
to once, the reports apply, assert, destroy and ps return (and logs' stream), and what an apply is given from
outside (``Needs``: how to build, the lock it holds, its clock, the environment), so a runtime
imports neither ``_api`` nor the CLI and a test passes its own instead of patching.

Not on the build path: ``clockwork build`` reads only a target's ``emit`` (and its
package's ``__init__``, which names these types for typing alone); a runtime, and this
module, are imported when a command runs them.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn, Protocol

from .._fields import engine_version
from .._lower import DEFAULT_READY_TIMEOUT
from .._model import REST_API, REST_ENGINE, version_text

if TYPE_CHECKING:
    from .._assertions import Check
    from .._docker import ContainerState, EngineInfo, LogLine, LogOptions
    from .._model import Project

#: Seconds on top of the longest readiness budget: container start, migrations, app start.
MARGIN = 60
#: (service, phase, seconds since start): what apply tells as each service's phase changes.
Progress = Callable[[str, str, float], None]


@dataclass(frozen=True)
class Clock:
    """apply's sense of time: how often it polls, how long it gives a failure Compose waits
    for to end (``grace``), how many log lines a failure shows; a test passes a faster one."""

    poll: float
    grace: float = 5.0
    log_lines: int = 20
    monotonic: Callable[[], float] = time.monotonic
    sleep: Callable[[float], None] = time.sleep


@dataclass(frozen=True)
class Needs:
    """What apply and assert take from their caller (the CLI), not from the modules above
    them: ``build(project_dir, target=)`` (``_api.build``), ``compile(project_dir, output,
    target)`` (``_api.compile_project``), ``lock(name, action)`` (``_docker.project_lock``),
    the environment secrets are read from, and the clock (None: the target's own)."""

    build: Callable[..., Any]
    lock: Callable[[str, str], AbstractContextManager[None]]
    environ: Mapping[str, str]
    compile: Callable[..., Any] | None = None
    clock: Clock | None = None


@dataclass(frozen=True)
class ApplyOptions:
    timeout: float | None = None
    on_progress: Progress | None = None
    #: Swarm's stack name (None: the project's name).
    stack: str | None = None
    #: Compose: recreate a container even where it leaves its data volume behind.
    replace_data: bool = False
    #: Compose: take over what a moved or renamed folder left (``adopt_from``: whose).
    adopt_data: bool = False
    adopt_from: Path | None = None
    #: Swarm: where build-only images are pushed for every node to pull (``HOST[:PORT]``).
    registry: str | None = None
    #: Compose: dump each migrated database before its migrator applies pending files.
    snapshot: bool = False


@dataclass(frozen=True)
class ServiceReport:
    name: str
    role: str
    phase: str
    #: Compose: created, recreated or unchanged; Swarm: created, updated or unchanged; "" when
    #: there is no container.
    change: str
    container_id: str | None = None


@dataclass(frozen=True)
class Failure:
    service: str | None
    reason: str
    logs: str = ""
    #: Ctrl-C: apply stopped waiting; what runs keeps running (the CLI exits 130).
    interrupted: bool = False
    #: Services that were running before this apply and are not now: "NAME: what it is now".
    down: tuple[str, ...] = ()


@dataclass(frozen=True)
class ApplyReport:
    #: What the summary names: the project, or "stack NAME".
    project: str
    #: The file applied (docker-compose.yml, docker-stack.yml).
    file: Path
    services: tuple[ServiceReport, ...]
    seconds: float
    failure: Failure | None = None
    #: What the build and the target said besides warnings (.env written, images built...).
    notes: tuple[str, ...] = ()
    #: The summary's note when nothing had to change ("" when something did).
    unchanged: str = ""
    engine: EngineInfo | None = None
    #: Compose: why `compose up` ran, per service it had to change (empty: it did not run).
    why_up: dict[str, str] = field(default_factory=dict)
    #: Compose: the services `compose up` was given (None: all of them).
    up_services: tuple[str, ...] | None = None
    #: Compose: containers of services no longer declared, removed; their named volumes kept.
    orphans: tuple[Any, ...] = ()
    #: Compose: data volumes left behind by ``replace_data`` (kept, no longer mounted).
    replaced: tuple[Any, ...] = ()
    #: Compose: volumes taken over from folders that are gone (``adopt_data``).
    adopted: tuple[Any, ...] = ()
    #: Compose: containers made in folders that are gone, removed.
    stranded: tuple[ContainerState, ...] = ()
    #: Swarm: how many `docker stack deploy` calls apply made (0: nothing changed).
    deploys: int = 0
    #: Compose: the snapshots taken before migrations ran (``_snapshots.Snapshot``).
    snapshots: tuple[Any, ...] = ()

    @property
    def ok(self) -> bool:
        return self.failure is None


@dataclass(frozen=True)
class AssertReport:
    project: str
    checks: tuple[Check, ...]
    seconds: float

    @property
    def ok(self) -> bool:
        return all(check.passed for check in self.checks)


@dataclass(frozen=True)
class DestroyReport:
    #: The project (Compose) or the stack (Swarm) destroyed.
    project: str
    #: Kind (containers, services, networks...) -> the names removed, in the order told.
    removed: Mapping[str, tuple[str, ...]]
    kept_volumes: bool
    #: What "nothing to remove" says when nothing was.
    nothing: str = ""
    #: Folders other than this one that what has the same name comes from: left alone.
    foreign: tuple[str, ...] = ()
    #: One line each: what destroy left alone, why, and how to remove it.
    left_alone: tuple[str, ...] = ()


@dataclass(frozen=True)
class ServiceStatus:
    """One row of `clockwork ps`: a service of this folder and how it is now."""

    service: str
    #: clockwork's role label: app, database, migrator ("" on what clockwork did not label).
    role: str
    #: Compose: the container's status (``running``, ``exited (0)``); Swarm: its tasks'
    #: (``running``, ``running 2/3``, ``complete``, ``failed (exit 1)``).
    state: str
    #: healthy, unhealthy, starting; None without a healthcheck.
    health: str | None
    #: Published ports, as docker shows them.
    ports: tuple[str, ...]
    image: str
    #: When it last started (Swarm: its newest running task); None when it never has.
    started: datetime | None
    #: Swarm: the node of each current task, by slot; Compose: none (this engine).
    nodes: tuple[str, ...] = ()


@dataclass(frozen=True)
class PsReport:
    #: The project (Compose) or "stack NAME" (Swarm).
    project: str
    #: By service name.
    services: tuple[ServiceStatus, ...]
    #: What to say when there are no services ("" when there are).
    nothing: str = ""
    #: What was left out, and why (another folder made it).
    notes: tuple[str, ...] = ()


@dataclass(frozen=True)
class LogStream:
    """What `clockwork logs` prints: the lines of ``services`` (each ``LogLine.source`` is
    one of them), or ``nothing`` to say when this folder has no service to read."""

    project: str
    services: tuple[str, ...]
    lines: Iterator[LogLine]
    nothing: str = ""
    notes: tuple[str, ...] = ()


def chosen(asked: tuple[str, ...], present: Sequence[str], project: str) -> tuple[str, ...]:
    """The services `clockwork logs SERVICE...` asks for, or all of ``present`` when none is
    named; a name that is not among them is an error naming it and those that are."""
    unknown = [name for name in asked if name not in present]
    if unknown:
        from .._errors import DeclarationError

        which = ", ".join(repr(name) for name in unknown)
        raise DeclarationError(
            None,
            None,
            f"no service {which} of this folder on {project}",
            f"its services: {', '.join(sorted(present))}",
        )
    return tuple(dict.fromkeys(asked)) or tuple(sorted(present))


#: What docker's --since takes: a duration (10m, 1h30m), a date or time (RFC 3339, a date
#: alone), or Unix seconds.
_SINCE = re.compile(
    r"(\d+(\.\d+)?(ns|us|µs|ms|s|m|h))+"
    r"|\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?)?"
    r"|\d+(\.\d+)?"
)


def since_value(text: str | None) -> str | None:
    """``--since`` as docker takes it, or an error that says what it takes."""
    if text is None or _SINCE.fullmatch(text.strip()):
        return None if text is None else text.strip()
    from .._errors import DeclarationError

    raise DeclarationError(
        None,
        "--since",
        f"{text!r} is not a time",
        "give a duration (--since 10m, 1h30m), a date or time (2026-12-03, 2026-12-03T10:00:00Z) or Unix seconds",
    )


def tail_value(text: str | None) -> int | None:
    """``--tail`` as a count of lines (None: all of them), or an error that says what it takes."""
    if text is None or text.strip().lower() == "all":
        return None
    if text.strip().isdigit():
        return int(text.strip())
    from .._errors import DeclarationError

    raise DeclarationError(
        None, "--tail", f"{text!r} is not a number of lines", "give a whole number (--tail 50) or all"
    )


def deadline_seconds(project: Project) -> int:
    """How long apply waits by default: the longest readiness budget of any healthcheck (the
    largest DatabaseConnection timeout, as lowering turns it into retries), plus MARGIN."""
    budgets = [s.healthcheck.start_budget for s in project.services.values() if s.healthcheck is not None]
    return int(max(budgets, default=DEFAULT_READY_TIMEOUT)) + MARGIN


def engine_refusal(project: Project, file: str, server_version: str, api_version: str) -> str | None:
    """Why an engine cannot run the file (its healthcheck needs ``start_interval``), with the
    fix; None when it can. The version is compared as numbers ("20.10.24+dfsg1" < 25); an
    engine whose version does not read as one is judged by its API (1.44 came with 25)."""
    if not project.resting():
        return None
    version = engine_version(server_version)
    if version >= REST_ENGINE if version else engine_version(api_version) >= REST_API:
        return None
    this = f"{server_version or 'unknown'} (API {api_version or 'unknown'})"
    return (
        f"{file} needs Docker Engine {version_text(REST_ENGINE)} or newer (its healthchecks set start_interval, "
        f"which older engines reject) and this engine is {this}; nothing was changed: upgrade the engine, or "
        f'declare ProjectSettings(min_engine="{version_text(version[:2]) if version else "20.10"}") in main.py '
        "and run clockwork build (its healthchecks then run every second for as long as the stack is up)"
    )


def nodes_refusal(project: Project, file: str, engines: Mapping[str, str]) -> str | None:
    """Why some nodes of a swarm cannot run the file as written, with the fix; None when every
    one can. ``engines``: each node that may run its tasks (hostname -> engine version). An
    engine before ``REST_ENGINE`` does not run ``start_interval``: a service placed there
    would be checked every ``interval`` from the start, not every second. A version that
    does not read as one is not judged (the manager's API was, by ``engine_refusal``)."""
    if not project.resting():
        return None
    old = {name: engine for name, engine in sorted(engines.items()) if () < engine_version(engine) < REST_ENGINE}
    if not old:
        return None
    oldest = min(engine_version(engine) for engine in old.values())
    which = ", ".join(f"node {name} runs {engine}" for name, engine in old.items())
    return (
        f"{file} needs Docker Engine {version_text(REST_ENGINE)} or newer on every node that runs its services "
        f"(its healthchecks set start_interval, which older engines do not run) and {which}; nothing was "
        f"changed: upgrade {'it' if len(old) == 1 else 'them'}, drain {'it' if len(old) == 1 else 'them'} "
        f"(docker node update --availability drain {' '.join(old)}), or declare "
        f'ProjectSettings(min_engine="{version_text(oldest[:2])}") in main.py and run clockwork build'
    )


def human_size(kib: int) -> str:
    """KiB as `du -sk` counts them, in decimal units: ``39.2 MB``."""
    size = kib * 1024
    for unit, scale in (("TB", 10**12), ("GB", 10**9), ("MB", 10**6), ("kB", 10**3)):
        if size >= scale:
            return f"{size / scale:.3g} {unit}"
    return f"{size} bytes"


class Target(Protocol):
    """A target as the CLI sees it: its emitter's name, and apply, assert and destroy where
    clockwork runs it (``runs_elsewhere`` says what runs it otherwise)."""

    name: str
    #: "" when clockwork runs this target; else what runs it instead (the CLI's message).
    runs_elsewhere: str
    #: Whether --stack means anything here.
    stacks: bool
    #: Whether apply says "applying NAME" first, and tells a Ctrl-C before it starts waiting
    #: with how to run it again (after that, its report says what was left running).
    announces: bool

    def refuse(self, options: ApplyOptions) -> str | None:
        """Why apply refuses an option of ``options`` on this target (None: it takes them)."""
        ...

    def apply(self, project_dir: Path, options: ApplyOptions, needs: Needs) -> ApplyReport: ...

    def check(self, project_dir: Path, timeout: float, needs: Needs, stack: str | None = None) -> AssertReport: ...

    def destroy(self, project_dir: Path, keep_volumes: bool, stack: str | None = None) -> DestroyReport: ...

    def ps(self, project_dir: Path, stack: str | None = None) -> PsReport:
        """The services this folder made that are on the engine (or the swarm), by name."""
        ...

    def logs(
        self, project_dir: Path, services: tuple[str, ...], options: LogOptions, stack: str | None = None
    ) -> LogStream:
        """The lines of ``services`` of this folder (all of them when none is named)."""
        ...


class NotRunHere:
    """A target whose file another tool runs: apply, assert and destroy refuse."""

    stacks = False
    announces = False

    def __init__(self, name: str, runs_elsewhere: str) -> None:
        self.name = name
        self.runs_elsewhere = runs_elsewhere

    def refuse(self, options: ApplyOptions) -> str | None:
        return self.runs_elsewhere

    def _refused(self) -> NoReturn:
        from .._errors import RuntimeFailure

        raise RuntimeFailure(self.runs_elsewhere)

    def apply(self, project_dir: Path, options: ApplyOptions, needs: Needs) -> ApplyReport:
        self._refused()

    def check(self, project_dir: Path, timeout: float, needs: Needs, stack: str | None = None) -> AssertReport:
        self._refused()

    def destroy(self, project_dir: Path, keep_volumes: bool, stack: str | None = None) -> DestroyReport:
        self._refused()

    def ps(self, project_dir: Path, stack: str | None = None) -> PsReport:
        self._refused()

    def logs(
        self, project_dir: Path, services: tuple[str, ...], options: LogOptions, stack: str | None = None
    ) -> LogStream:
        self._refused()
