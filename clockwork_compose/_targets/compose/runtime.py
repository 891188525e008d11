"""Compose's runtime: apply, assert and destroy, plain functions over ``_docker`` that return
data (the reports of ``base``), never print.

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

A change Compose makes is never taken for a failure. Until this apply's container of a
service Compose changes has started, the old one is "recreating" (or "waiting" to be
started again). What depends on a service that is not ready, directly or not, may go down
with it (its connection drops and its restart policy restarts it; Compose stops it to
recreate it too): its exits and restarts are the dependency's doing until its container
has run again after the dependency came back. A failure seen while `compose up` runs waits
for Compose to end, with its own error, so that a recreate is never cut short; only a
crash loop Compose waits for (it would wait for ever) ends apply after ``CLOCK.grace``. A
failed apply names each service that ran before it and does not now, and why; a crash
loop gives the exit code the engine recorded (it shows 0 while the container runs again).
"""

from __future__ import annotations

import contextlib
import dataclasses
import itertools
import os
import re
import stat
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ... import _assertions, _docker, _envfile, _graph, _lower
from ..._docker import ContainerState
from ..._engines import CATALOG
from ..._errors import RuntimeFailure
from ..._model import Condition, Project, Role, Service
from ..base import (
    ApplyReport,
    AssertReport,
    Clock,
    DestroyReport,
    Failure,
    Needs,
    Progress,
    ServiceReport,
    deadline_seconds,
    engine_refusal,
    human_size,
)

#: Polls 0.2 s apart (one `docker container inspect` each, about 30 ms here); 5 s to let
#: Compose finish its own error message once a service is seen failing; 20 log lines.
CLOCK = Clock(poll=0.2, grace=5.0, log_lines=20)

#: Seconds an app without a readiness probe must stay running (no restart) to count as up:
#: a crash loop that exits at once is caught; readiness is still not known.
SETTLE = 2.0
#: An app without a probe, running: up, but nothing says it serves yet.
UNPROBED = "running (no readiness probe)"

GOOD = frozenset({"healthy", UNPROBED, "migrated", "completed"})
BAD = frozenset({"failed", "unhealthy", "restarting", "exited"})


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
class LeftBehind:
    """Containers and volumes of the project name made in a folder that is gone."""

    folder: str
    containers: tuple[str, ...]
    volumes: tuple[str, ...]


# -- phases ---------------------------------------------------------------------------------


def _overdue(service: Service, state: ContainerState, now: datetime | None) -> bool:
    """Whether a service still starting has had its whole start budget and one more check
    (``Healthcheck.starting_for_at_most``)."""
    limit = service.healthcheck.starting_for_at_most if service.healthcheck is not None else None
    if limit is None or now is None or state.started is None:
        return False
    return (now - state.started).total_seconds() > limit


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
            health = state.health or "starting"
            return "unhealthy" if health == "starting" and _overdue(service, state, now) else health
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


def dependency_order(project: Project) -> list[str]:
    graph = {name: sorted(s.depends_on) for name, s in project.services.items()}
    return [name for layer in _graph.layers(graph) for name in layer]


# -- apply ----------------------------------------------------------------------------------


