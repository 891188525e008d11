"""The target-neutral model: services, their dependencies, mounts and probes, as plain data.

``_lower`` builds it from declarations; a target (``_targets.compose``, ``_targets.swarm``)
prints it. Nothing here holds Compose syntax: probes are typed checks, restart is a policy,
mounts are project-relative, a migrator's driver, plan and digest are fields; so a new
target needs no change to declarations or lowering.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import TYPE_CHECKING
from urllib.parse import quote

if TYPE_CHECKING:
    from ._migrations import Plan


class Condition(enum.Enum):
    """What a service waits for in a dependency, weakest first."""

    STARTED = "started"
    HEALTHY = "healthy"
    COMPLETED = "completed successfully"

    @property
    def strength(self) -> int:
        return list(Condition).index(self)


#: The label every target writes on a service: the role it plays (a ``Role``'s value).
ROLE_LABEL = "dev.clockwork.role"
#: The label under which targets write a migrator's digest (``MigratorJob.digest``): a new
#: or edited file changes the generated file (``build --check`` tells), and with it the
#: migrator's definition, so the next ``clockwork apply`` runs it.
MIGRATIONS_LABEL = "dev.clockwork.migrations"


class Role(enum.Enum):
    APP = "app"
    DATABASE = "database"
    MIGRATOR = "migrator"


@dataclass(frozen=True)
class SecretRef:
    """An environment value that lives in the project's .env under ``variable``, never in the file."""

    variable: str


@dataclass(frozen=True)
class Var:
    """One variable Compose interpolates where the stack runs: ``${name}``, ``${name:-default}``
    or, keeping an empty value, ``${name-default}``."""

    name: str
    default: str | None = None
    required: bool = False
    keep_empty: bool = False


@dataclass(frozen=True)
class Interpolation:
    """Text Compose completes where the stack runs: literal parts and variables, in order."""

    parts: tuple[str | Var, ...]


EnvValue = str | SecretRef | Interpolation
#: A variable passed as it is where Compose runs (Compose's bare ``KEY``): nothing to complete.
PASSED = Interpolation(())

#: Seconds an interpolated duration counts for when its default does not say (``seconds``).
UNKNOWN_DURATION = 60.0


def seconds(value: float | Interpolation) -> float:
    """A number, or an interpolated Compose duration ("30s", "1m30s") read from its
    default: what it is where the variable is not set (else ``UNKNOWN_DURATION``)."""
    if not isinstance(value, Interpolation):
        return value
    import re

    text = "".join(p if isinstance(p, str) else p.default or "" for p in value.parts)
    if text.isdigit():
        return float(text)
    units = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 0.001, "us": 1e-6, "ns": 1e-9}
    parts = re.findall(r"(\d+(?:\.\d+)?)(h|ms|us|ns|m|s)", text)
    if not parts or "".join(n + u for n, u in parts) != text:
        return UNKNOWN_DURATION
    return sum(float(n) * units[u] for n, u in parts)


@dataclass(frozen=True)
class SecretPart:
    """A secret's value inside a derived .env entry, percent-encoded when it sits in a URL."""

    name: str
    url_encoded: bool = False


@dataclass(frozen=True)
class EnvEntry:
    """How to compute one .env variable: literal text and secret values, concatenated."""

    parts: tuple[str | SecretPart, ...]

    @property
    def secret_names(self) -> tuple[str, ...]:
        return tuple(sorted({p.name for p in self.parts if isinstance(p, SecretPart)}))

    def resolve(self, values: Mapping[str, str]) -> str | None:
        """The value, or None when a secret it needs has no value."""
        out = []
        for part in self.parts:
            if isinstance(part, str):
                out.append(part)
            elif part.name not in values:
                return None
            else:
                value = values[part.name]
                out.append(quote(value, safe="") if part.url_encoded else value)
        return "".join(out)


