"""The one door to the Docker engine: every engine call of clockwork goes through here.

One rule for how: `compose up` goes through python-on-whales; every other call runs the
docker CLI itself (``_Call``/``_docker`` here; ``run`` for Swarm's runtime and the tests'
helpers, which read its exit code and output themselves; ``_merged`` for the log streams of
`clockwork logs`, one process per container or service, read side by side) and reads its JSON. `compose up` is the one
long, streaming Compose operation, where python-on-whales' handling of Compose's flags and
output is worth its import (started in a thread as soon as apply knows `compose up` will
run, see ``preload_compose_up``; never by a re-apply with nothing to do, nor by destroy).
The other calls are short questions and changes about single objects (the engine, images,
containers, logs, exec, networks, volumes, Compose's config hashes): through
python-on-whales each cost an import (0.1-0.3 s) and pydantic models for every container
inspected, which made each poll of ``apply`` cost 0.3-1.4 s; as one CLI process each, a
poll is one `docker container inspect`. python-on-whales is imported lazily, so compiling
(``clockwork build``) never imports it.

Errors are translated at this boundary: a missing engine or a Compose that is not v2
becomes ``EngineUnavailable``, any other failure ``RuntimeFailure``, both carrying the
engine's stderr text (and ``from`` python-on-whales' error when it raised one).

What comes back is plain data (``EngineInfo``, ``ContainerState``, ``Removed``), so callers
and tests never see python-on-whales objects, and never build docker command lines.
apply, assert, destroy, ps and logs take the engine as a parameter, typed by the small interface
they need (``Containers``, ``Storage`` for volumes and networks, ``Compose``, ``Swarm``;
``Engine`` is all four; the real one is ``DOCKER``), so their unit tests pass the fakes of
``tests/fakes.py``. Helpers only tests need (clean-up, a container's environment) live in
``tests/engine_support.py``, not here.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import queue
import re
import shutil
import subprocess
import tempfile
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

from ._errors import EngineUnavailable, RuntimeFailure
from ._model import ROLE_LABEL

PROVISION_HINT = (
    "install Docker Engine with the Compose v2 plugin (https://docs.docker.com/engine/install/) and start it, "
    "or set DOCKER_HOST to an engine that runs"
)
PROJECT_LABEL = "com.docker.compose.project"
SERVICE_LABEL = "com.docker.compose.service"
ONEOFF_LABEL = "com.docker.compose.oneoff"
CONFIG_HASH_LABEL = "com.docker.compose.config-hash"
IMAGE_LABEL = "com.docker.compose.image"
#: The folder a Compose project was brought up from (Compose sets it on every container).
WORKING_DIR_LABEL = "com.docker.compose.project.working_dir"
VOLUME_LABEL = "com.docker.compose.volume"
NETWORK_LABEL = "com.docker.compose.network"
#: Set by clockwork on the volumes it creates for a project: the folder that owns them.
OWNER_LABEL = "dev.clockwork.working-dir"
#: On a record volume (no data): the volume it says ``OWNER_LABEL`` of now. A project that
#: moved keeps its volumes; the engine never changes a label, so a record says who owns them.
OWNER_OF_LABEL = "dev.clockwork.owner-of"
#: On a volume clockwork filled with a copy of another project's volume (a renamed project).
ADOPTED_FROM_LABEL = "dev.clockwork.adopted-from"
#: On a marker volume (no data): the volume a copy is being made into. While the marker
#: exists, that volume is incomplete and nothing may use it.
COPYING_INTO_LABEL = "dev.clockwork.copying-into"
#: On the throwaway containers that measure or copy volumes.
HELPER_LABEL = "dev.clockwork.helper"
#: Set by clockwork on the shared network it creates: it belongs to no single project.
SHARED_LABEL = "dev.clockwork.shared"
#: Host-wide lock files (one engine per host): the shared network, and one per project.
LOCK_DIR = Path(tempfile.gettempdir()) / "clockwork-locks"
#: Seconds a docker CLI call on apply's path may take (`compose up` has its own deadline).
CALL_TIMEOUT = 120


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
    #: Compose's hash of the service configuration the container was created from.
    config_hash: str = ""
    #: The image reference it was created from, and the id of the image it runs.
    image: str = ""
    image_id: str = ""
    #: The Compose project it belongs to ("" when none).
    project: str = ""
    #: The folder Compose brought it up from ("" when unknown).
    working_dir: str = ""
    #: clockwork's role label: app, database, migrator ("" when none).
    role: str = ""
    #: Named volumes mounted, as (container path, volume name), sorted.
    volumes: tuple[tuple[str, str], ...] = ()
    #: How often the engine restarted it (its restart policy), since it was created.
    restart_count: int = 0
    #: What the last healthcheck attempt printed ("" without one).
    health_output: str = ""
    #: Ports published on the host, as `docker ps` shows them (``127.0.0.1:8000->80/tcp``;
    #: ``8000->80/tcp`` on every address), sorted; none while it is not running.
    ports: tuple[str, ...] = ()


@dataclass(frozen=True)
class Removed:
    containers: tuple[str, ...] = ()
    networks: tuple[str, ...] = ()
    volumes: tuple[str, ...] = ()


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
    r"Removing|Removed|Exited|Pulling|Pulled|Built|Building|Error)\s*$"
)
#: Compose's log lines below error level (`time="..." level=warning msg="..."`): not the error.
_NOTICE = re.compile(r'^\s*time="[^"]*"\s+level=(warning|info|debug)\b')


def without_progress(text: str) -> str:
    """Compose's error lines, without its progress lines, its warnings, nor a line that
    repeats another."""
    lines = [
        line.strip()
        for line in text.splitlines()
        if line.strip() and not _PROGRESS.match(line) and not _NOTICE.match(line)
    ]
    kept = [line for i, line in enumerate(lines) if not any(line != o and line in o for o in lines[i + 1 :])]
    kept = [line for line in kept if not any(o != line and o in line for o in kept)] or kept
    return "\n".join(dict.fromkeys(kept)) or text.strip()


_NO_ENGINE = ("cannot connect to the docker daemon", "is the docker daemon running", "error during connect")


@contextlib.contextmanager
def _translated(action: str) -> Iterator[None]:
    """Map python-on-whales' errors to the project's, keeping the engine's stderr."""
    DockerException = _python_on_whales().exceptions.DockerException  # noqa: N806

    try:
        yield
    except FileNotFoundError as exc:
        raise EngineUnavailable(f"{action}: the docker CLI is not installed; {PROVISION_HINT}") from exc
    except DockerException as exc:
        text = _engine_text(exc)
        if any(marker in text.lower() for marker in _NO_ENGINE):
            raise EngineUnavailable(f"{action}: no Docker engine answers ({text}); {PROVISION_HINT}") from exc
        raise RuntimeFailure(f"{action} failed: {text}") from exc


@dataclass(frozen=True)
class _Done:
    """A finished docker CLI process."""

    code: int
    out: str
    err: str


def _started(argv: Sequence[str]) -> subprocess.Popen[str]:
    """``docker ARGV`` started, its output to be read (FileNotFoundError: no docker CLI)."""
    return subprocess.Popen(
        [shutil.which("docker") or "docker", *argv],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        errors="replace",
    )