class _Up(threading.Thread):
    """`compose up` in the background; its error (with Compose's stderr) kept for the report."""

    def __init__(
        self, engine: _docker.Engine, compose: _docker.ComposeProject, services: Sequence[str] | None = None
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
    engine: _docker.Engine
    project: Project
    #: One-shots that exited before ``since`` belong to an earlier apply; None: they count.
    since: datetime | None
    started: float
    on_progress: Progress | None
    #: What `compose up` was given to change, and why (``why_up``): while it runs, a service
    #: it recreates shows "recreating" until this apply's container of it starts.
    changing: dict[str, str] = field(default_factory=dict)
    #: The containers before `compose up` ran: what was running, to name what is not now.
    before: dict[str, ContainerState] = field(default_factory=dict)
    phases: dict[str, str] = field(default_factory=dict)
    states: dict[str, ContainerState] = field(default_factory=dict)
    #: Each container's restart count when this apply first saw it (0 for one it created),
    #: moved on while its restarts are excused: a count that grows beyond it is a crash loop,
    #: whatever the status says now.
    restarts: dict[str, int] = field(default_factory=dict)
    #: The dependency that last held each service back (it was not ready), and when all its
    #: dependencies were ready again: until its container starts after that, its restarts
    #: and exits are the dependency's doing (Compose recreating it), not a crash loop.
    held_by: dict[str, str] = field(default_factory=dict)
    settled_at: dict[str, datetime] = field(default_factory=dict)
    #: The last exit code seen per container while it was not running: the engine resets
    #: State.ExitCode to 0 each time the restart policy starts it again.
    exits: dict[str, int] = field(default_factory=dict)
    clock: Clock = CLOCK

    def __post_init__(self) -> None:
        self.restarts.update({state.id: state.restart_count for state in self.before.values()})
        self.order = dependency_order(self.project)
        self.ancestors = ancestors(self.project, self.order)
        self.waited_for = {
            dep.target
            for s in self.project.services.values()
            for dep in s.depends_on.values()
            if dep.condition is not Condition.COMPLETED
        }

    def poll(self, composing: bool = False, states: dict[str, ContainerState] | None = None) -> None:
        """Read every container's state (``states``: just read) and update each service's
        phase, in dependency order (a service's dependencies are judged first).
        ``composing``: `compose up` is still running."""
        if states is None:
            states = self.engine.containers(self.project.name, [s.container for s in self.project.ordered()])
        self.states = states
        clock = datetime.now(UTC)
        for name in self.order:
            now = self._phase(name, self.states.get(name), clock, composing)
            before = self.phases.get(name)
            if before != now:
                self.phases[name] = now
                # Everything starts out waiting: report changes from there on.
                if self.on_progress and (before is not None or now != "waiting"):
                    self.on_progress(name, now, self.clock.monotonic() - self.started)

    def _phase(self, name: str, state: ContainerState | None, clock: datetime, composing: bool) -> str:
        service = self.project.services[name]
        now = phase(service, state, self.since, clock, meant_to_stay_up(service, name in self.waited_for))
        if state is None:
            return now
        if state.status in ("exited", "restarting") and state.finished is not None:
            self.exits[state.id] = state.exit_code
        new = self.since is not None and state.created is not None and state.created >= self.since
        self.restarts.setdefault(state.id, 0 if new else state.restart_count)
        if composing and name in self.changing and not self._started_here(state):
            # The old container, until Compose replaces (or starts) it: not a failure.
            self._restarted(state, excused=True)
            return "recreating" if self.changing[name] in RECREATED else "waiting"
        blocker = next((d for d in self.ancestors[name] if self.phases.get(d) not in GOOD), None)
        if blocker is not None:
            self.held_by[name] = blocker
            self.settled_at.pop(name, None)
        elif name in self.held_by and name not in self.settled_at:
            self.settled_at[name] = clock
        settled = self.settled_at.get(name)
        # Excused: a dependency is down; or it was when this container last ran, and its
        # restart policy or Compose will start it again.
        waits = state.status == "restarting" or composing
        excused = blocker is not None or (
            waits and settled is not None and (state.started is None or state.started < settled)
        )
        if self._restarted(state, excused) and now not in ("failed", "exited"):
            return "restarting"
        if excused and now in BAD:
            return f"{now}, waits for {blocker}" if blocker else f"{now}, {self.held_by[name]} is back"
        return now

    def _started_here(self, state: ContainerState) -> bool:
        """Whether this apply created or started ``state``'s container."""
        since = self.since
        return since is not None and any(t is not None and t >= since for t in (state.created, state.started))

    def _restarted(self, state: ContainerState, excused: bool) -> bool:
        if excused:
            self.restarts[state.id] = state.restart_count
            return False
        return state.restart_count > self.restarts[state.id]

    def last_exit(self, state: ContainerState) -> int | None:
        """The code the container last exited with, as the engine recorded it: its state
        when it is not running, else the last one seen, else the engine's events."""
        if state.status != "running" and state.finished is not None:
            return state.exit_code
        if state.id in self.exits:
            return self.exits[state.id]
        if state.finished is None:
            return None
        return self.engine.last_exit(state.id, self.since or state.created)

    def failed(self) -> list[str]:
        return [name for name in self.order if self.phases.get(name) in BAD]

    def holds_up(self, failed: Sequence[str]) -> bool:
        """Whether `compose up` waits for a failed service that will not get ready: one in
        a crash loop, or one past its start budget that Docker still calls starting, that
        another service waits for (Compose fails by itself on one that is unhealthy or
        exited, and waits for nothing else)."""
        return any(name in self.waited_for and self._stuck(name) for name in failed)

    def _stuck(self, name: str) -> bool:
        state = self.states.get(name)
        overdue = self.phases.get(name) == "unhealthy" and state is not None and state.health != "unhealthy"
        return self.phases.get(name) == "restarting" or overdue

    def all_good(self) -> bool:
        return all(self.phases.get(name) in GOOD for name in self.project.services)


#: Reasons of ``why_up`` for which Compose replaces the container.
CONFIG_CHANGED = "configuration changed"
IMAGE_CHANGED = "image changed"
RECREATED = frozenset({CONFIG_CHANGED, IMAGE_CHANGED})


def ancestors(project: Project, order: Sequence[str] | None = None) -> dict[str, list[str]]:
    """Each service's dependencies, direct and indirect, in dependency order."""
    order = dependency_order(project) if order is None else order
    found: dict[str, set[str]] = {}
    for name in order:  # dependencies come first: their own sets are complete
        deps = project.services[name].depends_on
        found[name] = set(deps).union(*(found.get(d, set()) for d in deps))
    return {name: [d for d in order if d in found[name]] for name in order}


def apply(
    project_dir: Path,
    needs: Needs,
    timeout: float | None = None,
    on_progress: Progress | None = None,
    replace_data: bool = False,
    engine: _docker.Engine = _docker.DOCKER,
    adopt_data: bool = False,
    adopt_from: Path | None = None,
    snapshot: bool = False,
) -> ApplyReport:
    """Build, bring the project up and wait until it is healthy, or say what failed.

    ``needs``: how to build, the project lock (``_docker.project_lock``: one apply or
    destroy of a project at a time on this host, a second
    one raises ``_docker.Busy``. Before anything changes: a Swarm stack of the project's
    name, containers of this project name from another folder, or a container that would
    come back on another volume than its data is in (unless ``replace_data``), raise
    RuntimeFailure and nothing is touched. So do volumes and containers a folder that is
    gone left for this project (it moved or was renamed), unless ``adopt_data`` (take them
    over; ``adopt_from``: the folder whose data to take where several left some) or, for a
    renamed project, ``replace_data`` (start empty). ``snapshot``: dump every migrated
    database with applied and pending migrations before its migrator runs (``snapshot=True``
    asks it of one; see ``_snapshots``). ``engine``: the real one unless a test passes a fake."""
    adopting = _Adopting(adopt_data or adopt_from is not None, str(adopt_from) if adopt_from else None, replace_data)
    with needs.lock(_lower.project_name(project_dir), "apply"):
        return _apply(engine, project_dir, needs, timeout, on_progress, replace_data, adopting, snapshot)


def _apply(
    engine: _docker.Engine,
    project_dir: Path,
    needs: Needs,
    timeout: float | None,
    on_progress: Progress | None,
    replace_data: bool,
    adopting: _Adopting | None = None,
    snapshot: bool = False,
) -> ApplyReport:
    clock = needs.clock or CLOCK
    started = clock.monotonic()
    engine_checked = engine.start_engine_check()  # runs while we build
    try:
        built = needs.build(project_dir, target="compose")
    finally:
        info = engine_checked()  # no engine says so first, even when the build fails
    too_old = engine_refusal(built.project, built.path.name, info.server_version, info.api_version)
    if too_old:
        raise RuntimeFailure(too_old)
    project = built.project.running(_envfile.run_values(built.path.parent, needs.environ).get("COMPOSE_PROFILES", ""))
    _envfile.require(project, built.path.parent, needs.environ)
    folder = project_dir.resolve()
    compose = _docker.ComposeProject(project.name, folder, (built.path,))
    with ThreadPoolExecutor(3) as pool:  # the listings, side by side
        listed_volumes = pool.submit(engine.volumes, project.name)
        stack = pool.submit(engine.swarm_stack, project.name)
        listing = engine.container_list()
        applied = any(c.project == project.name for c in listing)
        if not applied:  # a first apply: `compose up` will run
            _docker.preload_compose_up()
        # Compose's hashes, only where there are containers to compare them with: its
        # `config` reads the whole file (about as long as inspecting 80 containers).
        hashes = _in_background(engine.config_hashes, compose) if applied else None
        existing, holders = project_and_named(engine, project, listing)
        volumes = listed_volumes.result()
    check_no_stack(project, folder, stack.result())
    check_owner(project.name, folder, existing)
    check_names(project.name, holders)
    check_volume_owner(project.name, folder, volumes)
    taken = take_over(engine, project, folder, (existing, holders, volumes), adopting or _Adopting())
    if taken.changed:
        existing = engine.project_containers(project.name)
        volumes = engine.volumes(project.name)
    moves = volume_moves(project, existing)
    if moves and not replace_data:
        names = [name for m in moves for name in (m.old, m.new) if name]
        raise guard_error(project.name, moves, engine.volume_usage(names, volume_images(project, existing)))
    orphans = orphans_of(built.project, existing)  # a service of an inactive profile is no orphan
    if orphans:
        engine.remove_containers(stop_order([o for o in existing if o.service not in built.project.services]))
    before = containers_before(project, existing, {o.container for o in orphans})
    why = why_up(project, before, compose, engine, hashes.result if hashes is not None else None)
    services = up_services(project, why)
    if why:
        _docker.preload_compose_up()
    watch = _Watch(engine, project, _engine_now() if why else None, started, on_progress, why, before, clock=clock)
    if not why and not any(state.restart_count for state in before.values()):
        # Nothing to change, nothing ever restarted: the containers are as just inspected
        # (a container that restarts is looked at again: it may be in a crash loop).
        watch.poll(states=before)
    snapshots: tuple[Any, ...] = ()
    if why and (snapshot or any(t.snapshot for t in project.databases)):
        from ... import _snapshots

        env = _envfile.run_values(built.path.parent, needs.environ)
        snapshots = _snapshots.take(project, folder, env, engine, requested=snapshot)
        volumes = engine.volumes(project.name) if snapshots else volumes
    if why and joins_shared_network(project):  # Compose would create it when missing: two at once make two
        engine.ensure_network(_lower.NETWORK)
        own_volumes(project, folder, volumes, engine)
    up = _Up(engine, compose, services) if why else None
    if up is not None:
        up.start()
    deadline = started + (timeout if timeout is not None else deadline_seconds(project))
    failure = None if up is None and watch.all_good() else _wait(watch, up, deadline)
    return ApplyReport(
        project=project.name,
        file=built.path,
        engine=info,
        services=_service_reports(watch, {name: s.id for name, s in before.items()}),
        seconds=clock.monotonic() - started,
        unchanged="" if why else "already up to date, compose up not needed",
        failure=failure,
        why_up=why,
        up_services=tuple(services) if services is not None else None,
        orphans=orphans,
        replaced=(*moves, *taken.kept),
        adopted=taken.adopted,
        stranded=taken.stranded,
        notes=built.notes,
        snapshots=snapshots,
    )


def _in_background(fn: Callable[..., Any], *args: Any) -> Future[Any]:
    """``fn(*args)`` started in a thread of its own; nothing waits for it but its result."""
    pool = ThreadPoolExecutor(1)
    try:
        return pool.submit(fn, *args)
    finally:
        pool.shutdown(wait=False)


def project_and_named(
    engine: _docker.Engine, project: Project, listing: Sequence[_docker.Listed]
) -> tuple[list[ContainerState], list[ContainerState]]:
    """The containers of the project (any name) and those with the names of its services (any
    project), from the engine's ``listing``: each inspected once, in one call."""
    names = {s.container for s in project.services.values()}
    ids = [c.id for c in listing if c.project == project.name or c.name in names]
    states = engine.inspect_containers(ids) if ids else []
    existing = sorted((c for c in states if c.project == project.name), key=lambda c: c.name)
    holders = sorted((c for c in states if c.name in names), key=lambda c: c.name)
    return existing, holders


def containers_before(
    project: Project, existing: Sequence[ContainerState], removed: set[str]
) -> dict[str, ContainerState]:
    """The containers of the services that run, by service, as ``existing`` lists them
    (``removed``: the orphans removed since)."""
    names = {s.container for s in project.ordered()}
    return _docker.by_service(c for c in existing if c.name in names and c.name not in removed)


def joins_shared_network(project: Project) -> bool:
    """Whether the project joins the engine-wide ``app_network`` (not one of its own, as an
    isolated copy's, nor none, under ``ProjectSettings(shared_network=False)``)."""
    spec = project.network_specs.get(_lower.NETWORK)
    return _lower.NETWORK in project.networks and (spec is None or spec.fixed)


# -- ownership, the data guard, orphans -------------------------------------------------------


def gone(folder: str) -> bool:
    """Whether ``folder``, which made a container or volume, no longer holds a project: it
    does not exist, or has no main.py (moved or renamed away). A folder this process cannot
    look into, or a label that is no absolute path, is not known to be gone."""
    if not os.path.isabs(folder):
        return False
    try:
        return not stat.S_ISREG(os.stat(Path(folder) / "main.py").st_mode)
    except (FileNotFoundError, NotADirectoryError):
        return True
    except OSError:
        return False


def _same(owner: str, folder: Path | str) -> bool:
    return os.path.realpath(owner) == os.path.realpath(folder)


def owned(container: ContainerState, folder: Path) -> bool:
    """Whether Compose created ``container`` from ``folder`` (its working_dir label)."""
    return not container.working_dir or Path(os.path.realpath(container.working_dir)) == folder


def check_owner(
    name: str, folder: Path, existing: Sequence[ContainerState], is_gone: Callable[[str], bool] = gone
) -> None:
    """RuntimeFailure when containers of project ``name`` were created from another folder
    (one that is gone is ``take_over``'s business)."""
    theirs = [c for c in existing if not owned(c, folder) and not is_gone(c.working_dir)]
    foreign = sorted({c.working_dir for c in theirs})
    if foreign:
        names = ", ".join(sorted(c.name for c in theirs))
        raise RuntimeFailure(
            f"project {name} belongs to {foreign[0]}: its containers ({names}) were created there, "
            f"not in {folder}; nothing was changed. Run `clockwork destroy` in {foreign[0]} first, "
            "or rename this folder so that it gets a project name of its own"
        )


def check_no_stack(project: Project, folder: Path, stack: _docker.SwarmStack) -> None:
    """RuntimeFailure while a Swarm stack of the project's name has services on this engine,
    or left volumes that another folder made, of the names this project mounts: a stack's
    volumes are named as the Compose project's (``<name>_<volume>``), and Compose would
    start a second database on the data directory the stack serves, or borrow its data."""
    name = project.name
    if stack.services:
        owner = next((o for o in sorted(stack.services.values()) if not _same_folder(o, folder)), "")
        made, where = (f", made from {owner}", f" in {owner}") if owner else ("", "")
        volumes = sorted(project.volumes)
        shared = f"; its volumes have the names this project's would ({name}_{volumes[0]})" if volumes else ""
        raise RuntimeFailure(
            f"Swarm stack {name} runs on this engine (services {', '.join(sorted(stack.services))}{made})"
            f"{shared}; nothing was changed. Run "
            f"`clockwork destroy --target swarm --keep-volumes`{where} first (the volumes and their data stay), "
            "or rename this folder so that it gets a project name of its own"
        )
    mounted = {f"{name}_{key}" for key in project.volumes}
    theirs = [
        v for v in stack.volumes if v.name in mounted and not _same_folder(v.labels.get(_docker.OWNER_LABEL), folder)
    ]
    if theirs:
        owner = theirs[0].labels[_docker.OWNER_LABEL]
        raise RuntimeFailure(
            f"Swarm stack {name}, made in {owner}, left its data in {', '.join(v.name for v in theirs)}, which "
            f"this project would mount; nothing was changed. Run `clockwork destroy --target swarm` in {owner} "
            "first, or rename this folder so that it gets a project name of its own"
        )


def _same_folder(owner: str | None, folder: Path) -> bool:
    """Whether ``owner`` (a folder label) names ``folder``; no label: nobody else's either."""
    return not owner or Path(os.path.realpath(owner)) == folder


def check_names(name: str, holders: Sequence[ContainerState], is_gone: Callable[[str], bool] = gone) -> None:
    """RuntimeFailure when a container with a name main.py gives a service belongs to
    another project (or none): Compose would fail half-way, unable to create it. (One made
    in a folder that is gone is ``take_over``'s business.)"""
    taken = sorted((c for c in holders if c.project != name and not is_gone(c.working_dir)), key=lambda c: c.name)
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
            new = project.volume_name(mount.source) if mount is not None and mount.kind == "volume" else ""
            if new != old:
                moves.append(VolumeMove(c.service, path, old, new))
    return sorted(moves, key=lambda m: (m.service, m.path))


def guard_error(
    name: str, moves: Sequence[VolumeMove], usage: Mapping[str, _docker.VolumeUsage] | None = None
) -> RuntimeFailure:
    """What would be lost, how to keep it, and the flag that goes ahead anyway; ``usage``
    (from ``Engine.volume_usage``) says what each volume holds, where it was measured."""
    usage = usage or {}
    parts, onto_data = [], False
    for m in moves:
        old = f" ({size_text(usage[m.old])})" if m.old in usage else ""
        part = f"{m.service} keeps its data in volume {m.old}{old} at {m.path}, and "
        if not m.new:
            part += "the new file mounts no volume there"
        else:
            part += f"the new file mounts {m.new} there{_volume_state(usage.get(m.new))}"
            onto_data = onto_data or _holds_data(usage.get(m.new))
        key = m.old.removeprefix(f"{name}_")
        if key != m.old:
            part += f'; to keep the data, declare volumes=["{key}:{m.path}"] on {m.service} in main.py'
        parts.append(part)
    instead = "on the data the new file mounts instead" if onto_data else "without that data"
    return RuntimeFailure(
        "apply stopped before changing anything: "
        + "; ".join(parts)
        + f"; to recreate it {instead} (the old volume is kept, not deleted), run `clockwork apply --replace-data`"
    )


def _volume_state(usage: _docker.VolumeUsage | None) -> str:
    """What a volume apply would mount holds, as a clause; "" when not known."""
    if usage is None:
        return ""
    if not usage.exists:
        return ", which does not exist yet (apply would create it empty)"
    if usage.kib is None:
        return ", which exists (what it holds could not be measured)"
    return ", which exists and is empty" if not usage.entries else f", which holds {size_text(usage)}"


def _holds_data(usage: _docker.VolumeUsage | None) -> bool:
    return usage is not None and usage.exists and bool(usage.entries)


def size_text(usage: _docker.VolumeUsage) -> str:
    """``39.2 MB``, ``empty``, ``does not exist`` or ``size unknown``."""
    if not usage.exists:
        return "does not exist"
    if usage.kib is None or usage.entries is None:
        return "size unknown"
    return human_size(usage.kib) if usage.entries else "empty"


def volume_images(project: Project, containers: Sequence[ContainerState]) -> list[str]:
    """Images to measure or copy volumes with, present here in all likelihood: those the
    containers run, then the ones main.py names."""
    return [*(c.image_id or c.image for c in containers), *(s.image for s in project.ordered() if s.image)]


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


def check_volume_owner(
    name: str, folder: Path, volumes: Sequence[_docker.Volume], is_gone: Callable[[str], bool] = gone
) -> None:
    """RuntimeFailure when volumes of project ``name`` were made by an apply in another
    folder (its containers may be gone: ``destroy --keep-volumes``): never borrow its data.
    (A folder that is gone is ``take_over``'s business.)"""
    owners = volume_owners(volumes)
    theirs = [v for v in volumes if not _volume_owned(owners[v.name], folder, ()) and not is_gone(owners[v.name])]
    if theirs:
        owner = owners[theirs[0].name]
        names = " ".join(v.name for v in theirs)
        raise RuntimeFailure(
            f"project {name} belongs to {owner}: its volumes ({names}) were created there, not in {folder}; "
            f"nothing was changed. Run `clockwork destroy` in {owner}, "
            "or rename this folder so that it gets a project name of its own"
        )


def own_volumes(
    project: Project, folder: Path, volumes: Sequence[_docker.Volume], engine: _docker.Engine = _docker.DOCKER
) -> None:
    """Create the project's named volumes that are missing, labelled as Compose would
    label them plus the folder that owns them (Compose labels volumes with no folder)."""
    present = {v.name for v in volumes}
    for key in project.volumes:
        name = f"{project.name}_{key}"
        if name not in present:
            labels = {
                _docker.PROJECT_LABEL: project.name,
                _docker.VOLUME_LABEL: key,
                _docker.OWNER_LABEL: str(folder),
            }
            engine.create_volume(name, labels)


# -- a folder that moved or was renamed: its data and containers, adopted ---------------------

#: Name suffixes of the two kinds of volume ``--adopt-data`` makes that hold no data: the
#: record that a moved project's volume is this folder's now, and the marker of a copy.
RECORD = ".clockwork-owner"
MARKER = ".clockwork-copying"


def volume_owners(volumes: Sequence[_docker.Volume]) -> dict[str, str]:
    """Each volume's owner folder ("" when clockwork did not label it): its ``OWNER_LABEL``,
    unless a record volume (``OWNER_OF_LABEL``, made by ``--adopt-data`` when the project
    moved: the engine never changes a label) says which folder owns it now."""
    records = {
        v.labels[_docker.OWNER_OF_LABEL]: v.labels.get(_docker.OWNER_LABEL, "")
        for v in volumes
        if _docker.OWNER_OF_LABEL in v.labels
    }
    return {v.name: records.get(v.name, v.labels.get(_docker.OWNER_LABEL, "")) for v in volumes}


def _data_volume(volume: _docker.Volume) -> bool:
    """Not a record nor a marker of ``--adopt-data``."""
    return not ({_docker.OWNER_OF_LABEL, _docker.COPYING_INTO_LABEL} & volume.labels.keys())


@dataclass(frozen=True)
class Taken:
    """A volume that a folder which is gone made, holding data of a volume this project declares."""

    source: str
    #: The folder that made it, gone.
    folder: str
    #: This project's volume for that data: ``source`` itself when the project moved (the
    #: same name), else a volume the data is copied into (the project was renamed).
    target: str
    #: The Compose project that made ``source``.
    project: str

    @property
    def moved(self) -> bool:
        return self.source == self.target


@dataclass(frozen=True)
class Adoption:
    """What folders that are gone left for this project: what ``--adopt-data`` takes over."""

    volumes: tuple[Taken, ...] = ()
    #: Copies an earlier ``--adopt-data`` began and did not finish: the target holds part of
    #: the data, and is not used until a copy finishes.
    unfinished: tuple[Taken, ...] = ()
    #: Per volume this project lacks, the volumes of several folders that are gone (or of
    #: none of them ``--adopt-data-from`` named): which one is the user's to say.
    ambiguous: tuple[tuple[Taken, ...], ...] = ()
    #: Containers created in folders that are gone: this project's, those holding a name
    #: main.py gives a service, and those of the project whose data is copied.
    containers: tuple[ContainerState, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.volumes or self.unfinished or self.ambiguous or self.containers)

    @property
    def copies(self) -> tuple[Taken, ...]:
        return tuple(t for t in self.volumes if not t.moved)


@dataclass(frozen=True)
class Adopted:
    """A volume ``--adopt-data`` took over."""

    source: str
    folder: str
    target: str
    #: KiB copied; None when nothing was copied (a moved project keeps its volume).
    kib: int | None = None


def missing_volumes(project: Project, volumes: Sequence[_docker.Volume]) -> list[str]:
    """The keys of the project's named volumes that do not exist yet."""
    present = {v.name for v in volumes}
    return [key for key in project.volumes if f"{project.name}_{key}" not in present]


def plan_adoption(
    project: Project,
    folder: Path,
    existing: Sequence[ContainerState],
    holders: Sequence[ContainerState],
    volumes: Sequence[_docker.Volume],
    others: Sequence[_docker.Volume] = (),
    adopt_from: str | None = None,
    is_gone: Callable[[str], bool] = gone,
) -> Adoption:
    """What folders that are gone left for this project, from the engine's listings:
    ``existing`` (the project's containers), ``holders`` (containers with the services'
    names), ``volumes`` (the project's) and ``others`` (every volume clockwork made, needed
    only when one of the project's is missing). Moved: the project's own volumes and
    containers made in a folder that is gone. Renamed: for a volume the project lacks, the
    volume of the same key that another project made in a folder that is gone, unless a
    complete copy of it exists already (it was adopted) or a copy into it is unfinished."""
    everything = {v.name: v for v in [*others, *volumes]}
    owners = volume_owners(list(everything.values()))
    stranded = [
        Taken(v.name, owners[v.name], v.name, project.name)
        for v in volumes
        if _data_volume(v) and owners[v.name] and not _same(owners[v.name], folder) and is_gone(owners[v.name])
    ]
    markers = [v for v in everything.values() if _docker.COPYING_INTO_LABEL in v.labels]
    incomplete = {v.labels[_docker.COPYING_INTO_LABEL] for v in markers}
    unfinished = tuple(
        Taken(v.labels.get(_docker.ADOPTED_FROM_LABEL, ""), "", v.labels[_docker.COPYING_INTO_LABEL], "")
        for v in markers
        if v.labels.get(_docker.PROJECT_LABEL) == project.name
    )
    adopted = {
        v.labels[_docker.ADOPTED_FROM_LABEL]
        for v in everything.values()
        if _docker.ADOPTED_FROM_LABEL in v.labels and _data_volume(v) and v.name not in incomplete
    }
    ambiguous = []
    for key in missing_volumes(project, volumes):
        target = f"{project.name}_{key}"
        if target in incomplete:
            continue
        found = [
            Taken(v.name, owners[v.name], target, v.labels.get(_docker.PROJECT_LABEL, ""))
            for v in everything.values()
            if v.labels.get(_docker.VOLUME_LABEL) == key
            and v.labels.get(_docker.PROJECT_LABEL) != project.name
            and _data_volume(v)
            and v.name not in incomplete | adopted
            and owners[v.name]
            and is_gone(owners[v.name])
        ]
        chosen = [t for t in found if adopt_from is None or _same(t.folder, adopt_from)]
        if len(chosen) == 1:
            stranded.append(chosen[0])
        elif found:
            ambiguous.append(tuple(found))
    containers = [c for c in existing if c.working_dir and not owned(c, folder) and is_gone(c.working_dir)]
    containers += [c for c in holders if c.project != project.name and c.working_dir and is_gone(c.working_dir)]
    return Adoption(tuple(stranded), unfinished, tuple(ambiguous), _unique(containers))


def _unique(containers: Sequence[ContainerState]) -> tuple[ContainerState, ...]:
    return tuple(sorted({c.id: c for c in containers}.values(), key=lambda c: c.name))


def find_adoption(
    engine: _docker.Engine,
    project: Project,
    folder: Path,
    existing: Sequence[ContainerState],
    holders: Sequence[ContainerState],
    volumes: Sequence[_docker.Volume],
    adopt_from: str | None = None,
) -> Adoption:
    """``plan_adoption`` with what it needs from the engine beyond apply's listings: every
    clockwork volume (only when one of the project's is missing), and the containers of a
    renamed project whose data would be copied (only then)."""
    others = engine.clockwork_volumes() if missing_volumes(project, volumes) else []
    plan = plan_adoption(project, folder, existing, holders, volumes, others, adopt_from)
    theirs = [
        c
        for t in plan.copies
        for c in engine.project_containers(t.project)
        if c.working_dir and _same(c.working_dir, t.folder)
    ]
    return dataclasses.replace(plan, containers=_unique([*plan.containers, *theirs])) if theirs else plan


def adoption_error(
    project: Project, adoption: Adoption, usage: Mapping[str, _docker.VolumeUsage] | None = None
) -> RuntimeFailure:
    """What folders that are gone left, how much data it is, and the flags that take it
    over or go ahead without it."""
    usage = usage or {}

    def held(name: str) -> str:
        return f"{name} ({size_text(usage[name])})" if name in usage else name

    parts = []
    for where, group in itertools.groupby(adoption.containers, key=lambda c: c.working_dir):
        listed = list(group)
        projects = sorted({c.project for c in listed})
        parts.append(
            f"containers {', '.join(c.name for c in listed)} (project {', '.join(projects)}) were created in {where}, "
            "which is gone (moved or renamed?)"
        )
    for t in adoption.volumes:
        service = _service_of(project, t.target)
        if t.moved:
            parts.append(f"volume {held(t.source)} of {service} was created in {t.folder}, which is gone")
        else:
            parts.append(
                f"{service} has no volume here yet ({t.target}): volume {held(t.source)} of project {t.project} "
                f"holds its data, created in {t.folder}, which is gone"
            )
    for group in adoption.ambiguous:
        service = _service_of(project, group[0].target)
        found = ", ".join(f"{held(t.source)} from {t.folder}" for t in group)
        parts.append(f"{service} has no volume here yet ({group[0].target}), and folders that are gone left {found}")
    for t in adoption.unfinished:
        parts.append(
            f"copying volume {t.source} into {t.target} (--adopt-data) was interrupted: {t.target} holds part of "
            f"the data and is not used; {t.source} is unchanged"
        )
    ways = []
    if adoption.volumes or adoption.unfinished or adoption.containers:
        how = []
        if any(t.moved for t in adoption.volumes):
            how.append("a moved project's volumes stay as they are and become this folder's")
        if adoption.copies or adoption.unfinished:
            how.append("a renamed project's data is copied, the original volume kept")
        if adoption.containers:
            how.append("the containers are replaced by this folder's")
        ways.append(f"to take them into this project, run `clockwork apply --adopt-data` ({'; '.join(how)})")
    if adoption.ambiguous:
        ways.append("to copy one, run `clockwork apply --adopt-data-from FOLDER` with the folder it came from")
    if not adoption.unfinished and not any(t.moved for t in adoption.volumes):
        ways.append("to start empty instead (the old volumes are kept), run `clockwork apply --replace-data`")
    return RuntimeFailure("apply stopped before changing anything: " + "; ".join(parts + ways))


def _service_of(project: Project, volume: str) -> str:
    """The service that mounts this project volume (its name, when none does)."""
    key = volume.removeprefix(f"{project.name}_")
    for service in project.ordered():
        if any(m.kind == "volume" and m.source == key for m in service.mounts):
            return service.name
    return volume


def adopt(
    engine: _docker.Engine,
    project: Project,
    folder: Path,
    adoption: Adoption,
    volumes: Sequence[_docker.Volume],
) -> tuple[Adopted, ...]:
    """Take over what folders that are gone left, in an order where stopping at any point
    (Ctrl-C, kill) loses nothing and the next ``apply --adopt-data`` finishes the work:

    1. each moved volume gets a record that this folder owns it (a record of an earlier
       move is replaced; until the new one exists the volume is still the gone folder's);
       the volume itself is not touched;
    2. the containers made in folders that are gone are removed (named volumes stay);
    3. each copy: a marker volume, the target volume, the copy (the source mounted
       read-only), then the marker removed. While the marker exists, apply refuses to use
       the target (without ``--adopt-data``) or empties it and copies again (with it). The
       source is never written nor removed."""
    present = {v.name for v in volumes}
    done = []
    for t in adoption.volumes:
        if t.moved:
            record = t.source + RECORD
            if record in present:
                engine.remove_volumes([record])
            engine.create_volume(
                record,
                {
                    _docker.PROJECT_LABEL: project.name,
                    _docker.OWNER_LABEL: str(folder),
                    _docker.OWNER_OF_LABEL: t.source,
                },
            )
            done.append(Adopted(t.source, t.folder, t.target))
    if adoption.containers:
        engine.remove_containers(stop_order(adoption.containers))
    images = volume_images(project, adoption.containers)
    for t in [*adoption.unfinished, *adoption.copies]:
        done.append(Adopted(t.source, t.folder, t.target, _copy(engine, project, folder, t, images)))
    return tuple(done)


def _copy(engine: _docker.Engine, project: Project, folder: Path, taken: Taken, images: Sequence[str]) -> int:
    """Step 3 of ``adopt`` for one volume: the KiB copied."""
    source, target = taken.source, taken.target
    if not engine.volume_usage([source], ()).get(source, _docker.VolumeUsage(source, False)).exists:
        raise RuntimeFailure(
            f"copying volume {source} into {target} (--adopt-data) was interrupted, and {source} no longer exists: "
            f"{target} holds part of its data; to start over without it, remove both: "
            f"`docker volume rm {target} {target}{MARKER}`"
        )
    # A copy an interrupted apply left running is not in the way: copy_volume removes it first.
    using = [c for c in engine.containers_using(source) if c.name != _docker.copier(target)]
    running = sorted(c.name for c in using if c.status in ("running", "restarting", "paused"))
    if running:
        raise RuntimeFailure(
            f"volume {source} is in use by {', '.join(running)}, still running: a copy of data that changes as it "
            f"is copied is not consistent; stop {'it' if len(running) == 1 else 'them'} "
            f"(`docker stop {' '.join(running)}`), then run `clockwork apply --adopt-data` again"
        )
    owner = {_docker.PROJECT_LABEL: project.name, _docker.OWNER_LABEL: str(folder)}
    engine.create_volume(
        target + MARKER, {**owner, _docker.COPYING_INTO_LABEL: target, _docker.ADOPTED_FROM_LABEL: source}
    )
    key = target.removeprefix(f"{project.name}_")
    engine.create_volume(target, {**owner, _docker.VOLUME_LABEL: key, _docker.ADOPTED_FROM_LABEL: source})
    kib = engine.copy_volume(source, target, images)
    engine.remove_volumes([target + MARKER])
    return kib


@dataclass(frozen=True)
class _Adopting:
    """What apply was told about data that folders which are gone left."""

    adopt: bool = False
    adopt_from: str | None = None
    replace_data: bool = False


@dataclass(frozen=True)
class _TakenOver:
    """What ``take_over`` did."""

    adopted: tuple[Adopted, ...] = ()
    stranded: tuple[ContainerState, ...] = ()
    #: Volumes of a renamed project left behind (``replace_data``): kept, not mounted.
    kept: tuple[VolumeMove, ...] = ()

    @property
    def changed(self) -> bool:
        return bool(self.adopted or self.stranded)


def take_over(
    engine: _docker.Engine,
    project: Project,
    folder: Path,
    listings: tuple[Sequence[ContainerState], Sequence[ContainerState], Sequence[_docker.Volume]],
    adopting: _Adopting,
) -> _TakenOver:
    """Deal with what folders that are gone left for this project, before anything else:
    stop and say so (RuntimeFailure, nothing changed), or adopt it (``adopt``), or, when
    the project was renamed, leave the old data behind and start empty (``replace_data``)."""
    existing, holders, volumes = listings
    found = find_adoption(engine, project, folder, existing, holders, volumes, adopting.adopt_from)
    if not found:
        return _TakenOver()
    moved = any(t.moved for t in found.volumes) or bool(found.unfinished)
    if adopting.adopt and not found.ambiguous:
        return _TakenOver(adopt(engine, project, folder, found, volumes), found.containers)
    if adopting.replace_data and not adopting.adopt and not moved:
        if found.containers:
            engine.remove_containers(stop_order(found.containers))
        left = [*found.copies, *(t for group in found.ambiguous for t in group)]
        kept = tuple(VolumeMove(_service_of(project, t.target), "", t.source, t.target) for t in left)
        return _TakenOver(stranded=found.containers, kept=kept)
    names = [t.source for t in found.volumes] + [t.source for group in found.ambiguous for t in group]
    usage = engine.volume_usage(names, volume_images(project, [*found.containers, *existing])) if names else {}
    raise adoption_error(project, found, usage)


def why_up(
    project: Project,
    before: dict[str, ContainerState],
    compose: _docker.ComposeProject,
    engine: _docker.Engine = _docker.DOCKER,
    hashes: Callable[[], dict[str, str]] | None = None,
) -> dict[str, str]:
    """Each service `compose up` must change, and why; empty when there is nothing to do.
    ``hashes``: Compose's, from where the caller asked for them already (None: ask now)."""
    if not before:  # a first apply: no need to ask Compose for hashes
        return {name: "no container" for name in dependency_order(project)}
    images = engine.image_ids(state.image for state in before.values())  # while Compose hashes, if it does
    found = hashes() if hashes is not None else engine.config_hashes(compose)
    return stale(project, before, found, images)


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
        return CONFIG_CHANGED
    if images.get(state.image) != state.image_id:
        return IMAGE_CHANGED
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
    """Poll until everything is ready, a service failed, or the deadline.

    A failure seen while `compose up` runs waits for Compose to finish (it fails by itself
    when what it waits for fails, and a half-done recreate must not be cut short), unless
    Compose waits for a crash loop that never ends: then the clock's grace for its message."""
    failing_since: float | None = None
    while True:
        running = up is not None and up.is_alive()
        watch.poll(composing=running)
        if up is not None and up.error is not None:
            return _failure(watch, up)
        if not running and watch.all_good():
            return None
        failed = watch.failed()
        if failed and not running:
            return _failure(watch, up, failed)
        if failed and watch.holds_up(failed):
            failing_since = failing_since or watch.clock.monotonic()
            if watch.clock.monotonic() - failing_since > watch.clock.grace:
                return _failure(watch, up, failed)
        else:
            failing_since = None
        if watch.clock.monotonic() > deadline:
            return _timed_out(watch, deadline)
        if running:
            up.join(watch.clock.poll)  # wakes as soon as compose up returns
        else:
            watch.clock.sleep(watch.clock.poll)


def _failure(watch: _Watch, up: _Up | None, seen: Sequence[str] = ()) -> Failure:
    """The failed service (``seen`` failing; another poll may show more), why, with the
    engine's own error when `compose up` failed, its logs, and what is down now."""
    watch.poll(composing=up is not None and up.is_alive())
    failed = watch.failed() or [name for name in seen if name in watch.phases]
    engine_error = str(up.error) if up is not None and up.error is not None else ""
    service = failed[0] if failed else _named_in(engine_error, watch.project)
    # The engine's own words always; a service's state first when it is known.
    reason = ": ".join(part for part in (_what_happened(service, watch) if service else "", engine_error) if part)
    logs = _logs(watch, service)
    hint = next((fix for words, fix in HINTS if words in logs or words in engine_error), "")
    reason = reason or "compose up failed"
    return Failure(service, f"{reason}; {hint}" if hint else reason, logs, down=down_now(watch))


#: Known words in a failed service's logs, and what to do about them: each engine's.
HINTS = tuple(hint for engine in CATALOG for hint in engine.log_hints)


def _what_happened(service: str, watch: _Watch) -> str:
    state, now = watch.states.get(service), watch.phases.get(service)
    if now == "failed" and state is not None:
        return f"{service} failed (exit code {state.exit_code})"
    if now == "restarting":
        count = state.restart_count if state else 0
        times = f"restarted {count} time{'' if count == 1 else 's'}, " if count else ""
        return f"{service} keeps restarting ({times}{_last_exit(watch, state)})"
    if now == "exited":
        restart = watch.project.services[service].restart
        return f'{service} exited with code 0 but is meant to stay up (restart: "{restart}")'
    if now == "unhealthy" and state is not None:
        said = _one_line(state.health_output)
        return f"{service} is unhealthy; its readiness probe " + (f"said: {said}" if said else "printed nothing")
    return f"{service} is {now}" if now in BAD else f"{service} did not start"


def _last_exit(watch: _Watch, state: ContainerState | None) -> str:
    code = watch.last_exit(state) if state is not None else None
    return f"last exit code {code}" if code is not None else "last exit code not known"


def down_now(watch: _Watch) -> tuple[str, ...]:
    """Each service whose container was running before this apply and is not now (or is
    in a crash loop), as "NAME: what it is now" and what it waits for."""
    out = []
    for name in watch.order:
        was, state, now = watch.before.get(name), watch.states.get(name), watch.phases.get(name, "")
        if was is None or was.status != "running":
            continue
        if state is not None and state.status == "running" and not now.startswith("restarting"):
            continue
        if state is None:
            what = "no container"
        elif state.status == "created":
            what = "created, not started"
        elif state.status in ("restarting", "running"):
            what = f"restarting ({_last_exit(watch, state)})"
        elif state.status == "exited":
            what = f"exited (exit code {watch.last_exit(state)})"
        else:
            what = state.status
        blocker = next((d for d in watch.ancestors[name] if watch.phases.get(d) not in GOOD), None)
        if blocker is not None:
            what += f"; waits for {blocker} ({watch.phases.get(blocker, 'waiting')})"
        out.append(f"{name}: {what}")
    return tuple(out)


def _one_line(text: str, limit: int = 300) -> str:
    flat = " / ".join(line.strip() for line in text.splitlines() if line.strip())
    return flat if len(flat) <= limit else flat[: limit - 3] + "..."


def _logs(watch: _Watch, service: str | None) -> str:
    """The last log lines of ``service`` since this apply began ("" when it has no container)."""
    if not service or service not in watch.states:
        return ""
    return watch.engine.logs(watch.project.services[service].container, tail=watch.clock.log_lines, since=watch.since)


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
    logs = _logs(watch, service)
    return Failure(service, reason, logs, down=down_now(watch))


def _interrupted(watch: _Watch) -> Failure:
    """Ctrl-C while waiting: what was left running (nothing is stopped)."""
    with contextlib.suppress(Exception, KeyboardInterrupt):  # a second Ctrl-C, an engine call cut short
        watch.poll()
    order = dependency_order(watch.project)
    running = [f"{n} ({watch.phases[n]})" for n in order if watch.states.get(n) and watch.states[n].status == "running"]
    left = "; left running: " + ", ".join(running) if running else "; nothing was left running"
    pending = [n for n in order if watch.phases.get(n) not in GOOD and n not in watch.states]
    never = f"; not started: {', '.join(pending)}" if pending else ""
    return Failure(None, f"interrupted (Ctrl-C) while waiting{left}{never}", "", interrupted=True, down=down_now(watch))


def _named_in(text: str, project: Project) -> str | None:
    """The service a Compose error message is about: by name (a whole word: not ``app`` in
    ``app_network``), else by its image."""
    for name in sorted(project.services, key=len, reverse=True):
        if re.search(rf"(?<![\w.-]){re.escape(name)}(?![\w.-])", text):
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
        out.append(ServiceReport(name, role, watch.phases.get(name, "waiting"), change, state.id if state else None))
    return tuple(out)


# -- assert ---------------------------------------------------------------------------------


def check(
    project_dir: Path,
    compile_project: Callable[..., Any],
    timeout: float = 15.0,
    engine: _docker.Engine = _docker.DOCKER,
) -> AssertReport:
    """Run the built-in checks and the user's assertions against the running project
    (``compile_project``: ``_api.compile_project``, given by the caller)."""
    engine.engine_info()
    project, _, path = compile_project(project_dir)
    project = project.running(_envfile.run_values(path.parent).get("COMPOSE_PROFILES", ""))
    started = time.monotonic()
    checks = _assertions.run(_assertions.probes(project, secret_values(path.parent), engine=engine), timeout)
    return AssertReport(project.name, tuple(checks), time.monotonic() - started)


def secret_values(folder: Path) -> dict[str, str]:
    """What Compose substitutes in this run: the folder's .env, overridden by the environment
    (``_envfile.run_values``: the precedence every command shares)."""
    return _envfile.run_values(folder)


# -- destroy --------------------------------------------------------------------------------


def destroy(project_dir: Path, keep_volumes: bool = False, engine: _docker.Engine = _docker.DOCKER) -> DestroyReport:
    """Remove the containers (apps first, databases last), then the volumes (unless kept)
    and the networks left unused, of this project name created from this folder.

    Needs no main.py, no compose file and no secret: it goes by labels. Containers of the
    same project name from another folder are left alone, and so are the volumes then,
    unless clockwork labelled them as this folder's. Holds ``_docker.project_lock``: refused while
    an apply or destroy of the project runs."""
    name = _lower.project_name(project_dir)
    with _docker.project_lock(name, "destroy"):
        return _destroy(engine, project_dir.resolve(), name, keep_volumes)


def _destroy(engine: _docker.Engine, folder: Path, name: str, keep_volumes: bool) -> DestroyReport:
    engine.engine_info()
    existing = engine.project_containers(name)
    mine = [c for c in existing if owned(c, folder)]
    foreign = tuple(sorted({c.working_dir for c in existing if not owned(c, folder)}))
    listed = engine.volumes(name)
    owners = volume_owners(listed)
    volumes = [] if keep_volumes else [v.name for v in listed if _volume_owned(owners[v.name], folder, foreign)]
    left = left_behind(folder, existing, listed)
    engine.remove_containers(stop_order(mine))
    engine.remove_volumes(volumes)
    networks: tuple[str, ...] = ()
    if mine or volumes:
        names = {n.name for n in engine.networks(project=name)} | {_lower.NETWORK}
        networks = tuple(n for name_ in sorted(names) for n in engine.remove_network_if_unused(name_, name))
    removed = {"containers": tuple(sorted(c.name for c in mine)), "networks": networks, "volumes": tuple(volumes)}
    gone_folders = {one.folder for one in left}
    left_alone = [
        f"left alone: containers of project {name} created from {other} (destroy them there)"
        for other in foreign
        if other not in gone_folders
    ]
    left_alone += [_left_behind_line(name, one) for one in left]
    nothing = f"project {name} has no containers, networks or volumes here"
    return DestroyReport(name, removed, keep_volumes, nothing, foreign, tuple(left_alone))


def _left_behind_line(project: str, left: LeftBehind) -> str:
    """What a folder that is gone left of this project name: how to take it over or remove it."""
    kinds = (("containers", left.containers), ("volumes", left.volumes))
    what = " and ".join(f"{kind} {', '.join(names)}" for kind, names in kinds if names)
    commands = [f"`docker rm -f {' '.join(left.containers)}`"] if left.containers else []
    commands += [f"`docker volume rm {' '.join(left.volumes)}`"] if left.volumes else []
    return (
        f"left alone: {what} of project {project}, created in {left.folder}, which is gone: "
        f"`clockwork apply --adopt-data` makes them this folder's (destroy then removes them), "
        f"or remove them yourself: {' then '.join(commands)}"
    )


def left_behind(
    folder: Path,
    existing: Sequence[ContainerState],
    volumes: Sequence[_docker.Volume],
    is_gone: Callable[[str], bool] = gone,
) -> tuple[LeftBehind, ...]:
    """The containers and data volumes of the project name made in folders that are gone:
    not this folder's to remove (``apply --adopt-data`` makes them so), grouped by folder."""
    owners = volume_owners(volumes)
    found: dict[str, tuple[list[str], list[str]]] = {}
    for c in existing:
        if c.working_dir and not owned(c, folder) and is_gone(c.working_dir):
            found.setdefault(c.working_dir, ([], []))[0].append(c.name)
    for v in volumes:
        owner = owners[v.name]
        if _data_volume(v) and owner and not _same(owner, folder) and is_gone(owner):
            found.setdefault(owner, ([], []))[1].append(v.name)
    return tuple(LeftBehind(f, tuple(sorted(c)), tuple(sorted(v))) for f, (c, v) in sorted(found.items()))


def _volume_owned(owner: str, folder: Path, foreign: Sequence[str]) -> bool:
    """Whether a volume whose owner (``volume_owners``) is ``owner`` is ``folder``'s."""
    if owner:
        return _same(owner, folder)
    return not foreign  # made by Compose: this folder's unless another folder runs the project