@dataclass(frozen=True)
class Port:
    """A published or exposed port: ``container``, and where the host reaches it."""

    container: int
    host: int | None = None
    host_ip: str | None = None
    protocol: str = "tcp"
    #: "host" (the node's own port) or "ingress" (Swarm's routing mesh); None: the target's default.
    mode: str | None = None
    #: A published port that is not one number: a range ("8000-8010") or an interpolation.
    published: str | Interpolation | None = None
    #: The whole host part, completed where the stack runs (a port, or an address and a
    #: port): written in Compose's short syntax.
    host_text: Interpolation | None = None


@dataclass(frozen=True)
class Mount:
    """A volume, bind mount or tmpfs in a service's container."""

    kind: str  # "volume", "bind" or "tmpfs"
    #: A volume name ("" for an anonymous volume, and for tmpfs), or a path relative to the
    #: project folder ("./x", "." or "../x"): each target places it relative to the file it writes.
    source: str
    target: str
    read_only: bool = False
    #: A bind mount's host path that Compose interpolates where it runs (``source`` is its text).
    source_text: Interpolation | None = None
    #: A bind mount's SELinux relabelling: "z" (shared), "Z" (private) or None.
    selinux: str | None = None


@dataclass(frozen=True)
class NamedVolume:
    """A volume the project declares (``Volume``); ``engine_name`` None: the target's default."""

    name: str
    external: bool = False
    engine_name: str | None = None
    driver: str | None = None
    driver_opts: tuple[tuple[str, str], ...] = ()
    labels: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class Ipam:
    """A network's address pool (``ipam:``)."""

    subnet: str
    gateway: str | None = None
    ip_range: str | None = None
    driver: str | None = None


@dataclass(frozen=True)
class NamedNetwork:
    """A network the project declares (``Network``), or one named by a string (``fixed``:
    the engine's name is the key itself, as clockwork always wrote it)."""

    name: str
    fixed: bool = True
    external: bool = False
    engine_name: str | None = None
    driver: str | None = None
    driver_opts: tuple[tuple[str, str], ...] = ()
    internal: bool = False
    labels: tuple[tuple[str, str], ...] = ()
    ipam: Ipam | None = None


@dataclass(frozen=True)
class FileObject:
    """A file of the project handed to services: a secret (at /run/secrets/NAME) or a config (at /NAME)."""

    name: str
    #: Relative to the project folder ("./x").
    file: str
    #: A hash of the content: Swarm's and Kubernetes' copies are immutable, a new content a new copy.
    digest: str = ""


@dataclass(frozen=True)
class Resources:
    """A service's limits: CPUs, memory and process count (None: none)."""

    cpus: float | None = None
    #: Bytes, or a size as Docker reads it ("512m").
    memory: str | None = None
    pids: int | None = None


@dataclass(frozen=True)
class WatchRule:
    """What to do when a project file under ``path`` changes (Compose's ``develop.watch``):
    ``action`` "sync", "sync+restart" or "rebuild"; ``path`` relative to the project folder;
    ``target`` the container path of a sync ("" for a rebuild)."""

    action: str
    path: str
    target: str = ""
    ignore: tuple[str, ...] = ()


