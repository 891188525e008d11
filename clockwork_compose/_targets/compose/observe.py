"""`clockwork ps` and `clockwork logs` on Compose: what this folder's project has on the
engine, found by the labels Compose and clockwork put on its containers (the project, the
folder it was brought up from, the role), so neither needs main.py nor the compose file.

A container of the project's name that another folder brought up is left out, and said so:
two folders of one name share the project name, not their services.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from ... import _docker, _lower
from ..._docker import ContainerState, LogOptions
from ..base import LogStream, PsReport, ServiceStatus, chosen
from .runtime import owned

_NEVER = datetime.min.replace(tzinfo=UTC)


def ps(project_dir: Path, engine: _docker.Containers) -> PsReport:
    """One row per service of this folder's project, by name."""
    name = _lower.project_name(project_dir)
    mine, notes = _containers(engine, name, project_dir.resolve())
    rows = tuple(_status(c) for _, c in sorted(mine.items()))
    return PsReport(name, rows, "" if rows else _nothing(name), notes)


def logs(project_dir: Path, services: tuple[str, ...], options: LogOptions, engine: _docker.Containers) -> LogStream:
    """The lines of ``services`` of this folder's project (every one when none is named)."""
    name = _lower.project_name(project_dir)
    mine, notes = _containers(engine, name, project_dir.resolve())
    if not mine:
        return LogStream(name, (), iter(()), _nothing(name), notes)
    wanted = chosen(services, list(mine), name)
    return LogStream(name, wanted, engine.container_logs({s: mine[s].id for s in wanted}, options), notes=notes)


def _containers(
    engine: _docker.Containers, name: str, folder: Path
) -> tuple[dict[str, ContainerState], tuple[str, ...]]:
    """This folder's containers of project ``name`` by service (the newest of a service's
    when there are several), and a note on those another folder brought up."""
    mine: dict[str, ContainerState] = {}
    others: set[str] = set()
    for c in sorted(engine.project_containers(name), key=lambda c: c.created or _NEVER):
        if c.oneoff:
            continue
        if owned(c, folder):
            mine[c.service] = c
        else:
            others.add(c.working_dir)
    notes = tuple(
        f"left out: containers of project {name} brought up from {other}, not from this folder"
        for other in sorted(others)
    )
    return mine, notes


def _status(c: ContainerState) -> ServiceStatus:
    state = f"exited ({c.exit_code})" if c.status == "exited" else c.status
    return ServiceStatus(c.service, c.role, state, c.health, c.ports, c.image, c.started)


def _nothing(name: str) -> str:
    return f"nothing of this folder is on the engine: no container of project {name} (`clockwork apply` starts it)"
