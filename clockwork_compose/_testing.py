"""Isolated copies of a project for integration tests (the ``clockwork_stack`` fixture of
``_pytest_plugin``): copy, apply, reach, destroy.

A copy is the project folder copied to a folder of its own, named ``<project>-t<8 hex>``:
that name is the copy's Compose project name (the usual rule, ``_lower.project_name``), so
its volumes are its own and destroy, which goes by the folder, needs nothing special. It is
compiled with an ``_isolation.Isolation``: fixed container names get the copy's name in
front, every published port a free host port chosen now, the shared network becomes the
copy's own, and built images keep the original's names (nothing is built again). The
user's folder is only read.

Ports are chosen by binding port 0 and letting go: another process may take one before
Compose publishes it. Apply then fails with the engine's "port is already allocated";
``apply_copy`` removes what it made and tries once more with new ports."""

from __future__ import annotations

import contextlib
import functools
import os
import secrets
import shutil
import signal
import socket
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

from . import _api, _docker, _envfile, _lower
from ._engines import engine_named
from ._engines._engine import resolve
from ._errors import RuntimeFailure
from ._isolation import HostPort, Isolation
from ._model import Project, Service
from ._targets.base import ApplyReport, Needs
from ._targets.compose import runtime

HOST = "127.0.0.1"
#: What a copy never takes along: not the project's, or rebuilt in the copy.
_NOT_COPIED = (".git", "__pycache__", ".venv", ".pytest_cache", ".mypy_cache", "node_modules", "docker-compose.yml")
#: The engine's words for a host port someone else took between choosing it and publishing it.
_PORT_TAKEN = ("port is already allocated", "address already in use")
#: How long destroy goes on removing what a `compose up` cut short may still be creating.
SETTLE_SECONDS = 30.0


class StackFailed(RuntimeFailure):
    """A copy did not come up: the service, why, and its last log lines."""


@dataclass(frozen=True)
class Stack:
    """A copy of a project, applied and ready; reached from this process through 127.0.0.1."""

    folder: Path
    #: The copy's model, as applied (its container names and host ports).
    project: Project
    engine: _docker.Containers = _docker.DOCKER

    @property
    def name(self) -> str:
        """The copy's Compose project name."""
        return self.project.name

    def port(self, service: str, container_port: int, protocol: str = "tcp") -> int:
        """The host port where ``service`` publishes ``container_port``."""
        found = self._service(service)
        for port in found.ports:
            if port.container == container_port and port.protocol == protocol and port.host is not None:
                return port.host
        published = ", ".join(f"{p.container}/{p.protocol}" for p in found.ports) or "none"
        raise LookupError(f"{service} publishes no {container_port}/{protocol} (it publishes: {published})")

    def url(self, service: str, container_port: int, scheme: str = "http") -> str:
        """``http://127.0.0.1:<host port>`` of ``service``'s ``container_port``."""
        return f"{scheme}://{HOST}:{self.port(service, container_port)}"

    def database_url(self, service: str) -> str:
        """A URL of the database ``service`` serves, usable from this process: the credentials
        its ``DatabaseConnection`` declares (secrets read from the copy's .env and the
        environment), 127.0.0.1 and the copy's host port."""
        target = next((d for d in self.project.databases if d.service == service), None)
        if target is None:
            served = sorted({d.service for d in self.project.databases}) or ["none"]
            raise LookupError(f"no DatabaseConnection reaches {service} (databases: {', '.join(served)})")
        engine = engine_named(target.engine)
        if engine is None or not engine.url_schemes:
            raise LookupError(f"{service} runs {target.engine}, which has no URL clockwork knows")
        env = _envfile.run_values(self.folder)
        user, password, database = (
            quote(resolve(v, env), safe="") for v in (target.user, target.password, target.database)
        )
        port = self.port(service, target.container_port)
        return f"{engine.url_schemes[0]}://{user}:{password}@{HOST}:{port}/{database}"

    def container(self, service: str) -> str:
        """The name of ``service``'s container on the engine."""
        return self._service(service).container

    def exec(self, service: str, argv: Sequence[str], env: Mapping[str, str] | None = None) -> str:
        """Run ``argv`` in ``service``'s running container; its stdout (RuntimeFailure when it fails)."""
        return self.engine.exec_in(self.container(service), list(argv), env=env)

    def _service(self, name: str) -> Service:
        if name not in self.project.services:
            raise LookupError(
                f"{self.name} has no service {name!r} (it has {', '.join(sorted(self.project.services))})"
            )
        return self.project.services[name]


