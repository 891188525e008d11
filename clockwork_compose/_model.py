"""The target-neutral model: services, their dependencies, mounts and probes, as plain data.

``_lower`` builds it from declarations; a target (``_targets.compose``, ``_targets.swarm``)
prints it. Nothing here holds Compose syntax: probes are typed checks, restart is a policy,
mounts are project-relative, a migrator's driver, plan and digest are fields; so a new
target needs no change to declarations or lowering.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
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


EnvValue = str | SecretRef


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
    container: int
    host: int | None = None
    host_ip: str | None = None
    protocol: str = "tcp"


@dataclass(frozen=True)
class Mount:
    kind: str  # "volume" or "bind"
    #: A volume name, or a path relative to the project folder ("./x", "." or "../x"): each
    #: target places it relative to the file it writes.
    source: str
    target: str
    read_only: bool = False


@dataclass(frozen=True)
class Build:
    context: str
    dockerfile: str | None = None
    args: tuple[tuple[str, str], ...] = ()
    target: str | None = None


@dataclass(frozen=True)
class CommandCheck:
    """Run a program (no shell): true when it exits 0."""

    argv: tuple[EnvValue, ...]


@dataclass(frozen=True)
class ShellCheck:
    """Run a POSIX sh script inside the container: true when it exits 0."""

    script: str


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
    check: Check
    interval: float
    timeout: float
    retries: int
    start_period: float = 0.0


@dataclass(frozen=True)
class Dependency:
    target: str
    condition: Condition
    reasons: tuple[str, ...] = ()


@dataclass
class Service:
    name: str
    role: Role = Role.APP
    description: str = ""
    engine: str | None = None
    image: str | None = None
    build: Build | None = None
    command: tuple[str, ...] | str | None = None
    entrypoint: tuple[str, ...] | str | None = None
    working_dir: str | None = None
    user: str | None = None
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
    labels: dict[str, str] = field(default_factory=dict)
    #: How many copies of an app run at once (targets that run one container ignore it).
    replicas: int = 1
    #: A migrator's job: its driver, plan and the digest of its files (None for the others).
    migrator: MigratorJob | None = None
    #: User-declared assertions as plain data: {"kind": "http_status", "url": ..., ...}.
    assertions: list[dict[str, object]] = field(default_factory=list)

    def wait_for(self, target: str, condition: Condition, reason: str) -> None:
        """Add a dependency edge, keeping the strongest condition and every reason."""
        current = self.depends_on.get(target)
        if current is None:
            self.depends_on[target] = Dependency(target, condition, (reason,))
            return
        strongest = max(current.condition, condition, key=lambda c: c.strength)
        reasons = current.reasons if reason in current.reasons else (*current.reasons, reason)
        self.depends_on[target] = Dependency(target, strongest, reasons)


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


@dataclass
class Project:
    name: str
    services: dict[str, Service]
    networks: list[str]
    volumes: list[str]
    databases: list[DatabaseTarget] = field(default_factory=list)
    #: What the project's .env must hold: variable -> how to compute it from secrets.
    env_file: dict[str, EnvEntry] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)

    def ordered(self) -> list[Service]:
        return [self.services[name] for name in sorted(self.services)]
