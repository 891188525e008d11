"""apply and destroy: plain functions over ``_runtime`` that return data, never print.

``apply`` builds the compose file, runs `compose up --detach` in a worker thread (Compose
itself holds each service back until its depends_on conditions hold, so a service whose
dependency failed is never started), and meanwhile polls the containers' states, reporting
each service's phase as it changes. It stops at the first of: everything healthy, running
or completed; a service failed; the deadline.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from . import _api, _assertions, _envfile, _graph, _lower, _runtime
from ._model import Project, Role, Service
from ._runtime import ContainerState

#: Seconds on top of the longest readiness budget: container start, migrations, app start.
MARGIN = 60
POLL = 0.5
#: How long to let Compose finish its own error message once a service is seen failing.
GRACE = 5.0
LOG_LINES = 20

GOOD = frozenset({"healthy", "running", "migrated", "completed"})
BAD = frozenset({"failed", "unhealthy", "restarting"})

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


@dataclass(frozen=True)
class ApplyReport:
    project: str
    compose_file: Path
    engine: _runtime.EngineInfo
    services: tuple[ServiceReport, ...]
    seconds: float
    failure: Failure | None = None

    @property
    def ok(self) -> bool:
        return self.failure is None


@dataclass(frozen=True)
class DestroyReport:
    project: str
    removed: _runtime.Removed
    kept_volumes: bool


# -- phases ---------------------------------------------------------------------------------


def phase(service: Service, state: ContainerState | None, since: datetime | None = None) -> str:
    """What a service is doing, from its container's state.

    A container that last ran before ``since`` (a one-shot from the previous apply) is
    ``waiting``: Compose has not run it again yet."""
    if state is None or state.status == "created":
        return "waiting"
    if state.status == "running":
        return state.health or "running"
    if state.status == "restarting":
        return "restarting"
    if state.status == "exited":
        if since is not None and state.finished is not None and state.finished < since:
            return "waiting"
        if state.exit_code != 0:
            return "failed"
        return "migrated" if service.role is Role.MIGRATOR else "completed"
    return state.status


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

    def __init__(self, compose: _runtime.ComposeProject) -> None:
        super().__init__(daemon=True, name=f"compose-up-{compose.name}")
        self.compose = compose
        self.error: Exception | None = None

    def run(self) -> None:
        try:
            _runtime.compose_up(self.compose)
        except Exception as exc:  # reported as data by apply(), never lost
            self.error = exc


@dataclass
class _Watch:
    project: Project
    since: datetime
    started: float
    on_progress: Progress | None
    phases: dict[str, str] = field(default_factory=dict)
    states: dict[str, ContainerState] = field(default_factory=dict)

    def poll(self) -> None:
        self.states = _runtime.containers(self.project.name)
        for name in dependency_order(self.project):
            now = phase(self.project.services[name], self.states.get(name), self.since)
            before = self.phases.get(name)
            if before != now:
                self.phases[name] = now
                # Everything starts out waiting: report changes from there on.
                if self.on_progress and (before is not None or now != "waiting"):
                    self.on_progress(name, now, time.monotonic() - self.started)

    def failed(self) -> list[str]:
        return [name for name in dependency_order(self.project) if self.phases.get(name) in BAD]

    def all_good(self) -> bool:
        return all(self.phases.get(name) in GOOD for name in self.project.services)


def apply(project_dir: Path, timeout: float | None = None, on_progress: Progress | None = None) -> ApplyReport:
    """Build, bring the project up and wait until it is healthy, or say what failed."""
    engine = _runtime.engine_info()
    built = _api.build(project_dir)
    project = built.project
    _envfile.require(project, built.path.parent)
    compose = _runtime.ComposeProject(project.name, project_dir.resolve(), (built.path,))
    before = {name: s.id for name, s in _runtime.containers(project.name).items()}
    started = time.monotonic()
    watch = _Watch(project, _engine_now(), started, on_progress)
    up = _Up(compose)
    up.start()
    failure = _wait(watch, up, started + (timeout if timeout is not None else deadline_seconds(project)))
    return ApplyReport(
        project=project.name,
        compose_file=built.path,
        engine=engine,
        services=_service_reports(watch, before),
        seconds=time.monotonic() - started,
        failure=failure,
    )


def _engine_now() -> datetime:
    # Engine and CLI share this machine's clock; a second of slack for timestamp rounding.
    return datetime.fromtimestamp(time.time() - 1, tz=UTC)


def _wait(watch: _Watch, up: _Up, deadline: float) -> Failure | None:
    failing_since: float | None = None
    while True:
        watch.poll()
        if up.error is not None:
            return _failure(watch, up)
        if not up.is_alive() and watch.all_good():
            return None
        if watch.failed():
            failing_since = failing_since or time.monotonic()
            if not up.is_alive() or time.monotonic() - failing_since > GRACE:
                return _failure(watch, up)
        if time.monotonic() > deadline:
            return _timed_out(watch, deadline)
        time.sleep(POLL)


def _failure(watch: _Watch, up: _Up) -> Failure:
    watch.poll()
    failed = watch.failed()
    engine_error = str(up.error) if up.error is not None else ""
    service = failed[0] if failed else _named_in(engine_error, watch.project)
    reason = _what_happened(service, watch) if service else "compose up failed"
    if engine_error:
        reason = f"{reason}: {engine_error}"
    logs = _runtime.logs(service, tail=LOG_LINES, since=watch.since) if service and service in watch.states else ""
    return Failure(service, reason, logs)


def _what_happened(service: str, watch: _Watch) -> str:
    state, now = watch.states.get(service), watch.phases.get(service)
    if now == "failed" and state is not None:
        return f"{service} failed (exit code {state.exit_code})"
    if now == "restarting":
        return f"{service} keeps restarting (last exit code {state.exit_code if state else '?'})"
    return f"{service} is {now}" if now in BAD else f"{service} did not start"


def _timed_out(watch: _Watch, deadline: float) -> Failure:
    pending = [n for n in dependency_order(watch.project) if watch.phases.get(n) not in GOOD]
    # The first pending service that has a container is the one holding the others back.
    service = next((n for n in pending if n in watch.states), pending[0] if pending else None)
    waited = int(deadline - watch.started)
    reason = f"timed out after {waited}s waiting for {', '.join(pending)}"
    logs = _runtime.logs(service, tail=LOG_LINES, since=watch.since) if service and service in watch.states else ""
    return Failure(service, reason, logs)


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


def check(project_dir: Path, timeout: float = 15.0) -> AssertReport:
    """Run the built-in checks and the user's assertions against the running project."""
    _runtime.engine_info()
    project, _, path = _api.compile_project(project_dir)
    started = time.monotonic()
    checks = _assertions.run(_assertions.probes(project, secret_values(path.parent)), timeout)
    return AssertReport(project.name, tuple(checks), time.monotonic() - started)


def secret_values(folder: Path) -> dict[str, str]:
    """What Compose would substitute: the folder's .env, overridden by the environment."""
    env_file = folder / _envfile.ENV_FILE
    values = _envfile.parse(env_file.read_text(encoding="utf-8")) if env_file.is_file() else {}
    return {**values, **os.environ}


# -- destroy --------------------------------------------------------------------------------


def destroy(project_dir: Path, keep_volumes: bool = False) -> DestroyReport:
    """`compose down --remove-orphans` (`--volumes` unless kept). Needs no main.py: it uses
    the compose file when there is one (and the folder's .env), else the project name only."""
    _runtime.engine_info()
    name = _lower.project_name(project_dir)
    compose_file = project_dir.resolve() / _api.COMPOSE_FILE
    compose = (
        _runtime.ComposeProject(name, project_dir.resolve(), (compose_file,))
        if compose_file.is_file()
        else _runtime.ComposeProject(name)
    )
    removed = _runtime.compose_down(compose, volumes=not keep_volumes)
    return DestroyReport(name, removed, keep_volumes)