@dataclass(frozen=True)
class Options:
    """The Compose service fields beyond what every target models, with Compose's meaning.
    Each target emits those it can and refuses the others (``set_fields`` names them)."""

    expose: tuple[str, ...] = ()
    env_file: tuple[str, ...] = ()
    profiles: tuple[str, ...] = ()
    stop_signal: str | None = None
    stop_grace_period: float | None = None
    cap_add: tuple[str, ...] = ()
    cap_drop: tuple[str, ...] = ()
    sysctls: tuple[tuple[str, str], ...] = ()
    domainname: str | None = None
    platform: str | None = None
    runtime: str | None = None
    network_mode: str | None = None
    init: bool = False
    ulimits: tuple[tuple[str, int, int], ...] = ()
    read_only: bool = False
    security_opt: tuple[str, ...] = ()
    pids_limit: int | None = None
    shm_size: str | None = None
    pull_policy: str | None = None
    extra_hosts: tuple[tuple[str, str], ...] = ()
    devices: tuple[str, ...] = ()
    dns: tuple[str, ...] = ()
    privileged: bool = False
    tty: bool = False
    stdin_open: bool = False
    logging_driver: str | None = None
    logging_options: tuple[tuple[str, str], ...] = ()
    limits: Resources | None = None
    reservations: Resources | None = None
    secrets: tuple[str, ...] = ()
    configs: tuple[str, ...] = ()
    #: network -> the other names the service answers to there.
    aliases: tuple[tuple[str, tuple[str, ...]], ...] = ()
    #: network -> the service's fixed IPv4 address there.
    ipv4_addresses: tuple[tuple[str, str], ...] = ()
    #: The escape hatch: Compose service keys as the user gave them (strings literal,
    #: ``Interpolation`` where interpolated).
    raw: tuple[tuple[str, object], ...] = ()
    #: What `clockwork dev` does when a project file changes, in the order declared.
    watch: tuple[WatchRule, ...] = ()

    def set_fields(self) -> list[str]:
        """The names of the fields set (not at their default), in declaration order."""
        return [f.name for f in fields(self) if getattr(self, f.name) != f.default]


@dataclass(frozen=True)
class Build:
    """How to build a service's image: its context folder, Dockerfile, build args and stage."""

    context: str
    dockerfile: str | None = None
    args: tuple[tuple[str, str | Interpolation], ...] = ()
    target: str | None = None


@dataclass(frozen=True)
class CommandCheck:
    """Run a program (no shell): true when it exits 0."""

    argv: tuple[EnvValue, ...]


@dataclass(frozen=True)
class ShellCheck:
    """Run a POSIX sh script inside the container: true when it exits 0 (an Interpolation:
    Compose completes it where the stack runs)."""

    script: str | Interpolation


@dataclass(frozen=True)
class HttpCheck:
    """GET ``path`` on the container's own ``port``: true when the answer has ``status``."""

    port: int
    path: str
    status: int = 200


@dataclass(frozen=True)
class TcpCheck:
    """Connect to the container's own ``port``: true when it accepts."""

    port: int


Check = CommandCheck | ShellCheck | HttpCheck | TcpCheck


class Restart(enum.StrEnum):
    """What the engine does when a container exits (Docker's restart policies)."""

    NO = "no"
    ALWAYS = "always"
    ON_FAILURE = "on-failure"
    UNLESS_STOPPED = "unless-stopped"


@dataclass(frozen=True)
class Healthcheck:
    """A check and its timing. While the service starts, the check runs every ``interval``:
    failures in ``start_period`` do not count, then ``retries`` of them in a row make it
    unhealthy, so ``start_period`` + ``retries`` x ``interval`` is how long it may take to be
    ready (``start_budget``). Once ready, it runs every ``rest_interval`` (None: every
    ``interval`` still, as a hand-written Docker healthcheck does) and ``REST_RETRIES``
    failures in a row make it unhealthy."""

    check: Check
    #: Seconds; an Interpolation (a HealthCheck's ``Env``) is a duration Compose reads where it runs.
    interval: float | Interpolation
    timeout: float | Interpolation
    retries: int | Interpolation
    start_period: float | Interpolation = 0.0
    rest_interval: float | None = None

    @property
    def start_budget(self) -> float:
        """Seconds the service may take to be ready: what apply waits for."""
        return seconds(self.start_period) + seconds(self.retries) * seconds(self.interval)

    @property
    def starting_for_at_most(self) -> float | None:
        """Seconds after which a service this check still calls starting is unhealthy: its
        start budget and one more check. None unless it rests once ready with its timing
        known here: a check that rests has a start period as long as its budget, so Docker
        says "unhealthy" only REST_RETRIES checks at rest later (180 s at the default 90 s),
        and apply says it itself."""
        timing = (self.interval, self.timeout, self.retries, self.start_period)
        if self.rest_interval is None or any(isinstance(v, Interpolation) for v in timing):
            return None
        return self.start_budget + seconds(self.interval) + seconds(self.timeout)