class _Call:
    """A docker CLI process, started at once and read later: several can run side by side
    (and while Python does other work), each costing one process start on another core."""

    def __init__(self, argv: Sequence[str], action: str) -> None:
        self.action = action
        self._missing: FileNotFoundError | None = None
        self._proc: subprocess.Popen[str] | None = None
        try:
            self._proc = _started(argv)
        except FileNotFoundError as exc:
            self._missing = exc

    def done(self, timeout: float | None = CALL_TIMEOUT) -> _Done:
        if self._proc is None:
            raise EngineUnavailable(
                f"{self.action}: the docker CLI is not installed; {PROVISION_HINT}"
            ) from self._missing
        try:
            out, err = self._proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired as exc:
            self._proc.kill()
            self._proc.communicate()
            raise RuntimeFailure(f"{self.action}: no answer from docker after {timeout:g}s") from exc
        return _Done(self._proc.returncode, out, err)


def run(
    argv: Sequence[str],
    *,
    stdin: str | None = None,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    timeout: float | None = CALL_TIMEOUT,
) -> _Done:
    """``docker ARGV``, run to its end, whatever its exit code: the one place (with ``_started``)
    where clockwork and its tests start a docker process. ``stdin``: text piped to it;
    ``env``: its whole environment. FileNotFoundError when the docker CLI is not installed
    (each caller says what it needs it for); RuntimeFailure when it does not answer in time."""
    try:
        done = subprocess.run(
            [shutil.which("docker") or "docker", *argv],
            input=stdin,
            stdin=None if stdin is not None else subprocess.DEVNULL,
            capture_output=True,
            text=True,
            errors="replace",
            env=dict(env) if env is not None else None,
            cwd=cwd,
            timeout=timeout,
        )
    except subprocess.TimeoutExpired as exc:
        raise RuntimeFailure(f"docker {' '.join(argv[:3])}: no answer from docker after {timeout:g}s") from exc
    return _Done(done.returncode, done.stdout, done.stderr)


def _docker(argv: Sequence[str], action: str, timeout: float | None = CALL_TIMEOUT) -> str:
    """Run the docker CLI; its stdout, or the project's error with its own words."""
    done = _Call(argv, action).done(timeout)
    if done.code != 0:
        raise _failed(action, done)
    return done.out


def _failed(action: str, done: _Done) -> RuntimeFailure:
    text = without_progress(done.err) if done.err.strip() else done.out.strip() or f"exit code {done.code}"
    if any(marker in text.lower() for marker in _NO_ENGINE):
        return EngineUnavailable(f"{action}: no Docker engine answers ({text}); {PROVISION_HINT}")
    return RuntimeFailure(f"{action} failed: {text}")


def compose_args(project: ComposeProject) -> list[str]:
    """`docker compose` options that name the project, its folder and its files."""
    args = ["compose", "--project-name", project.name]
    if project.directory is not None:
        args += ["--project-directory", str(project.directory)]
    for file in project.files:
        args += ["--file", str(file)]
    return args


def _client(project: ComposeProject) -> Any:
    return _python_on_whales().DockerClient(
        compose_files=list(project.files),
        compose_project_directory=project.directory,
        compose_project_name=project.name,
    )


class ComposeWatch:
    """`docker compose watch --no-up` of a project, running until ``stop()``: Compose syncs,
    restarts and rebuilds as the file's ``develop.watch`` says. Its own process group, so
    that the Ctrl-C of a terminal reaches clockwork, which stops it; ``lines()`` yields what
    it prints (stdout and stderr), without the terminal's line-clearing codes."""

    def __init__(self, project: ComposeProject) -> None:
        try:
            self._proc = subprocess.Popen(
                [shutil.which("docker") or "docker", *compose_args(project), "watch", "--no-up", "--quiet"],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
                errors="replace",
                start_new_session=True,
            )
        except FileNotFoundError as exc:
            raise EngineUnavailable(
                f"watching {project.name}: the docker CLI is not installed; {PROVISION_HINT}"
            ) from exc

    def lines(self) -> Iterator[str]:
        assert self._proc.stdout is not None
        for line in self._proc.stdout:
            text = re.sub(r"\x1b\[[0-9;]*[A-Za-z]", "", line).strip()
            if text:
                yield text

    def exit_code(self) -> int | None:
        return self._proc.poll()

    def stop(self) -> None:
        """End it and what it started (the docker CLI runs Compose as a plugin process)."""
        import signal

        for sent in (signal.SIGTERM, signal.SIGKILL):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self._proc.pid, sent)
            try:
                self._proc.wait(timeout=5)
                return
            except subprocess.TimeoutExpired:
                continue


# -- the engine -----------------------------------------------------------------------------


class EngineCheck:
    """Check that an engine answers and that Compose is v2: `docker version` and `docker
    compose version` start at once, side by side; ``result()`` waits for them. Start it
    first, do other work (the build), then ask for the result."""

    def __init__(self) -> None:
        self._engine = _Call(["version", "--format", "{{json .}}"], "checking the Docker engine")
        self._compose = _Call(["compose", "version"], "checking Docker Compose")

    def result(self) -> EngineInfo:
        return engine_info_from(self._engine.done(), self._compose.done())


def engine_info() -> EngineInfo:
    """Check that an engine answers and that Compose is v2; say how to fix it otherwise."""
    return EngineCheck().result()


def engine_info_from(engine: _Done, compose: _Done) -> EngineInfo:
    """What `docker version --format '{{json .}}'` and `docker compose version` said,
    or EngineUnavailable with the fix."""
    try:
        server = (json.loads(engine.out) or {}).get("Server") if engine.out.strip() else None
    except ValueError:
        server = None
    if engine.code != 0 and not server:
        error = _failed("checking the Docker engine", engine)
        raise error if isinstance(error, EngineUnavailable) else EngineUnavailable(f"{error}; {PROVISION_HINT}")
    if not server or not server.get("Version"):
        raise EngineUnavailable(f"no Docker engine answers; {PROVISION_HINT}")
    return EngineInfo(server["Version"], server.get("ApiVersion") or "", compose_version_from(compose))


def compose_version_from(done: _Done) -> str:
    if done.code != 0:
        missing = "Docker Compose v2 (the `docker compose` plugin) is missing"
        raise EngineUnavailable(f"{missing}: {_failed('checking Docker Compose', done)}; {PROVISION_HINT}")
    version = _compose_semver(done.out)
    if not version.startswith("2."):
        raise EngineUnavailable(f"Docker Compose {version or done.out.strip()!r} is not v2; {PROVISION_HINT}")
    return version


def _compose_semver(text: str) -> str:
    """``Docker Compose version v2.26.1-4`` -> ``2.26.1-4``."""
    last = text.strip().split()[-1] if text.strip() else ""
    return last[1:] if last.startswith("v") else last


# -- compose ---------------------------------------------------------------------------------


def compose_up(project: ComposeProject, services: Sequence[str] | None = None) -> str:
    """`compose up --detach` through python-on-whales: blocks while Compose waits for
    depends_on conditions.

    Returns what Compose printed; raises RuntimeFailure with its output when it fails
    (both streams are captured: Compose writes its errors to either)."""
    docker = _client(project)
    lines: list[str] = []
    with _translated(f"compose up of {project.name}"):
        stream = docker.compose.up(
            services=list(services) if services is not None else None,
            detach=True,
            stream_logs=True,
            color=False,
        )
        for _source, raw in stream:
            lines.append(raw.decode(errors="replace").rstrip())
    return "\n".join(lines)


_IMPORTING = threading.Lock()


def _python_on_whales() -> Any:
    """python-on-whales, imported under one lock: its submodules import each other, and a
    thread importing it while another does can see it half-initialised (seen in CI as
    "partially initialized module 'python_on_whales' has no attribute 'components'")."""
    with _IMPORTING:
        import python_on_whales
        import python_on_whales.exceptions

    return python_on_whales