def copy_project(source: Path, parent: Path) -> Path:
    """``source`` copied into ``parent`` under a name no other copy has."""
    source = source.resolve()
    if not (source / "main.py").is_file():
        raise FileNotFoundError(f"{source} holds no main.py: give clockwork_stack a project folder")
    folder = parent / f"{_lower.project_name(source)}-t{secrets.token_hex(4)}"
    shutil.copytree(source, folder, ignore=shutil.ignore_patterns(*_NOT_COPIED), symlinks=True)
    return folder


def apply_copy(folder: Path, source: Path, timeout: float | None = None, attempts: int = 2) -> Stack:
    """Apply the copy in ``folder`` (of the project in ``source``) and wait until it is ready.

    StackFailed when it does not come up (what it made stays, for the caller's destroy);
    KeyboardInterrupt when apply was interrupted."""
    for attempt in range(attempts):
        isolation = Isolation(f"{_lower.project_name(folder)}-", free_ports(), _lower.project_name(source))
        report = _apply(folder, isolation, timeout)
        failure = report.failure
        if failure is None:  # compiled again, with the same isolation: the same ports
            project, _, _ = _api.compile_project(folder, isolation=isolation)
            return Stack(folder, project)
        if failure.interrupted:
            raise KeyboardInterrupt(failure.reason)
        taken = any(words in f"{failure.reason} {failure.logs}" for words in _PORT_TAKEN)
        if not taken or attempt == attempts - 1:
            raise StackFailed(_failure_text(folder, report))
        destroy_copy(folder)
    raise AssertionError("unreachable")


def _apply(folder: Path, isolation: Isolation, timeout: float | None) -> ApplyReport:
    needs = Needs(
        build=functools.partial(_api.build, isolation=isolation),
        lock=_docker.project_lock,
        environ=os.environ,
        compile=functools.partial(_api.compile_project, isolation=isolation),
    )
    return runtime.apply(folder, needs, timeout)


def free_ports() -> HostPort:
    """``host_port`` for an ``Isolation``: a port free on every address now, never the same
    one twice for one copy (one compile may ask for a port more than once: the same answer)."""
    chosen: dict[tuple[str, int, str], int] = {}

    def host_port(service: str, container_port: int, protocol: str) -> int:
        key = (service, container_port, protocol)
        while key not in chosen:
            port = free_port(protocol)
            if port not in chosen.values():
                chosen[key] = port
        return chosen[key]

    return host_port


def free_port(protocol: str = "tcp") -> int:
    kind = socket.SOCK_DGRAM if protocol == "udp" else socket.SOCK_STREAM
    with socket.socket(socket.AF_INET, kind) as sock:
        sock.bind(("", 0))
        return int(sock.getsockname()[1])


def _failure_text(folder: Path, report: ApplyReport) -> str:
    failure = report.failure
    assert failure is not None
    head = f"the copy {report.project} ({folder}) did not come up: "
    head += f"{failure.service}: {failure.reason}" if failure.service else failure.reason
    logs = "\n".join(f"  | {line}" for line in failure.logs.splitlines())
    return f"{head}\nlast log lines of {failure.service}:\n{logs}" if logs else head


def destroy_copy(folder: Path, engine: _docker.Engine = _docker.DOCKER, settle: float = SETTLE_SECONDS) -> None:
    """Remove everything of the copy in ``folder``, volumes included, with Ctrl-C held off
    until it is done. A `compose up` an interrupt cut short may still be creating
    containers: destroy goes on until the engine shows nothing of the copy (up to ``settle``
    seconds), waiting while another apply or destroy of it holds its lock."""
    name = _lower.project_name(folder)
    deadline = time.monotonic() + settle
    with interrupts_held():
        while True:
            try:
                runtime.destroy(folder, engine=engine)
                if not engine.project_containers(name) and not engine.volumes(name):
                    return
            except _docker.Busy:
                pass
            if time.monotonic() > deadline:
                raise RuntimeFailure(f"the copy {name} ({folder}) is still on the engine after {settle:.0f} s")
            time.sleep(0.5)


@contextlib.contextmanager
def interrupts_held() -> Iterator[None]:
    """Ctrl-C (SIGINT) waits until the block ends, then is raised; in the main thread only
    (elsewhere Python delivers no signal anyway)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    seen: list[int] = []
    previous = signal.signal(signal.SIGINT, lambda number, frame: seen.append(number))
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
    if seen:
        raise KeyboardInterrupt