#: Failures in a row that make a ready service unhealthy, once it is checked every
#: ``rest_interval``: within 180 s at the default 90 s. Two, not Compose's three: one
#: failed check is still forgiven, and the checks run every 90 s instead of every 60 s for
#: the same 180 s (README, Healthcheck timing).
REST_RETRIES = 2
#: The first Docker Engine that reads a healthcheck's ``start_interval`` (API 1.44): the
#: one a healthcheck that rests once ready needs.
REST_ENGINE = (25,)
REST_API = (1, 44)


def version_text(numbers: tuple[int, ...]) -> str:
    """An engine version as people write it: ``(20, 10)`` -> ``20.10``."""
    return ".".join(str(n) for n in numbers)


@dataclass(frozen=True)
class Dependency:
    """What a service waits for before it starts: ``target`` reaching ``condition``, and why."""

    target: str
    condition: Condition
    reasons: tuple[str, ...] = ()
    #: Compose restarts the dependent service after it restarts the target.
    restart: bool = False


@dataclass
class Service:
    """One container the target runs (an app, a database, or a generated migrator), target-neutral."""

    name: str
    role: Role = Role.APP
    description: str = ""
    engine: str | None = None
    #: The image; when it is interpolated (``image_text``), as it reads with the defaults.
    image: str | None = None
    image_text: Interpolation | None = None
    build: Build | None = None
    command: tuple[str | Interpolation, ...] | str | Interpolation | None = None
    entrypoint: tuple[str, ...] | str | None = None
    working_dir: str | None = None
    user: str | Interpolation | None = None
    #: A hostname that stays when the container is recreated (an engine keys its data by it).
    hostname: str | None = None
    environment: dict[str, EnvValue] = field(default_factory=dict)
    ports: list[Port] = field(default_factory=list)
    mounts: list[Mount] = field(default_factory=list)
    #: Container paths backed by memory: nothing written there outlives the container.
    tmpfs: list[str] = field(default_factory=list)
    networks: list[str] = field(default_factory=list)
    depends_on: dict[str, Dependency] = field(default_factory=dict)
    healthcheck: Healthcheck | None = None
    restart: Restart = Restart.UNLESS_STOPPED
    labels: dict[str, str | Interpolation] = field(default_factory=dict)
    #: How many copies of an app run at once (targets that run one container ignore it).
    replicas: int = 1
    #: A migrator's job: its driver, plan and the digest of its files (None for the others).
    migrator: MigratorJob | None = None
    #: User-declared assertions as plain data: {"kind": "http_status", "url": ..., ...}.
    assertions: list[dict[str, object]] = field(default_factory=list)
    #: The container's name when the file sets it: the service's own (clockwork's default),
    #: or None for Compose's naming (``container``).
    container_name: str | None = None
    #: The container's name as the engine shows it (``<project>-<service>-1`` under Compose's naming).
    container: str = ""
    options: Options = field(default_factory=Options)

    def __post_init__(self) -> None:
        self.container = self.container or self.container_name or self.name

    def wait_for(self, target: str, condition: Condition, reason: str, *, restart: bool = False) -> None:
        """Add a dependency edge, keeping the strongest condition, every reason, and a restart."""
        current = self.depends_on.get(target)
        if current is None:
            self.depends_on[target] = Dependency(target, condition, (reason,), restart)
            return
        strongest = max(current.condition, condition, key=lambda c: c.strength)
        reasons = current.reasons if reason in current.reasons else (*current.reasons, reason)
        self.depends_on[target] = Dependency(target, strongest, reasons, current.restart or restart)


@dataclass(frozen=True)
class MigratorJob:
    """What a migrator runs, as data (its service's entrypoint runs the driver script as
    ``/bin/sh -c <driver> clockwork-migrate <plan arguments>``): the plan, the files it reads
    (project-relative source -> container path) and the digest of those files, which
    changes whenever a schema or migration file does."""

    database: str
    plan: Plan
    digest: str
    files: tuple[Mount, ...] = ()