def _preload_python_on_whales() -> None:
    with contextlib.suppress(ImportError):
        _python_on_whales()


_PRELOADING: list[threading.Thread] = []


def preload_compose_up() -> None:
    """Import python-on-whales in a thread, while apply asks the engine what it needs (it
    costs 0.1-0.3 s of CPU, under the interpreter's lock: not while apply builds, and not
    at all when `compose up` does not run). Once per process."""
    with _IMPORTING:
        if _PRELOADING:
            return
        _PRELOADING.append(threading.Thread(target=_preload_python_on_whales, daemon=True))
    _PRELOADING[0].start()


def config_hashes(project: ComposeProject) -> dict[str, str]:
    """Compose's hash of each service's configuration as `compose up` would create it now
    (the `com.docker.compose.config-hash` label a container made from it carries)."""
    out = _docker([*compose_args(project), "config", "--hash", "*"], f"hashing the services of {project.name}")
    return dict(line.split(None, 1) for line in out.splitlines() if len(line.split(None, 1)) == 2)


def image_ids(references: Iterable[str]) -> dict[str, str]:
    """The id of each local image by reference; references with no local image left out."""
    wanted = sorted(set(references) - {""})
    if not wanted:
        return {}
    done = _Call(["image", "inspect", "--format", "{{json .Id}}", *wanted], "inspecting images").done()
    if done.code != 0 and not _only_missing(done.err):
        raise _failed("inspecting images", done)
    ids = [json.loads(line) for line in done.out.splitlines() if line.strip()]
    # Output lines follow the references, missing ones skipped: pair them up by looking again.
    if len(ids) == len(wanted):
        return dict(zip(wanted, ids, strict=True))
    return {ref: image for ref in wanted for image in _one_image_id(ref)}


def _one_image_id(reference: str) -> list[str]:
    done = _Call(["image", "inspect", "--format", "{{json .Id}}", reference], "inspecting images").done()
    return [json.loads(done.out)] if done.code == 0 and done.out.strip() else []


#: How the engine says an object does not exist. One engine words it two ways: a missing
#: volume is "get gone: no such volume", but "volume gone not found" once the engine is in
#: swarm mode (seen on Engine 26.1.5); networks, secrets and configs say "not found".
_MISSING = re.compile(r"\bno such\b|\bnot found\b", re.IGNORECASE)


def says_missing(text: str) -> bool:
    """Whether an error text says an object does not exist, in either of the engine's words."""
    return _MISSING.search(text) is not None


def _only_missing(stderr: str) -> bool:
    """True when every error line says an object does not exist."""
    return all(says_missing(line) for line in stderr.splitlines() if line.strip())


# -- inspection -----------------------------------------------------------------------------


def containers(
    project_name: str, names: Sequence[str] | None = None, include_oneoff: bool = False
) -> dict[str, ContainerState]:
    """The project's containers by service (one-off `compose run` containers left out).

    With ``names`` (container names, which clockwork sets to the service names), one
    `docker container inspect` call: what ``apply`` polls. Without, a listing first."""
    states = _inspect(names, project_name) if names is not None else _project_states(project_name)
    return by_service(states, include_oneoff=include_oneoff)


def by_service(states: Iterable[ContainerState], include_oneoff: bool = False) -> dict[str, ContainerState]:
    """Containers by service, the newest of a service winning (one-offs left out, or by name)."""
    out: dict[str, ContainerState] = {}
    for state in sorted(states, key=lambda s: s.created or _NEVER):
        if state.oneoff and not include_oneoff:
            continue
        out[state.service if not state.oneoff else state.name] = state
    return out


@dataclass(frozen=True)
class Listed:
    """A container as the engine lists it: no state, only who it is."""

    id: str
    name: str
    #: The Compose project it belongs to ("" when none).
    project: str


def container_list() -> list[Listed]:
    """Every container on the engine, any project, in one `docker container ls` (one request
    to the engine, however many there are; inspecting costs one request per container)."""
    template = f'{{{{.ID}}}}\t{{{{.Names}}}}\t{{{{.Label "{PROJECT_LABEL}"}}}}'
    out = _docker(["container", "ls", "--all", "--no-trunc", "--format", template], "listing containers")
    found = [(line.split("\t") + ["", ""])[:3] for line in out.splitlines() if line.strip()]
    # --no-trunc lists the names other containers link it by (OTHER/ALIAS) too: not its own.
    own = (next((n for n in names.split(",") if "/" not in n), "") for _, names, _ in found)
    return [Listed(cid, name, project) for (cid, _, project), name in zip(found, own, strict=True)]


def inspect_containers(ids: Sequence[str]) -> list[ContainerState]:
    """The containers with these ids (or names), in one `docker container inspect`; one
    removed meanwhile is left out."""
    return [_state(c) for c in _inspect_json(ids, "inspecting containers")]


_NEVER = datetime.min.replace(tzinfo=UTC)


def _project_states(project_name: str) -> list[ContainerState]:
    return [_state(c) for c in _inspect_all([("label", f"{PROJECT_LABEL}={project_name}")], project_name)]


def _inspect(names: Sequence[str], project_name: str) -> list[ContainerState]:
    states = [_state(c) for c in _inspect_json(names, f"inspecting the containers of {project_name}")]
    return [s for s in states if s.project == project_name]


def _inspect_all(filters: Sequence[tuple[str, str]], what: str) -> list[dict[str, Any]]:
    """Inspect results of the containers matching ``filters``; a container removed between
    listing and inspecting (Compose recreating it) is left out."""
    argv = ["container", "list", "--all", "--quiet", "--no-trunc"]
    for key, value in filters:
        argv += ["--filter", f"{key}={value}"]
    ids = _docker(argv, f"listing the containers of {what}").split()
    return _inspect_json(ids, f"inspecting the containers of {what}")


def _inspect_json(names: Sequence[str], action: str) -> list[dict[str, Any]]:
    """`docker container inspect` of names or ids, in one call; missing ones left out."""
    if not names:
        return []
    done = _Call(["container", "inspect", *names], action).done()
    if done.code != 0 and not (_only_missing(done.err) and done.out.lstrip().startswith("[")):
        raise _failed(action, done)
    return list(json.loads(done.out)) if done.out.strip() else []


def containers_named(names: Sequence[str]) -> list[ContainerState]:
    """The containers with these names, whichever project (if any) they belong to."""
    return [_state(c) for c in _inspect_json(names, "inspecting containers by name")]


def container(name: str) -> ContainerState | None:
    """One container by name or id, or None when there is none."""
    found = _inspect_json([name], f"inspecting container {name}")
    return _state(found[0]) if found else None


