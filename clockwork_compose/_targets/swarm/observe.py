"""`clockwork ps` and `clockwork logs` on Swarm: the stack's services as the manager sees
them, on every node (`docker service inspect`/`ps`/`logs` through the engine door), so
neither needs main.py nor docker-stack.yml.

Only what this folder deployed: a service that records another folder as its maker
(``OWNER_LABEL``) is left out, and said so; one that records none (deployed before
clockwork recorded it, or by a plain `docker stack deploy`) is shown.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

from ... import _docker, _lower
from ..._docker import OWNER_LABEL, LogOptions, SwarmService, SwarmTask
from ..._model import ROLE_LABEL
from ..base import LogStream, PsReport, ServiceStatus, chosen

_EPOCH = datetime.min.replace(tzinfo=UTC)


def ps(project_dir: Path, stack: str | None, engine: _docker.Swarm) -> PsReport:
    """One row per service of this folder's stack, by name, with the node of each task."""
    name = stack or _lower.project_name(project_dir)
    mine, notes = _services(engine, name, project_dir.resolve())
    rows = tuple(_status(short, s) for short, s in sorted(mine.items()))
    return PsReport(f"stack {name}", rows, "" if rows else _nothing(name), notes)


def logs(
    project_dir: Path, services: tuple[str, ...], options: LogOptions, stack: str | None, engine: _docker.Swarm
) -> LogStream:
    """The lines of ``services`` of this folder's stack (every one when none is named), from
    every task on every node."""
    name = stack or _lower.project_name(project_dir)
    mine, notes = _services(engine, name, project_dir.resolve())
    if not mine:
        return LogStream(f"stack {name}", (), iter(()), _nothing(name), notes)
    wanted = chosen(services, list(mine), f"stack {name}")
    lines = engine.service_logs({s: mine[s].id for s in wanted}, options)
    return LogStream(f"stack {name}", wanted, lines, notes=notes)


def _services(engine: _docker.Swarm, stack: str, folder: Path) -> tuple[dict[str, SwarmService], tuple[str, ...]]:
    """This folder's services of ``stack`` by their name in main.py, and a note on those
    another folder deployed."""
    mine: dict[str, SwarmService] = {}
    others: set[str] = set()
    for s in engine.swarm_services(stack):
        owner = s.labels.get(OWNER_LABEL, "")
        if owner and Path(os.path.realpath(owner)) != folder:
            others.add(owner)
        else:
            mine[s.name.removeprefix(f"{stack}_")] = s
    notes = tuple(
        f"left out: services of stack {stack} deployed from {other}, not from this folder" for other in sorted(others)
    )
    return mine, notes


def current(service: SwarmService) -> list[SwarmTask]:
    """The task of each slot (each node, for a global service) that Swarm means to keep: the
    newest one, whatever its state (a job's finished task included)."""
    newest: dict[tuple[int, str], SwarmTask] = {}
    for task in service.tasks:
        key = (task.slot, "" if task.slot else task.node)
        if key not in newest or (task.since or _EPOCH) >= (newest[key].since or _EPOCH):
            newest[key] = task
    return [newest[key] for key in sorted(newest)]


def state(service: SwarmService, tasks: Sequence[SwarmTask]) -> str:
    """``running``; ``running 2/3`` with replicas; a job's ``complete`` or ``failed (exit 1)``;
    else the newest task's state and how many of the wanted tasks run."""
    if not tasks:
        return "no task"
    running = sum(1 for t in tasks if t.state == "running")
    wanted = service.replicas if service.replicas is not None else len(tasks)
    if service.mode.endswith("job"):
        last = max(tasks, key=lambda t: t.since or _EPOCH)
        return _exited(last)
    if running == wanted:
        return "running" if wanted == 1 else f"running {running}/{wanted}"
    last = max((t for t in tasks if t.state != "running"), key=lambda t: t.since or _EPOCH)
    return f"{_exited(last)}, {running}/{wanted} running"


def _exited(task: SwarmTask) -> str:
    if task.state == "failed" and task.exit_code is not None:
        return f"failed (exit {task.exit_code})"
    return task.state


def _health(service: SwarmService, tasks: Sequence[SwarmTask]) -> str | None:
    """Swarm counts a task running once its healthcheck passed (and replaces one that fails
    it): healthy while every current task runs, starting while one starts, else unknown."""
    if not service.healthcheck or service.mode.endswith("job"):
        return None
    if tasks and all(t.state == "running" for t in tasks):
        return "healthy"
    return "starting" if any(t.state == "starting" for t in tasks) else "unknown"


def _status(short: str, service: SwarmService) -> ServiceStatus:
    tasks = current(service)
    started = [t.since for t in tasks if t.state == "running" and t.since is not None]
    return ServiceStatus(
        short,
        service.labels.get(ROLE_LABEL, ""),
        state(service, tasks),
        _health(service, tasks),
        service.ports,
        service.image,
        max(started, default=None),
        tuple(t.node for t in tasks),
    )


def _nothing(stack: str) -> str:
    deploy = "`clockwork apply --target swarm` deploys it"
    return f"nothing of this folder is on the swarm: no service of stack {stack} ({deploy})"
