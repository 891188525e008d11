"""The one door to the Docker engine: every engine call of clockwork goes through here.

python-on-whales is imported lazily inside the functions, so compiling (``clockwork build``)
never imports it. Its errors are translated at this boundary: a missing engine or a Compose
that is not v2 becomes ``EngineUnavailable``, any other failure ``RuntimeFailure``, both
``from`` the original error and carrying the engine's stderr text.

What comes back is plain data (``EngineInfo``, ``ContainerState``, ``Removed``), so callers
and tests never see python-on-whales objects, and never build docker command lines.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from ._errors import EngineUnavailable, RuntimeFailure

PROVISION_HINT = "run `scripts/provision-docker.sh` (as root) to install and start Docker Engine with Compose v2"
PROJECT_LABEL = "com.docker.compose.project"
SERVICE_LABEL = "com.docker.compose.service"
ONEOFF_LABEL = "com.docker.compose.oneoff"


@dataclass(frozen=True)
class EngineInfo:
    server_version: str
    api_version: str
    compose_version: str


@dataclass(frozen=True)
class ComposeProject:
    """Which compose file, project folder (its .env is read from there) and project name."""

    name: str
    directory: Path | None = None
    files: tuple[Path, ...] = ()


@dataclass(frozen=True)
class ContainerState:
    name: str
    service: str
    id: str
    status: str  # created, running, restarting, exited, paused, dead, removing
    health: str | None  # starting, healthy, unhealthy; None without a healthcheck
    exit_code: int
    created: datetime | None
    #: When it last exited; None while it never has.
    finished: datetime | None = None
    #: When it last started; None while it never has.
    started: datetime | None = None
    networks: tuple[str, ...] = ()
    oneoff: bool = False


@dataclass(frozen=True)
class Removed:
    containers: tuple[str, ...] = ()
    networks: tuple[str, ...] = ()
    volumes: tuple[str, ...] = ()


@dataclass(frozen=True)
class ExecResult:
    output: str
    exit_code: int = 0


# -- errors ---------------------------------------------------------------------------------


def _engine_text(exc: BaseException) -> str:
    """The engine's own words: stderr when captured, else stdout, else the exception;
    Compose's progress lines left out (they are not the error, and it prints many)."""
    for attr in ("stderr", "stdout"):
        value = getattr(exc, attr, None)
        if value and str(value).strip():
            return without_progress(str(value))
    return str(exc).strip()


_PROGRESS = re.compile(
    r"^\s*(Container|Network|Volume|Image)\s+\S+\s+"
    r"(Creating|Created|Starting|Started|Waiting|Healthy|Recreate|Recreated|Running|Stopping|Stopped|"
    r"Removing|Removed|Exited|Pulling|Pulled|Built|Building)\s*$"
)


def without_progress(text: str) -> str:
    """Compose's error lines, without its progress lines nor a line that repeats another."""
    lines = [line.strip() for line in text.splitlines() if line.strip() and not _PROGRESS.match(line)]
    kept = [line for i, line in enumerate(lines) if not any(line != o and line in o for o in lines[i + 1 :])]
    kept = [line for line in kept if not any(o != line and o in line for o in kept)] or kept
    return "\n".join(dict.fromkeys(kept)) or text.strip()


_NO_ENGINE = ("cannot connect to the docker daemon", "is the docker daemon running", "error during connect")


@contextlib.contextmanager
def _translated(action: str) -> Iterator[None]:
    """Map python-on-whales' errors to the project's, keeping the engine's stderr."""
    from python_on_whales.exceptions import DockerException

    try:
        yield
    except FileNotFoundError as exc:
        raise EngineUnavailable(f"{action}: the docker CLI is not installed; {PROVISION_HINT}") from exc
    except DockerException as exc:
        text = _engine_text(exc)
        if any(marker in text.lower() for marker in _NO_ENGINE):
            raise EngineUnavailable(f"{action}: no Docker engine answers ({text}); {PROVISION_HINT}") from exc
        raise RuntimeFailure(f"{action} failed: {text}") from exc