def _state(c: dict[str, Any]) -> ContainerState:
    config, state = c.get("Config") or {}, c.get("State") or {}
    labels = config.get("Labels") or {}
    name = str(c.get("Name", "")).lstrip("/")
    return ContainerState(
        name=name,
        service=labels.get(SERVICE_LABEL, name),
        id=c["Id"],
        status=state.get("Status") or "",
        health=(state.get("Health") or {}).get("Status"),
        exit_code=state.get("ExitCode") or 0,
        created=engine_time(c.get("Created")),
        finished=engine_time(state.get("FinishedAt")),
        started=engine_time(state.get("StartedAt")),
        networks=tuple(sorted((c.get("NetworkSettings") or {}).get("Networks") or {})),
        oneoff=labels.get(ONEOFF_LABEL, "False").lower() == "true",
        config_hash=labels.get(CONFIG_HASH_LABEL, ""),
        image=config.get("Image") or "",
        image_id=labels.get(IMAGE_LABEL) or c.get("Image") or "",
        project=labels.get(PROJECT_LABEL, ""),
        working_dir=labels.get(WORKING_DIR_LABEL, ""),
        role=labels.get(ROLE_LABEL, ""),
        volumes=tuple(
            sorted(
                (str(m.get("Destination", "")).rstrip("/"), str(m["Name"]))
                for m in c.get("Mounts") or []
                if m.get("Type") == "volume" and m.get("Name")
            )
        ),
        restart_count=int(c.get("RestartCount") or 0),
        health_output=str(((state.get("Health") or {}).get("Log") or [{}])[-1].get("Output") or "").strip(),
        ports=published((c.get("NetworkSettings") or {}).get("Ports") or {}),
    )


#: Host addresses that mean every address: a port published there is shown without one.
_EVERY_ADDRESS = ("", "0.0.0.0", "::")


def published(ports: Mapping[str, Any]) -> tuple[str, ...]:
    """A container's ``NetworkSettings.Ports`` as `docker ps` shows them, one per host port
    (its IPv4 and IPv6 bindings of every address are one), by container port."""
    found: set[tuple[int, str, str]] = set()
    for port, bindings in ports.items():
        number, _, protocol = port.partition("/")
        for binding in bindings or ():
            host = str(binding.get("HostIp") or "")
            where = "" if host in _EVERY_ADDRESS else f"[{host}]:" if ":" in host else f"{host}:"
            found.add((int(number), f"{where}{binding.get('HostPort')}", protocol or "tcp"))
    return tuple(f"{host}->{number}/{protocol}" for number, host, protocol in sorted(found))


def engine_time(value: str | None) -> datetime | None:
    """An engine timestamp (RFC 3339, nanoseconds); None for the engine's 0001-01-01 "never"."""
    if not value or value.startswith("0001-"):
        return None
    stamp = value.replace("Z", "+00:00")
    whole, dot, rest = stamp.partition(".")
    if dot:  # Python reads at most microseconds
        digits = len(rest) - len(rest.lstrip("0123456789"))
        stamp = f"{whole}.{rest[:digits][:6].ljust(6, '0')}{rest[digits:]}"
    parsed = datetime.fromisoformat(stamp)
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


def logs(name: str, tail: int = 20, since: datetime | None = None) -> str:
    """The last lines a container wrote (since ``since``), stdout and stderr in the order
    they were written; empty when there is no such container."""
    argv = ["container", "logs", "--tail", str(tail), "--timestamps"]
    if since is not None:
        argv += ["--since", since.isoformat()]
    action = f"reading the logs of {name}"
    done = _Call([*argv, name], action).done()
    if done.code != 0:
        if done.err.strip() and _only_missing(done.err):
            return ""
        raise _failed(action, done)
    # The container's stdout and stderr arrive on the CLI's two streams: the timestamps order them.
    lines = sorted(done.out.splitlines() + done.err.splitlines(), key=_log_time)
    return "\n".join(_untimed(line) for line in lines).rstrip()


def _log_time(line: str) -> tuple[str, str]:
    """Sort key of a `docker logs --timestamps` line: RFC 3339 trims the fraction's zeros."""
    stamp = line.split(" ", 1)[0]
    whole, _, fraction = stamp.rstrip("Z").partition(".")
    return whole, fraction.ljust(9, "0")


def _untimed(line: str) -> str:
    stamp, _, rest = line.partition(" ")
    return rest if stamp[:4].isdigit() and "T" in stamp else line


def last_exit(container: str, since: datetime | None = None) -> int | None:
    """The exit code of the container's last death since ``since``, from the engine's
    events (a restarting container's State.ExitCode is 0 again while it runs); None when
    the engine no longer holds that event (it keeps a few hundred, for all containers)."""
    argv = ["events", "--filter", f"container={container}", "--filter", "event=die", "--format", "{{json .Actor}}"]
    start = since.timestamp() if since is not None else 0
    argv += ["--since", f"{start:.6f}", "--until", f"{datetime.now(UTC).timestamp():.6f}"]
    done = _Call(argv, f"reading the events of {container}").done()
    codes = []
    for line in done.out.splitlines() if done.code == 0 else []:
        with contextlib.suppress(ValueError, TypeError, KeyError):
            codes.append(int(json.loads(line)["Attributes"]["exitCode"]))
    return codes[-1] if codes else None


def exec_in(name: str, argv: Sequence[str], env: Mapping[str, str] | None = None) -> str:
    """Run argv in a running container and return its stdout (`docker exec`); ``env`` adds
    variables to its environment (a password a client reads, kept off its argv). No
    deadline: a client's query takes what it takes."""
    options = [arg for key, value in (env or {}).items() for arg in ("--env", f"{key}={value}")]
    return _docker(["exec", *options, name, *argv], f"exec in {name}", timeout=None).removesuffix("\n")


# -- logs and ps ----------------------------------------------------------------------------


@dataclass(frozen=True)
class LogOptions:
    """What `clockwork logs` asks for: follow until Ctrl-C; the last ``tail`` lines of each
    (None: all); since ``since``, as docker takes it (a duration ``10m``, a date, a Unix time)."""

    follow: bool = False
    tail: int | None = None
    since: str | None = None


@dataclass(frozen=True)
class LogLine:
    """A line a container or a service wrote: ``source`` names whose (as the caller named it),
    ``time`` is the engine's RFC 3339 timestamp ("" when it gave none)."""

    source: str
    text: str
    time: str = ""


def container_logs(containers: Mapping[str, str], options: LogOptions) -> Iterator[LogLine]:
    """The lines of each container (``source`` -> name or id), stdout and stderr: without
    ``follow``, all of them, in the order they were written; with it, as they come, until
    every container stops or the caller stops reading (its processes end with the iterator)."""
    return _merged({source: ["container", "logs", *_log_flags(options), name] for source, name in containers.items()})


def service_logs(services: Mapping[str, str], options: LogOptions) -> Iterator[LogLine]:
    """As ``container_logs``, for Swarm services (``source`` -> name or id), every task on
    every node (`docker service logs`, through the manager)."""
    return _merged(
        {source: ["service", "logs", "--raw", *_log_flags(options), name] for source, name in services.items()}
    )


def _log_flags(options: LogOptions) -> list[str]:
    flags = ["--timestamps", "--tail", "all" if options.tail is None else str(options.tail)]
    if options.since:
        flags += ["--since", options.since]
    return flags + (["--follow"] if options.follow else [])


def _merged(sources: Mapping[str, Sequence[str]]) -> Iterator[LogLine]:
    """One docker process per source, read side by side; see ``container_logs``. A line on a
    process's stderr without a timestamp is the docker CLI's own (not the container's): a
    process that fails raises RuntimeFailure with it once the others are read."""
    follow = any("--follow" in argv for argv in sources.values())
    lines: queue.Queue[tuple[str, bool, str | None]] = queue.Queue()
    procs: dict[str, subprocess.Popen[str]] = {}
    try:
        for source, argv in sources.items():
            proc = _started(argv)
            procs[source] = proc
            for stream, is_err in ((proc.stdout, False), (proc.stderr, True)):
                threading.Thread(target=_pump, args=(source, stream, is_err, lines), daemon=True).start()
    except FileNotFoundError as exc:
        _end(procs)
        raise EngineUnavailable(f"reading logs: the docker CLI is not installed; {PROVISION_HINT}") from exc
    return _read(procs, lines, follow)