@dataclass(frozen=True)
class Migrations:
    """What a migrator applies: paths relative to the project folder."""

    database: str
    schema_file: str | None
    migrations_dir: str | None
    #: The record names the migrator writes for the migrations folder, in plan order.
    migration_files: tuple[str, ...]
    #: What the migrator runs, decided at build time (a ``_migrations.Plan``).
    plan: Plan | None = None


@dataclass(frozen=True)
class DatabaseTarget:
    """A database a consumer reaches, as ``clockwork assert`` checks it from the host."""

    consumer: str
    service: str
    engine: str
    env_var: str
    user: EnvValue
    password: EnvValue
    database: EnvValue
    container_port: int
    host_port: int | None
    migrations: Migrations | None
    #: Dump the database before its migrator applies pending files (``snapshot=True``).
    snapshot: bool = False


@dataclass
class Project:
    """What ``lower`` makes of main.py: the services, their volumes, networks and databases."""

    name: str
    services: dict[str, Service]
    networks: list[str]
    volumes: list[str]
    databases: list[DatabaseTarget] = field(default_factory=list)
    #: What the project's .env must hold: variable -> how to compute it from secrets.
    env_file: dict[str, EnvEntry] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    #: Declared volumes and networks by name (others are plain named volumes, fixed networks).
    volume_specs: dict[str, NamedVolume] = field(default_factory=dict)
    network_specs: dict[str, NamedNetwork] = field(default_factory=dict)
    secrets: dict[str, FileObject] = field(default_factory=dict)
    configs: dict[str, FileObject] = field(default_factory=dict)
    #: False: no network joins every service (``ProjectSettings(shared_network=False)``).
    shared_network: bool = True
    #: Containers named after their services (False: the target's own naming).
    fixed_names: bool = True
    #: The oldest Docker Engine the files must run on (``ProjectSettings(min_engine=...)``).
    min_engine: tuple[int, ...] = REST_ENGINE

    def ordered(self) -> list[Service]:
        return [self.services[name] for name in sorted(self.services)]

    @property
    def rests(self) -> bool:
        """Whether the file's healthchecks slow down once their service is ready: the engines
        it targets (``ProjectSettings(min_engine=...)``) read ``start_interval``."""
        return self.min_engine >= REST_ENGINE

    def resting(self) -> list[Service]:
        """The services whose healthcheck the file writes to slow down once ready (what needs
        ``REST_ENGINE``)."""
        return self._would_rest() if self.rests else []

    def never_resting(self) -> list[Service]:
        """The services whose healthcheck would slow down once ready on ``REST_ENGINE`` and which
        the file, for an older engine, checks every ``interval`` for as long as they run."""
        return [] if self.rests else self._would_rest()

    def _would_rest(self) -> list[Service]:
        return [s for s in self.ordered() if s.healthcheck is not None and s.healthcheck.rest_interval is not None]

    def running(self, profiles: str) -> Project:
        """The project as ``docker compose up`` runs it with ``COMPOSE_PROFILES=profiles``:
        without the services none of whose profiles is active (``*``: all are)."""
        active = {p.strip() for p in profiles.split(",") if p.strip()}
        off = {
            n
            for n, s in self.services.items()
            if s.options.profiles and "*" not in active and not active & set(s.options.profiles)
        }
        if not off:
            return self
        import dataclasses

        services = {n: s for n, s in self.services.items() if n not in off}
        databases = [d for d in self.databases if d.consumer not in off and d.service not in off]
        return dataclasses.replace(self, services=services, databases=databases)

    def volume_name(self, key: str) -> str:
        """The engine's name of the project's volume ``key`` (Compose's rule: its ``name``, an
        external volume's key, else ``<project>_<key>``)."""
        spec = self.volume_specs.get(key)
        if spec is not None and spec.engine_name:
            return spec.engine_name
        if spec is not None and spec.external:
            return key
        return f"{self.name}_{key}"