def _client(project: ComposeProject | None = None) -> Any:
    from python_on_whales import DockerClient

    if project is None:
        return DockerClient()
    return DockerClient(
        compose_files=list(project.files),
        compose_project_directory=project.directory,
        compose_project_name=project.name,
    )


# -- the engine -----------------------------------------------------------------------------


def engine_info() -> EngineInfo:
    """Check that an engine answers and that Compose is v2; say how to fix it otherwise."""
    docker = _client()
    with _translated("checking the Docker engine"):
        version = docker.version()
    server = version.server
    if server is None or not server.version:
        raise EngineUnavailable(f"no Docker engine answers; {PROVISION_HINT}")
    compose = compose_version()
    return EngineInfo(server.version, server.api_version or "", compose)


def compose_version() -> str:
    """The Compose v2 plugin's version, or EngineUnavailable when Compose v2 is missing."""
    docker = _client()
    try:
        with _translated("checking Docker Compose"):
            text = docker.compose.version()
    except RuntimeFailure as exc:
        missing = "Docker Compose v2 (the `docker compose` plugin) is missing"
        raise EngineUnavailable(f"{missing}: {exc}; {PROVISION_HINT}") from exc
    version = _compose_semver(text)
    if not version.startswith("2."):
        raise EngineUnavailable(f"Docker Compose {version or text!r} is not v2; {PROVISION_HINT}")
    return version


def _compose_semver(text: str) -> str:
    """``Docker Compose version v2.26.1-4`` -> ``2.26.1-4``."""
    last = text.strip().split()[-1] if text.strip() else ""
    return last[1:] if last.startswith("v") else last


def api_version_at_least(info: EngineInfo, wanted: str) -> bool:
    def parts(v: str) -> tuple[int, ...]:
        return tuple(int(p) for p in v.split(".") if p.isdigit())

    return parts(info.api_version) >= parts(wanted)


# -- compose --------------------------------------------------------------------------------


def compose_up(
    project: ComposeProject, services: Sequence[str] | None = None, wait: bool = False, wait_timeout: int | None = None
) -> str:
    """`compose up --detach`: blocks while Compose waits for depends_on conditions.

    Returns what Compose printed; raises RuntimeFailure with its stderr when it fails."""
    docker = _client(project)
    lines: list[str] = []
    with _translated(f"compose up of {project.name}"):
        stream = docker.compose.up(
            services=list(services) if services is not None else None,
            detach=True,
            wait=wait,
            wait_timeout=wait_timeout,
            stream_logs=True,
            color=False,
        )
        for _source, raw in stream:
            lines.append(raw.decode(errors="replace").rstrip())
    return "\n".join(lines)


def compose_run(project: ComposeProject, service: str, command: Sequence[str] = (), remove: bool = True) -> ExecResult:
    """`compose run` of a service (its dependencies first): output and exit code as data.

    A non-zero exit of the service is data, not an error; an engine failure still raises."""
    from python_on_whales.exceptions import DockerException

    docker = _client(project)
    with _translated(f"compose run {service}"):
        try:
            out = docker.compose.run(service, list(command), tty=False, remove=remove)
        except DockerException as exc:
            if _looks_like_engine_failure(exc):
                raise
            text = "\n".join(t for t in (exc.stdout, exc.stderr) if t)
            return ExecResult(text.rstrip(), exc.return_code)
    return ExecResult(str(out), 0)


def _looks_like_engine_failure(exc: BaseException) -> bool:
    return any(marker in _engine_text(exc).lower() for marker in _NO_ENGINE)