def _pump(source: str, stream: Any, is_err: bool, lines: queue.Queue[tuple[str, bool, str | None]]) -> None:
    for line in stream:
        lines.put((source, is_err, line.rstrip("\n")))
    lines.put((source, is_err, None))


def _read(
    procs: Mapping[str, subprocess.Popen[str]], lines: queue.Queue[tuple[str, bool, str | None]], follow: bool
) -> Iterator[LogLine]:
    said: dict[str, list[str]] = {source: [] for source in procs}
    kept: list[LogLine] = []
    try:
        open_streams = 2 * len(procs)
        while open_streams:
            source, is_err, line = lines.get()
            if line is None:
                open_streams -= 1
                continue
            stamp, _, text = line.partition(" ")
            if not (stamp[:4].isdigit() and "T" in stamp):
                stamp, text = "", line
                if is_err:
                    said[source].append(line)
                    continue
            item = LogLine(source, text, stamp)
            if follow:
                yield item
            else:
                kept.append(item)
        yield from sorted(kept, key=lambda item: _log_time(item.time))
        failed = [(s, p.wait()) for s, p in procs.items() if p.wait() != 0]
        if failed:
            source, code = failed[0]
            words = " / ".join(line.strip() for line in said[source] if line.strip()) or f"exit code {code}"
            raise RuntimeFailure(f"reading the logs of {source} failed: {words}")
    finally:
        _end(procs)


def _end(procs: Mapping[str, subprocess.Popen[str]]) -> None:
    for proc in procs.values():
        if proc.poll() is None:
            proc.terminate()
    for proc in procs.values():
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@dataclass(frozen=True)
class SwarmTask:
    """One task of a Swarm service, as the manager sees it."""

    slot: int
    #: The node it was given to, by host name ("" before it is scheduled).
    node: str
    #: Where it is (new, starting, running, complete, failed, shutdown...) and where it should be.
    state: str
    desired: str
    #: When it got to ``state``.
    since: datetime | None
    exit_code: int | None = None
    error: str = ""


@dataclass(frozen=True)
class SwarmService:
    """A service of a Swarm stack and its tasks."""

    id: str
    #: Its full name (``<stack>_<service>``).
    name: str
    labels: dict[str, str]
    image: str
    #: replicated, global, replicated-job or global-job; ``replicas`` for replicated ones.
    mode: str
    replicas: int | None
    #: Whether its containers have a healthcheck (Swarm counts a task running once it passed).
    healthcheck: bool
    #: Published ports: ``*:8000->80/tcp`` through the routing mesh (every node), as `docker
    #: service ls` shows them; ``8000->80/tcp`` in host mode (the node that runs the task).
    ports: tuple[str, ...]
    tasks: tuple[SwarmTask, ...]


def swarm_services(stack: str) -> list[SwarmService]:
    """The services of the Swarm stack ``stack`` and their tasks on every node, by name;
    RuntimeFailure, with the fix, when the engine is not a swarm manager."""
    done = _Call(["service", "ls", "--quiet", "--filter", f"label={STACK_LABEL}={stack}"], "listing services").done()
    if done.code != 0:
        if "not a swarm manager" in done.err:
            raise RuntimeFailure(
                "this Docker engine is not a swarm manager: point DOCKER_HOST at a manager of the swarm "
                "that runs the stack (or run `docker swarm init` before --target swarm)"
            )
        raise _failed(f"listing the services of stack {stack}", done)
    ids = done.out.split()
    if not ids:
        return []
    services = _inspect_any(["service", "inspect", *ids], f"inspecting the services of {stack}")
    task_ids = _docker(["service", "ps", "--quiet", "--no-trunc", *ids], f"listing the tasks of {stack}").split()
    tasks = _inspect_any(["inspect", *task_ids], f"inspecting the tasks of {stack}") if task_ids else []
    nodes = _node_names() if tasks else {}
    by_service: dict[str, list[SwarmTask]] = {}
    for task in tasks:
        by_service.setdefault(task.get("ServiceID", ""), []).append(_task(task, nodes))
    return sorted((_service(s, by_service.get(s["ID"], [])) for s in services), key=lambda s: s.name)


def _inspect_any(argv: Sequence[str], action: str) -> list[dict[str, Any]]:
    """What ``docker ... inspect`` says of the objects still there (one may go meanwhile)."""
    done = _Call(argv, action).done()
    if done.code != 0 and not (_only_missing(done.err) and done.out.lstrip().startswith("[")):
        raise _failed(action, done)
    return list(json.loads(done.out)) if done.out.strip() else []


def _node_names() -> dict[str, str]:
    out = _docker(["node", "ls", "--format", "{{json .}}"], "listing the nodes of the swarm")
    nodes = (json.loads(line) for line in out.splitlines() if line.strip())
    return {node["ID"]: node.get("Hostname", "") for node in nodes}


def _task(task: Mapping[str, Any], nodes: Mapping[str, str]) -> SwarmTask:
    status = task.get("Status") or {}
    node = str(task.get("NodeID") or "")
    code = (status.get("ContainerStatus") or {}).get("ExitCode")
    return SwarmTask(
        slot=int(task.get("Slot") or 0),
        node=nodes.get(node, node[:12]),
        state=str(status.get("State") or ""),
        desired=str(task.get("DesiredState") or ""),
        since=engine_time(status.get("Timestamp")),
        exit_code=int(code) if code is not None else None,
        error=str(status.get("Err") or ""),
    )


def _service(service: Mapping[str, Any], tasks: Sequence[SwarmTask]) -> SwarmService:
    spec = service.get("Spec") or {}
    container = (spec.get("TaskTemplate") or {}).get("ContainerSpec") or {}
    mode = spec.get("Mode") or {}
    kind = next((k for k in ("Replicated", "Global", "ReplicatedJob", "GlobalJob") if k in mode), "Replicated")
    replicas = (mode.get("Replicated") or {}).get("Replicas", 1) if kind == "Replicated" else None
    health = container.get("Healthcheck") or {}
    ports = [
        (p.get("PublishedPort"), p.get("TargetPort"), p.get("Protocol") or "tcp", p.get("PublishMode") or "ingress")
        for p in ((service.get("Endpoint") or {}).get("Ports") or [])
        if p.get("PublishedPort")
    ]
    return SwarmService(
        id=str(service.get("ID", "")),
        name=str(spec.get("Name", "")),
        labels=dict(spec.get("Labels") or {}),
        image=str(container.get("Image", "")).split("@", 1)[0],
        mode=re.sub(r"(?<!^)(?=[A-Z])", "-", kind).lower(),
        replicas=int(replicas) if replicas is not None else None,
        healthcheck=bool(health.get("Test")) and health.get("Test") != ["NONE"],
        ports=tuple(
            f"{'*:' if mode_ == 'ingress' else ''}{published}->{target}/{protocol}"
            for published, target, protocol, mode_ in sorted(ports)
        ),
        tasks=tuple(sorted(tasks, key=lambda t: (t.slot, t.node, t.since or _NEVER))),
    )


# -- locks, the shared network, ownership ---------------------------------------------------


class Busy(RuntimeFailure):
    """A host-wide lock is held by another process."""


