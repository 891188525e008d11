"""apply and destroy: plain functions over ``_runtime`` that return data, never print.

``apply`` checks the engine while it builds the compose file, then runs `compose up
--detach` in a worker thread (Compose itself holds each service back until its depends_on
conditions hold, so a service whose dependency failed is never started), and meanwhile
polls the containers' states, reporting each service's phase as it changes. It stops at
the first of: everything healthy, running or completed; a service failed; the deadline.

When every container already is what `compose up` would make (Compose's config hash and
image match, long-running ones running, each migrator exited 0 since its database's
container was created), `compose up` is not run at all: it would only run the migrator
again. When only migrators must run again, `compose up` is given just them (Compose would
otherwise recreate their dependants too). The migrator's label carries a hash of the
schema and migration files, so a new or edited migration changes its config hash and the
next apply runs it.
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from . import _api, _assertions, _envfile, _graph, _lower, _runtime
from ._engines import CATALOG
from ._errors import RuntimeFailure
from ._model import Condition, Project, Role, Service
from ._runtime import ContainerState

#: Seconds on top of the longest readiness budget: container start, migrations, app start.
MARGIN = 60
#: Seconds between polls: one `docker container inspect` each, about 30 ms here.
POLL = 0.2
#: How long to let Compose finish its own error message once a service is seen failing.
GRACE = 5.0
LOG_LINES = 20

#: Seconds an app without a readiness probe must stay running (no restart) to count as up:
#: a crash loop that exits at once is caught; readiness is still not known.
SETTLE = 2.0
#: An app without a probe, running: up, but nothing says it serves yet.
UNPROBED = "running (no readiness probe)"

GOOD = frozenset({"healthy", UNPROBED, "migrated", "completed"})
BAD = frozenset({"failed", "unhealthy", "restarting", "exited"})

Progress = Callable[[str, str, float], None]  # (service, phase, seconds since start)


@dataclass(frozen=True)
class ServiceReport:
    name: str
    role: str
    phase: str
    container_id: str | None
    #: created, recreated, unchanged, or "" when there is no container.
    change: str


@dataclass(frozen=True)
class Failure:
    service: str | None
    reason: str
    logs: str
    #: Ctrl-C: apply stopped waiting; what runs keeps running (the CLI exits 130).
    interrupted: bool = False


@dataclass(frozen=True)
class ApplyReport:
    project: str
    compose_file: Path
    engine: _runtime.EngineInfo
    services: tuple[ServiceReport, ...]
    seconds: float
    failure: Failure | None = None
    #: Why `compose up` ran, per service it had to change (empty: it did not run).
    why_up: dict[str, str] = field(default_factory=dict)
    #: The services `compose up` was given (None: all of them).
    up_services: tuple[str, ...] | None = None
    #: Containers of services no longer declared, removed; their named volumes kept.
    orphans: tuple[Orphan, ...] = ()
    #: Data volumes left behind by ``replace_data`` (kept, no longer mounted).
    replaced: tuple[VolumeMove, ...] = ()
    #: What the build said besides warnings (.env written, a secret the environment overrides).
    notes: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        return self.failure is None


@dataclass(frozen=True)
class Orphan:
    """A container of a service main.py no longer declares."""

    container: str
    service: str
    #: The named volumes it had mounted: kept, and not used by any declared service.
    volumes: tuple[str, ...]


@dataclass(frozen=True)
class VolumeMove:
    """A container that would be recreated with another volume (or none) at a path where
    a named volume holds its data today."""

    service: str
    path: str
    old: str
    #: The volume the new file mounts there; "" when none (a bind mount or nothing).
    new: str


@dataclass(frozen=True)
class DestroyReport:
    project: str
    removed: _runtime.Removed
    kept_volumes: bool
    #: Folders other than this one that containers of the same project name come from.
    foreign: tuple[str, ...] = ()


# -- phases ---------------------------------------------------------------------------------


def phase(
    service: Service,
    state: ContainerState | None,
    since: datetime | None = None,
    now: datetime | None = None,
    stays_up: bool | None = None,
) -> str:
    """What a service is doing, from its container's state.

    A container that last ran before ``since`` (a one-shot from the previous apply) is
    ``waiting``: Compose has not run it again yet. An app without a healthcheck is
    ``started`` until it has run SETTLE seconds (by ``now``; None: it has), then UNPROBED,
    never "ready". An app that exits 0 is ``completed`` only when it is not meant to stay
    up (``stays_up``, by default from the service alone: see ``meant_to_stay_up``)."""
    if state is None or state.status == "created":
        return "waiting"
    if state.status == "running":
        # A migrator is done when it exits 0, not while it runs (`compose up` of it alone
        # returns once it started).
        if service.role is Role.MIGRATOR:
            return "migrating"
        if service.healthcheck is not None or state.health:
            return state.health or "starting"
        settled = now is None or state.started is None or (now - state.started).total_seconds() >= SETTLE
        return UNPROBED if settled else "started"
    if state.status == "restarting":
        return "restarting"
    if state.status == "exited":
        if since is not None and state.finished is not None and state.finished < since:
            return "waiting"
        if state.exit_code != 0:
            return "failed"
        if service.role is Role.MIGRATOR:
            return "migrated"
        return "exited" if (meant_to_stay_up(service) if stays_up is None else stays_up) else "completed"
    return state.status


def meant_to_stay_up(service: Service, waited_for: bool = False) -> bool:
    """Whether a service that exits 0 has stopped too early: a database always; an app when
    the engine would restart it, it has a readiness probe or published ports, or another
    service waits for it to be started or healthy (``waited_for``). Otherwise it is a
    one-shot job that completed."""
    if service.role is not Role.APP:
        return service.role is Role.DATABASE
    return service.restart in ("always", "unless-stopped") or bool(service.healthcheck or service.ports or waited_for)


def deadline_seconds(project: Project) -> int:
    """The longest readiness budget of any healthcheck (the largest DatabaseConnection
    timeout, as lowering turns it into retries), plus MARGIN."""
    budgets = [
        hc.start_period + hc.retries * hc.interval
        for hc in (s.healthcheck for s in project.services.values())
        if hc is not None
    ]
    return int(max(budgets, default=_lower.DEFAULT_READY_TIMEOUT)) + MARGIN


def dependency_order(project: Project) -> list[str]:
    graph = {name: sorted(s.depends_on) for name, s in project.services.items()}
    return [name for layer in _graph.layers(graph) for name in layer]


# -- apply ----------------------------------------------------------------------------------


class _Up(threading.Thread):
    """`compose up` in the background; its error (with Compose's stderr) kept for the report."""

    def __init__(
        self, engine: _runtime.Engine, compose: _runtime.ComposeProject, services: Sequence[str] | None = None
    ) -> None:
        super().__init__(daemon=True, name=f"compose-up-{compose.name}")
        self.engine = engine
        self.compose = compose
        self.services = services
        self.error: Exception | None = None

    def run(self) -> None:
        try:
            self.engine.compose_up(self.compose, self.services)
        except Exception as exc:  # reported as data by apply(), never lost
            self.error = exc


@dataclass
class _Watch:
    engine: _runtime.Engine
    project: Project
    #: One-shots that exited before ``since`` belong to an earlier apply; None: they count.
    since: datetime | None
    started: float
    on_progress: Progress | None
    phases: dict[str, str] = field(default_factory=dict)
    states: dict[str, ContainerState] = field(default_factory=dict)
    #: Each container's restart count when this apply first saw it (0 for one it created):
    #: a count that grows while apply waits is a crash loop, whatever the status says now.
    restarts: dict[str, int] = field(default_factory=dict)

    def poll(self) -> None:
        # Container names are the service names (the compose target sets container_name).
        self.states = self.engine.containers(self.project.name, list(self.project.services))
        waited_for = {
            dep.target
            for s in self.project.services.values()
            for dep in s.depends_on.values()
            if dep.condition is not Condition.COMPLETED
        }
        clock = datetime.now(UTC)
        for name in dependency_order(self.project):
            service, state = self.project.services[name], self.states.get(name)
            stays_up = meant_to_stay_up(service, name in waited_for)
            now = phase(service, state, self.since, clock, stays_up)
            if state is not None and self._restarted(state) and now not in ("failed", "exited"):
                now = "restarting"
            before = self.phases.get(name)
            if before != now:
                self.phases[name] = now
                # Everything starts out waiting: report changes from there on.
                if self.on_progress and (before is not None or now != "waiting"):
                    self.on_progress(name, now, time.monotonic() - self.started)

    def _restarted(self, state: ContainerState) -> bool:
        new = self.since is not None and state.created is not None and state.created >= self.since
        first = self.restarts.setdefault(state.id, 0 if new else state.restart_count)
        return state.restart_count > first

    def failed(self) -> list[str]:
        return [name for name in dependency_order(self.project) if self.phases.get(name) in BAD]

    def all_good(self) -> bool:
        return all(self.phases.get(name) in GOOD for name in self.project.services)


def apply(
    project_dir: Path,
    timeout: float | None = None,
    on_progress: Progress | None = None,
    replace_data: bool = False,
    engine: _runtime.Engine = _runtime.DOCKER,
) -> ApplyReport:
    """Build, bring the project up and wait until it is healthy, or say what failed.

    One apply of a project at a time on this host: a second one raises ``_runtime.Busy``.
    Before anything changes: containers of this project name from another folder, or a
    container that would come back on another volume than its data is in (unless
    ``replace_data``), raise RuntimeFailure and nothing is touched. ``engine``: the real
    one unless a test passes a fake."""
    with apply_lock(_lower.project_name(project_dir)):
        return _apply(engine, project_dir, timeout, on_progress, replace_data)


def apply_lock(project: str) -> contextlib.AbstractContextManager[None]:
    """The host-wide lock an apply of ``project`` holds from start to end."""
    return _runtime.host_lock(f"apply-{project}", wait=False, what=f"another apply of {project}")


def _apply(
    engine: _runtime.Engine, project_dir: Path, timeout: float | None, on_progress: Progress | None, replace_data: bool
) -> ApplyReport:
    started = time.monotonic()
    engine_checked = engine.start_engine_check()  # runs while we build
    try:
        built = _api.build(project_dir)
    finally:
        info = engine_checked()  # no engine says so first, even when the build fails
    project = built.project
    _envfile.require(project, built.path.parent)
    folder = project_dir.resolve()
    compose = _runtime.ComposeProject(project.name, folder, (built.path,))
    with ThreadPoolExecutor(3) as pool:  # three listings, side by side
        listed = pool.submit(engine.project_containers, project.name)
        named = pool.submit(engine.containers_named, sorted(project.services))
        listed_volumes = pool.submit(engine.volumes, project.name)
        existing, holders, volumes = listed.result(), named.result(), listed_volumes.result()
    check_owner(project.name, folder, existing)
    check_names(project.name, holders)
    check_volume_owner(project.name, folder, volumes)
    moves = volume_moves(project, existing)
    if moves and not replace_data:
        raise guard_error(project.name, moves)
    orphans = orphans_of(project, existing)
    if orphans:
        engine.remove_containers(stop_order([o for o in existing if o.service not in project.services]))
    before = engine.containers(project.name, list(project.services))
    why = why_up(project, before, compose, engine)
    services = up_services(project, why)
    watch = _Watch(engine, project, _engine_now() if why else None, started, on_progress)
    if why:  # Compose would create the network when missing: two at once make two of it
        engine.ensure_network(_lower.NETWORK)
        own_volumes(project, folder, volumes, engine)
    up = _Up(engine, compose, services) if why else None
    if up is not None:
        up.start()
    failure = _wait(watch, up, started + (timeout if timeout is not None else deadline_seconds(project)))
    return ApplyReport(
        project=project.name,
        compose_file=built.path,
        engine=info,
        services=_service_reports(watch, {name: s.id for name, s in before.items()}),
        seconds=time.monotonic() - started,
        failure=failure,
        why_up=why,
        up_services=tuple(services) if services is not None else None,
        orphans=orphans,
        replaced=tuple(moves),
        notes=built.notes,
    )


# -- ownership, the data guard, orphans -------------------------------------------------------


def owned(container: ContainerState, folder: Path) -> bool:
    """Whether Compose created ``container`` from ``folder`` (its working_dir label)."""
    return not container.working_dir or Path(os.path.realpath(container.working_dir)) == folder


def check_owner(name: str, folder: Path, existing: Sequence[ContainerState]) -> None:
    """RuntimeFailure when containers of project ``name`` were created from another folder."""
    foreign = sorted({c.working_dir for c in existing if not owned(c, folder)})
    if foreign:
        names = ", ".join(sorted(c.name for c in existing if not owned(c, folder)))
        raise RuntimeFailure(
            f"project {name} belongs to {foreign[0]}: its containers ({names}) were created there, "
            f"not in {folder}; nothing was changed. Run `clockwork destroy` in {foreign[0]} first, "
            "or rename this folder so that it gets a project name of its own"
        )


def check_names(name: str, holders: Sequence[ContainerState]) -> None:
    """RuntimeFailure when a container with a name main.py gives a service belongs to
    another project (or none): Compose would fail half-way, unable to create it."""
    taken = sorted((c for c in holders if c.project != name), key=lambda c: c.name)
    if taken:
        c = taken[0]
        owner = f"project {c.project} (created from {c.working_dir})" if c.project else "no Compose project"
        raise RuntimeFailure(
            f"a container named {c.name} already exists and belongs to {owner}, not to {name}; "
            "nothing was changed. Remove it where it came from (`clockwork destroy` in that folder, or "
            f"`docker rm -f {c.name}`: named volumes stay), or rename the resource {c.name} in main.py"
        )


def _anonymous(volume: str) -> bool:
    return len(volume) == 64 and all(c in "0123456789abcdef" for c in volume)


def volume_moves(project: Project, existing: Sequence[ContainerState]) -> list[VolumeMove]:
    """Each path where an existing container of a declared service keeps data in a named
    volume, and the new file mounts another volume or none."""
    moves = []
    for c in existing:
        service = project.services.get(c.service)
        if service is None or c.oneoff:
            continue
        for path, old in c.volumes:
            if _anonymous(old):
                continue
            mount = next((m for m in service.mounts if m.target.rstrip("/") == path), None)
            new = f"{project.name}_{mount.source}" if mount is not None and mount.kind == "volume" else ""
            if new != old:
                moves.append(VolumeMove(c.service, path, old, new))
    return sorted(moves, key=lambda m: (m.service, m.path))


def guard_error(name: str, moves: Sequence[VolumeMove]) -> RuntimeFailure:
    """What would be lost, how to keep it, and the flag that goes ahead anyway."""
    parts = []
    for m in moves:
        onto = f"the new file mounts {m.new} there (empty)" if m.new else "the new file mounts no volume there"
        part = f"{m.service} keeps its data in volume {m.old} at {m.path}, and {onto}"
        key = m.old.removeprefix(f"{name}_")
        if key != m.old:
            part += f'; to keep the data, declare volumes=["{key}:{m.path}"] on {m.service} in main.py'
        parts.append(part)
    return RuntimeFailure(
        "apply stopped before changing anything: "
        + "; ".join(parts)
        + "; to recreate it without that data (the old volume is kept, not deleted), "
        "run `clockwork apply --replace-data`"
    )


def orphans_of(project: Project, existing: Sequence[ContainerState]) -> tuple[Orphan, ...]:
    """Containers of the project whose service main.py no longer declares."""
    used = {f"{project.name}_{v}" for v in project.volumes}
    return tuple(
        Orphan(c.name, c.service, tuple(sorted({v for _, v in c.volumes if not _anonymous(v) and v not in used})))
        for c in sorted(existing, key=lambda c: c.name)
        if c.service not in project.services
    )


def stop_order(containers: Sequence[ContainerState]) -> list[list[str]]:
    """Container names in groups to stop one after the other: apps (what depends on the
    rest) first, then migrators, then databases."""
    rank = {"migrator": 1, "database": 2}
    groups: list[list[str]] = [[], [], []]
    for c in sorted(containers, key=lambda c: c.name):
        groups[rank.get(c.role, 0)].append(c.name)
    return [g for g in groups if g]


def check_volume_owner(name: str, folder: Path, volumes: Sequence[_runtime.Volume]) -> None:
    """RuntimeFailure when volumes of project ``name`` were made by an apply in another
    folder (its containers may be gone: ``destroy --keep-volumes``): never borrow its data."""
    theirs = [v for v in volumes if not _volume_owned(v, folder, ())]
    if theirs:
        owner = theirs[0].labels[_runtime.OWNER_LABEL]
        names = " ".join(v.name for v in theirs)
        raise RuntimeFailure(
            f"project {name} belongs to {owner}: its volumes ({names}) were created there, not in {folder}; "
            f"nothing was changed. Run `clockwork destroy` in {owner} (or `docker volume rm {names}` if that "
            "folder is gone), or rename this folder so that it gets a project name of its own"
        )


def own_volumes(
    project: Project, folder: Path, volumes: Sequence[_runtime.Volume], engine: _runtime.Engine = _runtime.DOCKER
) -> None:
    """Create the project's named volumes that are missing, labelled as Compose would
    label them plus the folder that owns them (Compose labels volumes with no folder)."""
    present = {v.name for v in volumes}
    for key in project.volumes:
        name = f"{project.name}_{key}"
        if name not in present:
            labels = {
                _runtime.PROJECT_LABEL: project.name,
                _runtime.VOLUME_LABEL: key,
                _runtime.OWNER_LABEL: str(folder),
            }
            engine.create_volume(name, labels)


def why_up(
    project: Project,
    before: dict[str, ContainerState],
    compose: _runtime.ComposeProject,
    engine: _runtime.Engine = _runtime.DOCKER,
) -> dict[str, str]:
    """Each service `compose up` must change, and why; empty when there is nothing to do."""
    if not before:  # a first apply: no need to ask Compose for hashes
        return {name: "no container" for name in dependency_order(project)}
    hashes = engine.config_hashes(compose)
    images = engine.image_ids(state.image for state in before.values())
    return stale(project, before, hashes, images)


def up_services(project: Project, why: dict[str, str]) -> list[str] | None:
    """What to give `compose up`: only the migrators when nothing else must change (their
    dependencies come along, unchanged; their dependants are left alone, where a plain
    `compose up` would recreate them), else everything (None)."""
    if why and all(project.services[name].role is Role.MIGRATOR for name in why):
        return sorted(why)
    return None


def stale(
    project: Project, before: dict[str, ContainerState], hashes: dict[str, str], images: dict[str, str]
) -> dict[str, str]:
    """Each service whose container is not what `compose up` would make or leave, and why.

    What Compose recreates: a config hash or an image that changed. What it starts again: a
    stopped container, and every exited one-shot; a migrator needs it only when its last
    run failed, or ran before its database's container was created (a fresh database)."""
    out = {}
    for name in dependency_order(project):
        reason = _stale(project.services[name], before, hashes, images)
        if reason:
            out[name] = reason
    return out


def _stale(service: Service, before: dict[str, ContainerState], hashes: dict[str, str], images: dict[str, str]) -> str:
    state = before.get(service.name)
    if state is None:
        return "no container"
    if hashes.get(service.name) != state.config_hash:
        return "configuration changed"
    if images.get(state.image) != state.image_id:
        return "image changed"
    if service.role is not Role.MIGRATOR:
        return "" if state.status == "running" else state.status
    if state.status != "exited" or state.exit_code != 0 or state.started is None:
        return "not completed"
    for dependency in service.depends_on:
        created = before[dependency].created if dependency in before else None
        if created is None or created > state.started:
            return f"{dependency} created after it last ran"
    return ""


def _engine_now() -> datetime:
    # Engine and CLI share this machine's clock; a second of slack for timestamp rounding.
    return datetime.fromtimestamp(time.time() - 1, tz=UTC)


def _wait(watch: _Watch, up: _Up | None, deadline: float) -> Failure | None:
    try:
        return _wait_loop(watch, up, deadline)
    except KeyboardInterrupt:
        return _interrupted(watch)


def _wait_loop(watch: _Watch, up: _Up | None, deadline: float) -> Failure | None:
    failing_since: float | None = None
    while True:
        watch.poll()
        running = up is not None and up.is_alive()
        if up is not None and up.error is not None:
            return _failure(watch, up)
        if not running and watch.all_good():
            return None
        if watch.failed():
            failing_since = failing_since or time.monotonic()
            if not running or time.monotonic() - failing_since > GRACE:
                return _failure(watch, up)
        if time.monotonic() > deadline:
            return _timed_out(watch, deadline)
        if running:
            up.join(POLL)  # wakes as soon as compose up returns
        else:
            time.sleep(POLL)


def _failure(watch: _Watch, up: _Up | None) -> Failure:
    watch.poll()
    failed = watch.failed()
    engine_error = str(up.error) if up is not None and up.error is not None else ""
    service = failed[0] if failed else _named_in(engine_error, watch.project)
    reason = _what_happened(service, watch) if service else "compose up failed"
    if engine_error:
        reason = f"{reason}: {engine_error}"
    logs = watch.engine.logs(service, tail=LOG_LINES, since=watch.since) if service and service in watch.states else ""
    hint = next((fix for words, fix in HINTS if words in logs or words in engine_error), "")
    return Failure(service, f"{reason}; {hint}" if hint else reason, logs)


#: Known words in a failed service's logs, and what to do about them: each engine's.
HINTS = tuple(hint for engine in CATALOG for hint in engine.log_hints)


def _what_happened(service: str, watch: _Watch) -> str:
    state, now = watch.states.get(service), watch.phases.get(service)
    if now == "failed" and state is not None:
        return f"{service} failed (exit code {state.exit_code})"
    if now == "restarting":
        times = f"restarted {state.restart_count} times, " if state and state.restart_count else ""
        return f"{service} keeps restarting ({times}last exit code {state.exit_code if state else '?'})"
    if now == "exited":
        restart = watch.project.services[service].restart
        return f'{service} exited with code 0 but is meant to stay up (restart: "{restart}")'
    if now == "unhealthy" and state is not None and state.health_output:
        return f"{service} is unhealthy; its readiness probe said: {_one_line(state.health_output)}"
    return f"{service} is {now}" if now in BAD else f"{service} did not start"


def _one_line(text: str, limit: int = 300) -> str:
    flat = " / ".join(line.strip() for line in text.splitlines() if line.strip())
    return flat if len(flat) <= limit else flat[: limit - 3] + "..."


def _timed_out(watch: _Watch, deadline: float) -> Failure:
    pending = [n for n in dependency_order(watch.project) if watch.phases.get(n) not in GOOD]
    # The first pending service that has a container is the one holding the others back.
    service = next((n for n in pending if n in watch.states), pending[0] if pending else None)
    waited = int(deadline - watch.started)
    reason = f"timed out after {waited}s waiting for {', '.join(pending)}"
    running = [n for n in pending if watch.phases.get(n) == "migrating"]
    if running:
        reason += (
            f"; {', '.join(running)} {'is' if len(running) == 1 else 'are'} still running: "
            "it keeps running and may still commit its migrations (see `docker logs NAME`)"
        )
    logs = watch.engine.logs(service, tail=LOG_LINES, since=watch.since) if service and service in watch.states else ""
    return Failure(service, reason, logs)


def _interrupted(watch: _Watch) -> Failure:
    """Ctrl-C while waiting: what was left running (nothing is stopped)."""
    with contextlib.suppress(Exception, KeyboardInterrupt):  # a second Ctrl-C, an engine call cut short
        watch.poll()
    order = dependency_order(watch.project)
    running = [f"{n} ({watch.phases[n]})" for n in order if watch.states.get(n) and watch.states[n].status == "running"]
    left = "; left running: " + ", ".join(running) if running else "; nothing was left running"
    pending = [n for n in order if watch.phases.get(n) not in GOOD and n not in watch.states]
    never = f"; not started: {', '.join(pending)}" if pending else ""
    return Failure(None, f"interrupted (Ctrl-C) while waiting{left}{never}", "", interrupted=True)


def _named_in(text: str, project: Project) -> str | None:
    """The service a Compose error message is about: by name, else by its image."""
    for name in sorted(project.services, key=len, reverse=True):
        if name in text:
            return name
    for name, service in sorted(project.services.items()):
        if service.image and service.image.split(":")[0] in text:
            return name
    return None


def _service_reports(watch: _Watch, before: dict[str, str]) -> tuple[ServiceReport, ...]:
    out = []
    for name in dependency_order(watch.project):
        state = watch.states.get(name)
        if state is None:
            change = ""
        elif name not in before:
            change = "created"
        else:
            change = "unchanged" if before[name] == state.id else "recreated"
        role = watch.project.services[name].role.value
        out.append(ServiceReport(name, role, watch.phases.get(name, "waiting"), state.id if state else None, change))
    return tuple(out)


# -- assert ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class AssertReport:
    project: str
    checks: tuple[_assertions.Check, ...]
    seconds: float

    @property
    def ok(self) -> bool:
        return all(check.passed for check in self.checks)


def check(project_dir: Path, timeout: float = 15.0, engine: _runtime.Engine = _runtime.DOCKER) -> AssertReport:
    """Run the built-in checks and the user's assertions against the running project."""
    engine.engine_info()
    project, _, path = _api.compile_project(project_dir)
    started = time.monotonic()
    checks = _assertions.run(_assertions.probes(project, secret_values(path.parent), engine=engine), timeout)
    return AssertReport(project.name, tuple(checks), time.monotonic() - started)


def secret_values(folder: Path) -> dict[str, str]:
    """What Compose substitutes in this run: the folder's .env, overridden by the environment
    (``_envfile.run_values``: the precedence every command shares)."""
    return _envfile.run_values(folder)


# -- destroy --------------------------------------------------------------------------------


def destroy(project_dir: Path, keep_volumes: bool = False, engine: _runtime.Engine = _runtime.DOCKER) -> DestroyReport:
    """Remove the containers (apps first, databases last), then the volumes (unless kept)
    and the networks left unused, of this project name created from this folder.

    Needs no main.py, no compose file and no secret: it goes by labels. Containers of the
    same project name from another folder are left alone, and so are the volumes then,
    unless clockwork labelled them as this folder's."""
    engine.engine_info()
    folder = project_dir.resolve()
    name = _lower.project_name(project_dir)
    existing = engine.project_containers(name)
    mine = [c for c in existing if owned(c, folder)]
    foreign = tuple(sorted({c.working_dir for c in existing if not owned(c, folder)}))
    volumes = [] if keep_volumes else [v.name for v in engine.volumes(name) if _volume_owned(v, folder, foreign)]
    engine.remove_containers(stop_order(mine))
    engine.remove_volumes(volumes)
    networks: tuple[str, ...] = ()
    if mine or volumes:
        names = {n.name for n in engine.networks(project=name)} | {_lower.NETWORK}
        networks = tuple(n for name_ in sorted(names) for n in engine.remove_network_if_unused(name_, name))
    removed = _runtime.Removed(tuple(sorted(c.name for c in mine)), networks, tuple(volumes))
    return DestroyReport(name, removed, keep_volumes, foreign)


def _volume_owned(volume: _runtime.Volume, folder: Path, foreign: Sequence[str]) -> bool:
    owner = volume.labels.get(_runtime.OWNER_LABEL)
    if owner:
        return Path(os.path.realpath(owner)) == folder
    return not foreign  # made by Compose: this folder's unless another folder runs the project