def compose_down(project: ComposeProject, volumes: bool = True) -> Removed:
    """`compose down --remove-orphans` (and `--volumes`); returns what existed before and is gone."""
    before = project_resources(project.name)
    docker = _client(project)
    with _translated(f"compose down of {project.name}"):
        for _ in docker.compose.down(remove_orphans=True, volumes=volumes, stream_logs=True):
            pass
    after = project_resources(project.name)
    return Removed(
        tuple(n for n in before.containers if n not in after.containers),
        tuple(n for n in before.networks if n not in after.networks),
        tuple(n for n in before.volumes if n not in after.volumes),
    )


# -- inspection -----------------------------------------------------------------------------


def containers(project_name: str, include_oneoff: bool = False) -> dict[str, ContainerState]:
    """The project's containers by service (one-off `compose run` containers left out)."""
    states = _project_states(project_name)
    out: dict[str, ContainerState] = {}
    for state in sorted(states, key=lambda s: s.created or datetime.min):
        if state.oneoff and not include_oneoff:
            continue
        out[state.service if not state.oneoff else state.name] = state
    return out


def _project_states(project_name: str) -> list[ContainerState]:
    label = [("label", f"{PROJECT_LABEL}={project_name}")]
    return [_state(c) for c in _inspect_all(label, f"the containers of {project_name}")]


def _inspect_all(filters: Sequence[tuple[str, str]], what: str) -> list[Any]:
    """Inspect results of the containers matching ``filters``, read at once; a container
    removed between listing and inspecting (Compose recreating it) is left out."""
    from python_on_whales.exceptions import NoSuchContainer

    docker = _client()
    out = []
    with _translated(f"listing {what}"):
        for found in docker.container.list(all=True, filters=list(filters)):
            try:
                out.append(_inspected(docker.container.inspect(found.id)))
            except NoSuchContainer:
                continue
    return out


def container(name: str) -> ContainerState | None:
    """One container by name or id, or None when there is none."""
    from python_on_whales.exceptions import NoSuchContainer

    docker = _client()
    with _translated(f"inspecting container {name}"):
        try:
            return _state(docker.container.inspect(name))
        except NoSuchContainer:
            return None


def _state(container: Any) -> ContainerState:
    c = _inspected(container)
    labels = c.config.labels or {}
    health = c.state.health.status if c.state.health is not None else None
    networks = tuple(sorted((c.network_settings.networks or {}).keys()))
    return ContainerState(
        name=c.name.lstrip("/"),
        service=labels.get(SERVICE_LABEL, c.name.lstrip("/")),
        id=c.id,
        status=c.state.status or "",
        health=health,
        exit_code=c.state.exit_code or 0,
        created=c.created,
        finished=_real_time(c.state.finished_at),
        started=_real_time(c.state.started_at),
        networks=networks,
        oneoff=labels.get(ONEOFF_LABEL, "False").lower() == "true",
    )


def _inspected(obj: Any) -> Any:
    """The inspect result python-on-whales already holds: its attributes re-inspect the
    container once the result is 10 ms old, one engine call per attribute read."""
    if not hasattr(obj, "_get_inspect_result"):
        return obj  # already an inspect result
    result = getattr(obj, "_inspect_result", None)
    return result if result is not None else obj._get_inspect_result()


def _real_time(value: datetime | None) -> datetime | None:
    """The engine writes 0001-01-01 for "never"."""
    return value if value is not None and value.year > 1 else None


def logs(name: str, tail: int = 20, since: datetime | None = None) -> str:
    """The last lines a container wrote (since ``since``), stdout and stderr in the order
    they were written; empty when there is no such container."""
    from python_on_whales.exceptions import NoSuchContainer

    docker = _client()
    with _translated(f"reading the logs of {name}"):
        try:
            text = str(docker.container.logs(name, tail=tail, since=since, timestamps=True))
        except NoSuchContainer:
            return ""
    return "\n".join(_untimed(line) for line in sorted(text.splitlines(), key=_log_time)).rstrip()


def _log_time(line: str) -> tuple[str, str]:
    """Sort key of a `docker logs --timestamps` line: RFC 3339 trims the fraction's zeros."""
    stamp = line.split(" ", 1)[0]
    whole, _, fraction = stamp.rstrip("Z").partition(".")
    return whole, fraction.ljust(9, "0")


