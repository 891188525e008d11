"""The one fake of each interface of the engine door, for unit tests: ``FakeContainers``
(``_docker.Containers``), ``FakeStorage`` (``_docker.Storage``: volumes and networks),
``FakeCompose`` and ``FakeSwarm``, and ``FakeEngine``, all four at once (``_docker.Engine``).

They keep state as an engine does (containers, volumes with their files, networks, stacks)
and record what was asked of them; tests say what is there and read what was done. Every
change (a removal, a volume created, a copy) counts: with ``stop_at`` the change of that
number is cut short (``Stop``): a copy half done, anything else not done at all."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from datetime import datetime

from clockwork_compose import _docker
from clockwork_compose._docker import (
    OWNER_LABEL,
    PROJECT_LABEL,
    ComposeProject,
    ContainerState,
    EngineInfo,
    Listed,
    LogLine,
    LogOptions,
    Network,
    SwarmService,
    SwarmStack,
    Volume,
    VolumeUsage,
)

#: The engine a fake is (``info=`` says another): one that runs files for the default
#: ``ProjectSettings(min_engine="25")``.
ENGINE_INFO = EngineInfo("26.1.4", "1.45", "2.26")


class Stop(KeyboardInterrupt):
    """A change cut short (``stop_at``), as a Ctrl-C or a crash in the middle of it."""


class _Changes:
    """The count of changes made, shared by the interfaces of one fake engine."""

    changes = 0
    stop_at: int | None = None

    def _change(self) -> bool:
        """Count a change; whether it is the one to cut short."""
        self.changes += 1
        return self.changes == self.stop_at


class FakeContainers(_Changes):
    """The containers on the engine (``running``: every one, whatever its status). Each look
    at their states (apply's inspection before it polls, then its polls of ``containers()``)
    sees the next of ``polls``, the last one staying (none given: ``running``); the look
    numbered ``interrupt_at`` is a Ctrl-C. ``log_text``: every container's logs (None: "last
    lines of NAME"); ``exit_events``: ``last_exit`` by id. ``log_lines``: what `clockwork
    logs` reads (``container_logs``), by source. ``info``: what the engine check says (its
    version)."""

    def __init__(
        self,
        running: Iterable[ContainerState] = (),
        *,
        polls: Sequence[dict[str, ContainerState]] | None = None,
        log_text: str | None = None,
        exit_events: Mapping[str, int] | None = None,
        interrupt_at: int | None = None,
        log_lines: Sequence[LogLine] = (),
        info: EngineInfo = ENGINE_INFO,
    ) -> None:
        self.info = info
        self.running = list(running)
        self.log_lines = list(log_lines)
        self.logs_asked: list[tuple[dict[str, str], LogOptions]] = []
        self.polls = polls
        self.log_text = log_text
        self.exit_events = dict(exit_events or {})
        self.interrupt_at = interrupt_at
        self.calls = 0
        #: `container_list` calls, and what each `inspect_containers` call was given.
        self.listings = 0
        self.inspected: list[list[str]] = []
        self.removed_groups: list[list[str]] = []
        self._lock = threading.Lock()

    def start_engine_check(self) -> Callable[[], EngineInfo]:
        return lambda: self.info

    def engine_info(self) -> EngineInfo:
        return self.info

    def containers(
        self, project_name: str, names: Sequence[str] | None = None, include_oneoff: bool = False
    ) -> dict[str, ContainerState]:
        if self.polls is None:
            return {c.name: c for c in self.running if c.project == project_name}
        return self._look()

    def _look(self) -> dict[str, ContainerState]:
        """The next of ``polls``: every look at the containers' states sees the next one."""
        with self._lock:
            assert self.polls is not None
            if self.calls == self.interrupt_at:
                self.calls += 1
                raise KeyboardInterrupt
            snapshot = self.polls[min(self.calls, len(self.polls) - 1)]
            self.calls += 1
            return snapshot

    def project_containers(self, project: str) -> list[ContainerState]:
        return [c for c in self.running if c.project == project]

    def containers_named(self, names: Sequence[str]) -> list[ContainerState]:
        return [c for c in self.running if c.name in names]

    def container_list(self) -> list[Listed]:
        self.listings += 1
        return [Listed(c.id, c.name, c.project) for c in self.running]

    def inspect_containers(self, ids: Sequence[str]) -> list[ContainerState]:
        self.inspected.append(list(ids))
        found = self.running if self.polls is None else [*self._look().values()]
        return [c for c in found if c.id in ids or c.name in ids]

    def container(self, name: str) -> ContainerState | None:
        return next((c for c in self.running if c.name == name), None)

    def image_ids(self, references: Iterable[str]) -> dict[str, str]:
        return {c.image: c.image_id for c in self.running}

    def logs(self, name: str, tail: int = 20, since: datetime | None = None) -> str:
        return self.log_text if self.log_text is not None else f"last lines of {name}"

    def container_logs(self, containers: Mapping[str, str], options: LogOptions) -> Iterator[LogLine]:
        self.logs_asked.append((dict(containers), options))
        return _log_stream(self.log_lines, containers, options)

    def last_exit(self, container: str, since: datetime | None = None) -> int | None:
        return self.exit_events.get(container)

    def exec_in(self, name: str, argv: Sequence[str], env: Mapping[str, str] | None = None) -> str:
        raise AssertionError(f"no client runs in a fake container: {name} {argv}")

    def remove_containers(self, groups: Sequence[Sequence[str]]) -> None:
        if self._change():
            raise Stop
        self.removed_groups += [list(g) for g in groups]
        names = {n for g in groups for n in g}
        self.running = [c for c in self.running if c.name not in names]


class FakeStorage(_Changes):
    """Volumes (``volumes``: each with its labels; ``files``: what each holds) and networks.
    The containers that mount a volume or use a network are the engine's (``running``)."""

    running: list[ContainerState]

    def __init__(
        self,
        volumes: Iterable[Volume] = (),
        files: Mapping[str, Mapping[str, str]] | None = None,
        networks: Iterable[Network] = (),
    ) -> None:
        if not hasattr(self, "running"):  # alone; in FakeEngine, FakeContainers' list
            self.running = []
        volumes = list(volumes)
        self.labels = {v.name: dict(v.labels) for v in volumes}
        self.files = {v.name: dict((files or {}).get(v.name, {})) for v in volumes}
        self.network_list = list(networks)
        self.removed_volumes: list[str] = []
        self.created_volumes: list[str] = []
        self.networks_freed: list[tuple[str, str]] = []

    def volumes(self, project: str) -> list[Volume]:
        return [Volume(n, dict(v)) for n, v in sorted(self.labels.items()) if v.get(PROJECT_LABEL) == project]

    def clockwork_volumes(self) -> list[Volume]:
        return [Volume(n, dict(v)) for n, v in sorted(self.labels.items()) if OWNER_LABEL in v]

    def containers_using(self, volume: str) -> list[ContainerState]:
        return [c for c in self.running if volume in dict(c.volumes).values()]

    def volume_usage(self, names: Sequence[str], images: Sequence[str]) -> dict[str, VolumeUsage]:
        out = {}
        for n in names:
            files = self.files.get(n)
            out[n] = VolumeUsage(n, files is not None, *((4 * len(files), len(files)) if files and images else ()))
        return out

    def create_volume(self, name: str, labels: dict[str, str]) -> None:
        if self._change():
            raise Stop
        self.created_volumes.append(name)
        if name not in self.labels:  # as the engine: an existing volume keeps its labels
            self.labels[name], self.files[name] = dict(labels), {}

    def remove_volumes(self, names: Sequence[str]) -> None:
        if self._change():
            raise Stop
        for name in names:
            assert not self.containers_using(name), f"{name} is in use"
            self.labels.pop(name, None)
            self.files.pop(name, None)
        self.removed_volumes += names

    def copy_volume(self, source: str, target: str, images: Sequence[str]) -> int:
        assert source in self.files and target in self.files, "a mount would create a missing volume"
        assert images, "nothing to copy with"
        self.running = [c for c in self.running if c.name != f"clockwork-copy-{target}"]  # as the real one does
        assert not [c for c in self.containers_using(source) if c.status == "running"], "copying data that changes"
        self.files[target] = {}
        items = sorted(self.files[source].items())
        if self._change():
            self.files[target] = dict(items[: len(items) // 2])
            raise Stop
        self.files[target] = dict(items)
        return 4 * len(items)

    def networks(self, name: str | None = None, project: str | None = None) -> list[Network]:
        return [
            n
            for n in self.network_list
            if (name is None or n.name == name) and (project is None or n.labels.get(PROJECT_LABEL) == project)
        ]

    def ensure_network(self, name: str) -> Network:
        found = self.networks(name)
        if found:
            return found[0]
        made = Network(f"id-{name}", name, {}, ())
        self.network_list.append(made)
        return made

    def remove_network_if_unused(self, name: str, project: str) -> tuple[str, ...]:
        self.networks_freed.append((name, project))
        if any(name in c.networks for c in self.running):
            return ()
        self.network_list = [n for n in self.network_list if n.name != name]
        return (name,)


class FakeCompose:
    """Compose: the services' config hashes (None: those of the running containers, so that
    nothing changed), and `compose up`, which takes ``up_seconds`` and ends with ``up_error``."""

    running: list[ContainerState]

    def __init__(
        self, hashes: dict[str, str] | None = None, up_error: Exception | None = None, up_seconds: float = 0.0
    ) -> None:
        if not hasattr(self, "running"):
            self.running = []
        self.hashes = hashes
        self.up_error = up_error
        self.up_seconds = up_seconds
        self.ups = 0
        self.up_services: Sequence[str] | None = None

    def config_hashes(self, project: ComposeProject) -> dict[str, str]:
        return self.hashes if self.hashes is not None else {c.name: c.config_hash for c in self.running}

    def compose_up(self, project: ComposeProject, services: Sequence[str] | None = None) -> str:
        self.ups += 1
        self.up_services = services
        time.sleep(self.up_seconds)
        if self.up_error:
            raise self.up_error
        return ""


def _log_stream(lines: Sequence[LogLine], sources: Mapping[str, str], options: LogOptions) -> Iterator[LogLine]:
    """The lines of ``sources``, the last ``options.tail`` of each; a follow ends with Ctrl-C,
    as only a user ends one."""
    for source in sources:
        mine = [line for line in lines if line.source == source]
        yield from mine[len(mine) - options.tail :] if options.tail is not None else mine
    if options.follow:
        raise KeyboardInterrupt


class FakeSwarm:
    """Swarm stacks: ``stacks`` maps a stack's name to what it has (none: no stack);
    ``services``, a stack's name to its services and their tasks (`clockwork ps`), and
    ``log_lines`` what `clockwork logs` reads of them (``service_logs``), by source."""

    def __init__(
        self,
        stacks: Mapping[str, SwarmStack] | None = None,
        services: Mapping[str, Sequence[SwarmService]] | None = None,
        log_lines: Sequence[LogLine] = (),
    ) -> None:
        self.stacks = dict(stacks or {})
        self.services = {name: list(found) for name, found in (services or {}).items()}
        self.service_log_lines = list(log_lines)
        self.service_logs_asked: list[tuple[dict[str, str], LogOptions]] = []

    def swarm_stack(self, stack: str) -> SwarmStack:
        return self.stacks.get(stack, SwarmStack({}))

    def swarm_services(self, stack: str) -> list[SwarmService]:
        return sorted(self.services.get(stack, []), key=lambda s: s.name)

    def service_logs(self, services: Mapping[str, str], options: LogOptions) -> Iterator[LogLine]:
        self.service_logs_asked.append((dict(services), options))
        return _log_stream(self.service_log_lines, services, options)


class FakeEngine(FakeContainers, FakeStorage, FakeCompose, FakeSwarm):
    """All four interfaces on one engine state: what apply and destroy are given. The
    keyword arguments are those of each fake above."""

    def __init__(
        self,
        running: Iterable[ContainerState] = (),
        *,
        polls: Sequence[dict[str, ContainerState]] | None = None,
        log_text: str | None = None,
        exit_events: Mapping[str, int] | None = None,
        interrupt_at: int | None = None,
        volumes: Iterable[Volume] = (),
        files: Mapping[str, Mapping[str, str]] | None = None,
        networks: Iterable[Network] = (),
        hashes: dict[str, str] | None = None,
        up_error: Exception | None = None,
        up_seconds: float = 0.0,
        stacks: Mapping[str, SwarmStack] | None = None,
        services: Mapping[str, Sequence[SwarmService]] | None = None,
        log_lines: Sequence[LogLine] = (),
        info: EngineInfo = ENGINE_INFO,
    ) -> None:
        FakeContainers.__init__(
            self,
            running,
            polls=polls,
            log_text=log_text,
            exit_events=exit_events,
            interrupt_at=interrupt_at,
            log_lines=log_lines,
            info=info,
        )
        FakeStorage.__init__(self, volumes, files, networks)
        FakeCompose.__init__(self, hashes, up_error, up_seconds)
        FakeSwarm.__init__(self, stacks, services, log_lines)


def _conforms() -> None:
    """Type-checked only: each fake is the interface it stands in for."""
    _containers: _docker.Containers = FakeContainers()
    _storage: _docker.Storage = FakeStorage()
    _compose: _docker.Compose = FakeCompose()
    _swarm: _docker.Swarm = FakeSwarm()
    _engine: _docker.Engine = FakeEngine()