@contextlib.contextmanager
def host_lock(name: str, wait: bool = True, what: str = "", doing: str = "") -> Iterator[None]:
    """An exclusive lock shared by every clockwork process on this host (one engine per
    host), held until the block ends. ``wait=False``: raise Busy naming the holder: its pid
    and what it does (``doing``, e.g. "apply of shop", written next to its pid in the lock
    file), else ``what``."""
    LOCK_DIR.mkdir(parents=True, exist_ok=True)
    path = LOCK_DIR / f"{name}.lock"
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
        except BlockingIOError:
            holder = os.pread(fd, 512, 0).decode(errors="replace")
            raise Busy(busy_message(holder, what or name, doing)) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()} {doing}".strip().encode(), 0)
        try:
            yield
        finally:
            os.ftruncate(fd, 0)
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


def project_lock(name: str, action: str) -> contextlib.AbstractContextManager[None]:
    """One lock per project name on this host, held by every apply and destroy of it from
    start to end, on Compose and on Swarm (a stack and the Compose project of its name share
    volume names). Whoever comes second is refused at once (``Busy``), never queued: the
    message names what runs ("another apply of shop", "a destroy of shop"). The lock is the
    engine's: one that ``DOCKER_HOST`` names elsewhere (a swarm's manager) has its own."""
    return host_lock(
        f"project-{name}{engine_key()}", wait=False, what=f"an apply or destroy of {name}", doing=f"{action} of {name}"
    )


def engine_key() -> str:
    """ "" for this machine's engine; for one ``DOCKER_HOST`` names, a suffix naming it."""
    endpoint = os.environ.get("DOCKER_HOST", "")
    if not endpoint or endpoint.startswith("unix://"):
        return ""
    return "@" + hashlib.sha256(endpoint.encode()).hexdigest()[:12]


def busy_message(holder: str, what: str, doing: str = "") -> str:
    """Why a lock was refused, from what its holder wrote in the lock file ("PID DOING"):
    "another apply of shop" when it does what we would, else "a destroy of shop"."""
    pid, _, theirs = holder.strip().partition(" ")
    process = f" (process {pid})" if pid.isdigit() else ""
    if not theirs:
        held = what
    elif theirs == doing:
        held = f"another {theirs}"
    else:
        held = f"{'an' if theirs[:1] in 'aeiou' else 'a'} {theirs}"
    return f"{held} is running{process}; nothing was changed: wait for it to finish, then try again"


@dataclass(frozen=True)
class Network:
    id: str
    name: str
    labels: dict[str, str]
    #: Names of the containers attached to it.
    containers: tuple[str, ...]
    created: str = ""


@dataclass(frozen=True)
class Volume:
    name: str
    labels: dict[str, str]


def networks(name: str | None = None, project: str | None = None) -> list[Network]:
    """Networks named exactly ``name`` (there can be several: Docker allows duplicates
    through its API) and/or labelled with ``project``, oldest first."""
    argv = ["network", "ls", "--no-trunc", "--quiet"]
    if name is not None:
        argv += ["--filter", f"name=^{re.escape(name)}$"]
    if project is not None:
        argv += ["--filter", f"label={PROJECT_LABEL}={project}"]
    ids = _docker(argv, "listing networks").split()
    if not ids:
        return []
    done = _Call(["network", "inspect", *ids], "inspecting networks").done()
    if done.code != 0 and not (_only_missing(done.err) and done.out.lstrip().startswith("[")):
        raise _failed("inspecting networks", done)
    found = [
        Network(
            id=n["Id"],
            name=n["Name"],
            labels=dict(n.get("Labels") or {}),
            containers=tuple(sorted(str(c.get("Name", "")) for c in (n.get("Containers") or {}).values())),
            created=str(n.get("Created") or ""),
        )
        for n in (json.loads(done.out) if done.out.strip() else [])
    ]
    return sorted((n for n in found if name is None or n.name == name), key=lambda n: (n.created, n.id))


def duplicate_network_error(name: str, found: Sequence[Network]) -> RuntimeFailure:
    """The message for several networks of one name: which to remove, and how."""
    keep = max(found, key=lambda n: (len(n.containers), n.created == found[0].created))
    extra = [n for n in found if n is not keep]
    described = ", ".join(
        f"{n.id[:12]} ({len(n.containers)} container{'' if len(n.containers) == 1 else 's'})" for n in found
    )
    command = "; ".join(f"docker network rm {n.id[:12]}" for n in extra)
    busy = (
        " (stop the containers on it first: `docker network inspect` lists them)"
        if any(n.containers for n in extra)
        else ""
    )
    return RuntimeFailure(
        f"there are {len(found)} networks named {name}: {described}; Compose fails with "
        f"'network {name} is ambiguous' until one is left: run `{command}`{busy}, then apply again"
    )


def unusable_network(name: str, found: Sequence[Network]) -> RuntimeFailure | None:
    """Why Compose would refuse the networks called ``name`` found on the engine (several of
    them, or one without Compose's label), with the fix; None when it can use them."""
    if len(found) > 1:
        return duplicate_network_error(name, found)
    if found and found[0].labels.get(NETWORK_LABEL) != name:
        return RuntimeFailure(
            f"network {name} ({found[0].id[:12]}) was made without the label {NETWORK_LABEL}={name}, "
            f"so Compose refuses to use it: remove it with `docker network rm {found[0].id[:12]}` "
            "(stop the containers on it first), then apply again"
        )
    return None


def ensure_network(name: str) -> Network:
    """The one network called ``name``, created when missing. Under a host-wide lock, so
    that two applies never both create it (the engine would make two of one name)."""
    with host_lock(f"network-{name}"):
        found = networks(name)
        problem = unusable_network(name, found)
        if problem is not None:
            raise problem
        if found:
            return found[0]
        # Compose uses a network it did not create only when it carries Compose's network
        # label with the key the file gives it (the name, for clockwork's files).
        labels = ["--label", f"{SHARED_LABEL}=true", "--label", f"{NETWORK_LABEL}={name}"]
        _docker(["network", "create", *labels, name], f"creating network {name}")
        found = networks(name)
    if len(found) != 1:
        raise duplicate_network_error(name, found)
    return found[0]


def remove_network_if_unused(name: str, project: str) -> tuple[str, ...]:
    """Remove the networks called ``name`` when no container (in any state) uses one of
    that name, and they belong to ``project`` or to no project (clockwork's shared one);
    the names removed."""
    with host_lock(f"network-{name}"):
        # A container created but not started yet (Compose creates them all first) is not
        # in the network's inspect: ask for containers in any state that name the network.
        argv = ["container", "list", "--all", "--quiet", "--filter", f"network={name}"]
        if _docker(argv, f"listing the containers on {name}").split():
            return ()
        gone = [n.id for n in networks(name) if not n.containers and n.labels.get(PROJECT_LABEL, project) == project]
        if gone:
            _docker(["network", "rm", *gone], f"removing network {name}")
    return (name,) if gone else ()


def volumes(project: str) -> list[Volume]:
    """The volumes labelled with the Compose project ``project``, by name."""
    return _labelled_volumes(f"{PROJECT_LABEL}={project}", project)


def _labelled_volumes(label: str, what: str) -> list[Volume]:
    names = _docker(["volume", "ls", "--quiet", "--filter", f"label={label}"], f"listing the volumes of {what}").split()
    return _inspect_volumes(names, f"inspecting the volumes of {what}")


def clockwork_volumes() -> list[Volume]:
    """Every volume clockwork created on this engine (they carry ``OWNER_LABEL``), any
    project: data volumes, and the records and markers of ``--adopt-data``."""
    names = _docker(["volume", "ls", "--quiet", "--filter", f"label={OWNER_LABEL}"], "listing volumes").split()
    return _inspect_volumes(names, "inspecting volumes")