def _untimed(line: str) -> str:
    stamp, _, rest = line.partition(" ")
    return rest if stamp[:4].isdigit() and "T" in stamp else line


def exec_in(name: str, argv: Sequence[str]) -> str:
    """Run argv in a running container and return its stdout (`docker exec`)."""
    docker = _client()
    with _translated(f"exec in {name}"):
        return str(docker.container.execute(name, list(argv), tty=False))


def container_env(name: str) -> dict[str, str]:
    """The environment a running container's processes see (`docker exec NAME env`)."""
    out = {}
    for line in exec_in(name, ["env"]).splitlines():
        key, sep, value = line.partition("=")
        if sep:
            out[key] = value
    return out


def stop(name: str) -> None:
    docker = _client()
    with _translated(f"stopping {name}"):
        docker.container.stop(name)


def start(name: str) -> None:
    docker = _client()
    with _translated(f"starting {name}"):
        docker.container.start(name)


# -- project resources and leftovers --------------------------------------------------------


def project_resources(project_name: str) -> Removed:
    """Names of the containers, networks and volumes that carry the project's label."""
    docker = _client()
    label = [("label", f"{PROJECT_LABEL}={project_name}")]
    with _translated(f"listing the resources of {project_name}"):
        names = [c.name.lstrip("/") for c in _inspect_all(label, f"the containers of {project_name}")]
        networks = [n.name for n in docker.network.list(filters=label)]
        volumes = [v.name for v in docker.volume.list(filters=label)]
    return Removed(tuple(sorted(names)), tuple(sorted(networks)), tuple(sorted(volumes)))


def network_containers(network: str) -> tuple[str, ...]:
    """Names of the containers attached to a network (empty when there is no such network)."""
    from python_on_whales.exceptions import NoSuchNetwork

    docker = _client()
    with _translated(f"inspecting network {network}"):
        try:
            net = docker.network.inspect(network)
        except NoSuchNetwork:
            return ()
    return tuple(sorted(c.name for c in (net.containers or {}).values()))


def image_exists(image: str) -> bool:
    docker = _client()
    with _translated(f"looking for image {image}"):
        return bool(docker.image.exists(image))


def remove_leftovers(
    containers: Sequence[str] = (),
    host_ports: Sequence[int] = (),
    networks: Sequence[str] = (),
    projects: Sequence[str] = (),
) -> Removed:
    """Force-remove named containers, containers publishing the host ports, the projects'
    containers and volumes, then the networks. For test setup; missing things are fine."""
    docker = _client()
    with _translated("removing leftovers"):
        everything = _inspect_all((), "all containers")
        victims = {c.id: c for c in everything if _is_leftover(c, containers, host_ports, projects)}
        names = sorted(c.name.lstrip("/") for c in victims.values())
        if victims:
            docker.container.remove(list(victims), force=True, volumes=True)
        gone_networks = [
            n.name
            for n in docker.network.list()
            if n.name in networks or (n.labels or {}).get(PROJECT_LABEL) in projects
        ]
        if gone_networks:
            docker.network.remove(gone_networks)
        volumes = [v.name for v in docker.volume.list() if (v.labels or {}).get(PROJECT_LABEL) in projects]
        if volumes:
            docker.volume.remove(volumes)
    return Removed(tuple(names), tuple(sorted(gone_networks)), tuple(sorted(volumes)))


def _is_leftover(c: Any, names: Sequence[str], host_ports: Sequence[int], projects: Sequence[str]) -> bool:
    if c.name.lstrip("/") in names or (c.config.labels or {}).get(PROJECT_LABEL) in projects:
        return True
    bound = c.host_config.port_bindings or {}
    for bindings in bound.values():
        for binding in bindings or []:
            if binding.host_port and int(binding.host_port) in host_ports:
                return True
    return False