def _inspect_volumes(names: Sequence[str], action: str) -> list[Volume]:
    """`docker volume inspect` of these names, in one call; missing ones left out."""
    if not names:
        return []
    done = _Call(["volume", "inspect", *names], action).done()
    if done.code != 0 and not (_only_missing(done.err) and done.out.lstrip().startswith("[")):
        raise _failed(action, done)
    found = json.loads(done.out) if done.out.strip() else []
    return sorted((Volume(v["Name"], dict(v.get("Labels") or {})) for v in found), key=lambda v: v.name)


#: The label `docker stack deploy` puts on everything of a Swarm stack: the stack's name.
STACK_LABEL = "com.docker.stack.namespace"


@dataclass(frozen=True)
class SwarmStack:
    """What a Swarm stack has on this engine."""

    #: Its services (full names), each with the folder clockwork recorded as its maker ("" when none).
    services: dict[str, str]
    #: Its named volumes on this node (left by ``destroy --target swarm --keep-volumes`` once
    #: the services are gone).
    volumes: tuple[Volume, ...] = ()


def swarm_stack(stack: str) -> SwarmStack:
    """The services and volumes of the Swarm stack ``stack``. No services when the engine
    is not a swarm manager (no stack runs through it); volumes outlive a swarm."""
    return SwarmStack(_stack_services(stack), tuple(_labelled_volumes(f"{STACK_LABEL}={stack}", f"stack {stack}")))


def _stack_services(stack: str) -> dict[str, str]:
    done = _Call(["service", "ls", "--quiet", "--filter", f"label={STACK_LABEL}={stack}"], "listing services").done()
    if done.code != 0:
        if "not a swarm manager" in done.err:
            return {}
        raise _failed(f"listing the services of stack {stack}", done)
    ids = done.out.split()
    if not ids:
        return {}
    template = f'{{{{json .Spec.Name}}}} {{{{json (index .Spec.Labels "{OWNER_LABEL}")}}}}'
    lines = _docker(["service", "inspect", "--format", template, *ids], f"inspecting the services of {stack}")
    found = (line.split(" ", 1) for line in lines.splitlines() if line.strip())
    return {json.loads(name): json.loads(owner) or "" for name, owner in sorted(found)}


@dataclass(frozen=True)
class VolumeUsage:
    """What a volume holds, measured with `du` in a throwaway container."""

    name: str
    exists: bool
    #: Kibibytes used (`du -sk`, the top folder included) and entries at its top; None when
    #: not measured (it does not exist, or no local image could run the measurement).
    kib: int | None = None
    entries: int | None = None


#: A throwaway container that reads or writes volumes: never pulls, no network, root (to
#: read and keep every file's owner), shell entrypoint (a database image's would start it).
_HELPER = ["run", "--rm", "--pull", "never", "--network", "none", "--user", "0:0", "--entrypoint", "sh"]
_MEASURE = 'for d in /v/*; do printf "%s %s %s\\n" "${d#/v/}" "$(du -sk "$d" | cut -f1)" "$(ls -A "$d" | wc -l)"; done'


def volume_usage(names: Sequence[str], images: Sequence[str]) -> dict[str, VolumeUsage]:
    """Whether each volume exists and what it holds: one `du` over all of them, read-only,
    in a throwaway container of the first of ``images`` present here (nothing is pulled).
    About 0.3 s whatever the engine holds, where `docker system df -v` sizes every volume.
    A volume is never mounted unless it exists (mounting creates a missing one)."""
    wanted = list(dict.fromkeys(names))
    present = {v.name for v in _inspect_volumes(wanted, "inspecting volumes")}
    out = {name: VolumeUsage(name, name in present) for name in wanted}
    measured = [name for name in wanted if name in present]
    image = _present_image(images)
    if not measured or image is None:
        return out
    argv = [*_HELPER, "--label", f"{HELPER_LABEL}=measure"]
    for i, name in enumerate(measured):
        argv += ["--mount", f"type=volume,src={name},dst=/v/{i},readonly,volume-nocopy"]
    done = _Call([*argv, image, "-c", _MEASURE], "measuring volumes").done()
    for line in done.out.splitlines() if done.code == 0 else ():
        index, kib, entries = line.split()
        name = measured[int(index)]
        out[name] = VolumeUsage(name, True, int(kib), int(entries))
    return out


def _present_image(images: Iterable[str]) -> str | None:
    """The first of ``images`` (references or ids) present on the engine."""
    wanted = [image for image in dict.fromkeys(images) if image]
    found = image_ids(wanted)
    return next((image for image in wanted if image in found), None)


#: Empties the target (a copy cut short left part of it), copies every file as it is (owner,
#: mode, times, links), flushes it to disk, and prints the KiB the target holds.
_COPY = (
    "set -e; cd /to; find . -mindepth 1 -maxdepth 1 -exec rm -rf {} +; cp -a /from/. /to/; sync; du -sk /to | cut -f1"
)


def copy_volume(source: str, target: str, images: Sequence[str]) -> int:
    """Copy the files of volume ``source`` (mounted read-only) into volume ``target``, emptied
    first, in a throwaway container named after the target, of the first of ``images``
    present here; the KiB copied. Both volumes must exist (a mount would create a missing
    one). A copy an interrupted apply left running is removed first, so two never write."""
    image = _present_image(images)
    if image is None:
        raise RuntimeFailure(
            f"copying volume {source} into {target}: none of the images {', '.join(images) or '(none)'} "
            "is present on this engine to copy with; pull or build one, then apply again"
        )
    name = copier(target)
    _gone_is_fine(["container", "rm", "--force", name], f"removing {name}")
    argv = [*_HELPER, "--name", name, "--label", f"{HELPER_LABEL}=copy"]
    argv += ["--mount", f"type=volume,src={source},dst=/from,readonly,volume-nocopy"]
    argv += ["--mount", f"type=volume,src={target},dst=/to,volume-nocopy"]
    out = _docker([*argv, image, "-c", _COPY], f"copying volume {source} into {target}", timeout=None)
    return int(out.split()[-1])


def copier(target: str) -> str:
    """The name of the container that copies into volume ``target``."""
    return f"clockwork-copy-{target}"


def containers_using(volume: str) -> list[ContainerState]:
    """Every container (any state, any project) that mounts the volume."""
    return [_state(c) for c in _inspect_all([("volume", volume)], f"volume {volume}")]


def create_volume(name: str, labels: dict[str, str]) -> None:
    argv = ["volume", "create"]
    for key, value in sorted(labels.items()):
        argv += ["--label", f"{key}={value}"]
    _docker([*argv, name], f"creating volume {name}")


def remove_volumes(names: Sequence[str]) -> None:
    if names:
        _gone_is_fine(["volume", "rm", *names], f"removing volumes {', '.join(names)}")


#: Where a snapshot helper mounts the snapshots volume.
SNAPSHOTS = "/snapshots"


def run_with_volume(
    image: str,
    volume: str,
    script: str,
    args: Sequence[str] = (),
    *,
    beside: str | None = None,
    env: Mapping[str, str] | None = None,
    readonly: bool = False,
    action: str = "",
) -> str:
    """``sh -c SCRIPT ARGS`` in a throwaway container of ``image`` (present here: nothing is
    pulled) with ``volume`` at ``SNAPSHOTS``; its stdout. ``beside``: a running container whose
    network it shares (its server on 127.0.0.1), else no network. The volume must exist
    (a mount creates a missing one). No deadline: a dump takes what it takes."""
    network = f"container:{beside}" if beside else "none"
    argv = ["run", "--rm", "--pull", "never", "--network", network, "--entrypoint", "sh"]
    argv += ["--label", f"{HELPER_LABEL}=snapshot", "--workdir", SNAPSHOTS]
    argv += ["--mount", f"type=volume,src={volume},dst={SNAPSHOTS},volume-nocopy{',readonly' if readonly else ''}"]
    argv += [arg for key, value in (env or {}).items() for arg in ("--env", f"{key}={value}")]
    return _docker([*argv, image, "-c", script, "clockwork-snapshot", *args], action or f"in {volume}", timeout=None)


def stop_containers(names: Sequence[str]) -> None:
    """Stop the containers (`docker stop`), leaving them to be started again."""
    if names:
        _docker(["container", "stop", *names], f"stopping {', '.join(names)}")


def start_containers(names: Sequence[str]) -> None:
    if names:
        _docker(["container", "start", *names], f"starting {', '.join(names)}")


def project_containers(project: str) -> list[ContainerState]:
    """Every container labelled with the Compose project, one-offs included."""
    return sorted(_project_states(project), key=lambda s: s.name)


def remove_containers(groups: Sequence[Sequence[str]]) -> None:
    """Stop, then remove (with their anonymous volumes; named ones stay), group by group:
    dependants in the first group, what they depend on last. One already gone (removed
    meanwhile by someone else) is fine."""
    for names in groups:
        if names:
            _gone_is_fine(["container", "stop", *names], f"stopping {', '.join(names)}")
    everything = [name for names in groups for name in names]
    if everything:
        _gone_is_fine(["container", "rm", "--force", "--volumes", *everything], f"removing {', '.join(everything)}")


def _gone_is_fine(argv: Sequence[str], action: str) -> None:
    done = _Call(argv, action).done()
    if done.code != 0 and not _only_missing(done.err):
        raise _failed(action, done)


# -- the engine as a parameter ---------------------------------------------------------------


class Containers(Protocol):
    """The engine, its containers and their images: what assert asks, and apply watches."""

    def start_engine_check(self) -> Callable[[], EngineInfo]:
        """Start checking the engine and Compose; the function returned waits for the answer."""
        ...

    def engine_info(self) -> EngineInfo: ...

    def containers(
        self, project_name: str, names: Sequence[str] | None = None, include_oneoff: bool = False
    ) -> dict[str, ContainerState]: ...

    def project_containers(self, project: str) -> list[ContainerState]: ...

    def containers_named(self, names: Sequence[str]) -> list[ContainerState]: ...

    def container_list(self) -> list[Listed]: ...

    def inspect_containers(self, ids: Sequence[str]) -> list[ContainerState]: ...

    def container(self, name: str) -> ContainerState | None: ...

    def image_ids(self, references: Iterable[str]) -> dict[str, str]: ...

    def logs(self, name: str, tail: int = 20, since: datetime | None = None) -> str: ...

    def container_logs(self, containers: Mapping[str, str], options: LogOptions) -> Iterator[LogLine]: ...

    def last_exit(self, container: str, since: datetime | None = None) -> int | None: ...

    def exec_in(self, name: str, argv: Sequence[str], env: Mapping[str, str] | None = None) -> str: ...

    def remove_containers(self, groups: Sequence[Sequence[str]]) -> None: ...


class Storage(Protocol):
    """Volumes and networks: the data apply guards, adopts and destroy removes."""

    def ensure_network(self, name: str) -> Network: ...

    def networks(self, name: str | None = None, project: str | None = None) -> list[Network]: ...

    def remove_network_if_unused(self, name: str, project: str) -> tuple[str, ...]: ...

    def volumes(self, project: str) -> list[Volume]: ...

    def create_volume(self, name: str, labels: dict[str, str]) -> None: ...

    def remove_volumes(self, names: Sequence[str]) -> None: ...

    def clockwork_volumes(self) -> list[Volume]: ...

    def volume_usage(self, names: Sequence[str], images: Sequence[str]) -> dict[str, VolumeUsage]: ...

    def copy_volume(self, source: str, target: str, images: Sequence[str]) -> int: ...

    def containers_using(self, volume: str) -> list[ContainerState]: ...


class Snapshots(Protocol):
    """Dumps of a database in a volume, and the apps stopped while one is restored."""

    def run_with_volume(
        self,
        image: str,
        volume: str,
        script: str,
        args: Sequence[str] = (),
        *,
        beside: str | None = None,
        env: Mapping[str, str] | None = None,
        readonly: bool = False,
        action: str = "",
    ) -> str: ...

    def stop_containers(self, names: Sequence[str]) -> None: ...

    def start_containers(self, names: Sequence[str]) -> None: ...


class Compose(Protocol):
    """Compose itself: the config hashes of a project's services, and `compose up`."""

    def config_hashes(self, project: ComposeProject) -> dict[str, str]: ...

    def compose_up(self, project: ComposeProject, services: Sequence[str] | None = None) -> str: ...


class Swarm(Protocol):
    """What Compose's apply asks of Swarm (a stack of the project's name), and what `clockwork
    ps` and `logs` read of a stack (Swarm's apply and destroy run ``docker stack``/``docker
    service`` through ``run``)."""

    def swarm_stack(self, stack: str) -> SwarmStack: ...

    def swarm_services(self, stack: str) -> list[SwarmService]: ...

    def service_logs(self, services: Mapping[str, str], options: LogOptions) -> Iterator[LogLine]: ...


class Engine(Containers, Storage, Compose, Swarm, Snapshots, Protocol):
    """Everything Compose's apply and destroy ask of the engine. ``DOCKER`` is the real one
    (this module's functions); a unit test passes a fake (tests/fakes.py) instead, and a
    function that needs less takes the small interface it needs (``Containers``...)."""


def _start_engine_check() -> Callable[[], EngineInfo]:
    return EngineCheck().result


class DockerEngine:
    """The real engine: each method is this module's function of the same name."""

    start_engine_check = staticmethod(_start_engine_check)
    engine_info = staticmethod(engine_info)
    containers = staticmethod(containers)
    project_containers = staticmethod(project_containers)
    containers_named = staticmethod(containers_named)
    container_list = staticmethod(container_list)
    inspect_containers = staticmethod(inspect_containers)
    container = staticmethod(container)
    config_hashes = staticmethod(config_hashes)
    image_ids = staticmethod(image_ids)
    compose_up = staticmethod(compose_up)
    logs = staticmethod(logs)
    container_logs = staticmethod(container_logs)
    last_exit = staticmethod(last_exit)
    exec_in = staticmethod(exec_in)
    ensure_network = staticmethod(ensure_network)
    networks = staticmethod(networks)
    remove_network_if_unused = staticmethod(remove_network_if_unused)
    volumes = staticmethod(volumes)
    create_volume = staticmethod(create_volume)
    swarm_stack = staticmethod(swarm_stack)
    swarm_services = staticmethod(swarm_services)
    service_logs = staticmethod(service_logs)
    remove_volumes = staticmethod(remove_volumes)
    remove_containers = staticmethod(remove_containers)
    clockwork_volumes = staticmethod(clockwork_volumes)
    volume_usage = staticmethod(volume_usage)
    copy_volume = staticmethod(copy_volume)
    containers_using = staticmethod(containers_using)
    run_with_volume = staticmethod(run_with_volume)
    stop_containers = staticmethod(stop_containers)
    start_containers = staticmethod(start_containers)


#: The engine apply, assert and destroy use unless they are given another.
DOCKER: Engine = DockerEngine()
