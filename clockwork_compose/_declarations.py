"""What users write in main.py: pydantic models that validate and hold declarations.

Nothing here knows about Compose. ``_lower`` turns these into the target-neutral model.
Every resource created while ``collecting()`` is active is recorded, so main.py needs no
registration call: declaring a resource is enough.
"""

from __future__ import annotations

import contextlib
import re
import warnings
from collections.abc import Iterator
from typing import Annotated, Any, ClassVar, Literal, Union

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from ._errors import DeclarationError

_collectors: list[list[DockerResource]] = []


class Declared(list["DockerResource"]):
    """The resources main.py declared, in creation order, and its ProjectSettings (if any)."""

    settings: Any = None


@contextlib.contextmanager
def collecting() -> Iterator[list[DockerResource]]:
    """Record every DockerResource constructed inside the block, in creation order (and the
    ProjectSettings, as ``.settings``)."""
    found: list[DockerResource] = Declared()
    _collectors.append(found)
    try:
        yield found
    finally:
        # By identity, not the last one: a main.py that timed out may still be running.
        _collectors[:] = [c for c in _collectors if c is not found]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True, arbitrary_types_allowed=True)

    #: How the kind of object is named in error messages.
    _kind: ClassVar[str] = "declaration"

    def __init__(self, **data: Any) -> None:
        try:
            super().__init__(**data)
        except ValidationError as exc:
            raise _declaration_error(self._kind, data.get("name"), exc, type(self)) from None


def _declaration_error(kind: str, name: object, exc: ValidationError, model: type[BaseModel]) -> DeclarationError:
    """Turn pydantic's report into one line: resource, field, problem and fix."""
    error = exc.errors(include_url=False)[0]
    field = ".".join(str(part) for part in _user_loc(error["loc"])) or None
    resource = name if isinstance(name, str) and name else f"<unnamed {kind}>"
    kind_of_error = error["type"]
    if kind_of_error == "extra_forbidden":
        wrong = str(error["loc"][-1])
        known = sorted(model.model_fields)
        import difflib  # only on this error path: keeps it off the start-up path

        close = difflib.get_close_matches(wrong, known, n=1)
        fix = f"did you mean {close[0]!r}?" if close else f"known fields: {', '.join(known)}"
        return DeclarationError(resource, wrong, f"unknown field for {kind}", fix)
    if kind_of_error == "missing":
        return DeclarationError(resource, field, "is required", f"pass {field}=... to {kind}")
    problem = error["msg"][0].lower() + error["msg"][1:]
    got = error.get("input")
    if kind_of_error != "clockwork" and not isinstance(got, dict | BaseModel):
        problem = f"{problem} (got {got!r})"
    return DeclarationError(resource, field, problem, _fix_for(error))


#: Names pydantic adds to an error's location to say which member of a union failed.
_UNION_TAGS = frozenset(
    {"str", "int", "list[str]", "Secret", "BuildSpec", "HealthCheck", "DockerResource", "DatabaseConnection"}
    | {"ContainerRunning", "HttpStatus", "TcpPort", "DatabaseQuery", "none"}
    | {"HttpProbe", "TcpProbe", "CommandProbe"}
    | {"Env", "EnvText", "Port", "Mount", "Volume", "Network", "float", "tuple[int, int]"}
    | {"constrained-float", "constrained-int"}
    | {"Sync", "SyncRestart", "Rebuild"}
)
_MAPPINGS = frozenset(
    {"env_vars", "labels", "args", "sysctls", "ulimits", "extra_hosts", "compose", "network_aliases", "ipv4_addresses"}
)


def _user_loc(loc: tuple[int | str, ...]) -> list[int | str]:
    """The location as the user wrote it: ``env_vars.N``, not pydantic's ``env_vars.N.str``."""
    return [part for i, part in enumerate(loc) if not (i and part in _UNION_TAGS and loc[i - 1] not in _MAPPINGS)]


def _fix_for(error: Any) -> str:
    ctx = error.get("ctx") or {}
    if "fix" in ctx:
        return str(ctx["fix"])
    expected = error["type"]
    if expected.startswith("string"):
        return 'write it as a string in quotes, e.g. "8080"'
    if expected.startswith(("int", "float", "greater", "less")):
        return "give a positive number"
    if expected.startswith(("list", "tuple")):
        return 'give a list, e.g. ["a", "b"]'
    if expected.startswith("dict"):
        return 'give a mapping, e.g. {"KEY": "value"}'
    if expected.startswith("bool"):
        return "give True or False"
    return "see the README's API section"


def _invalid(message: str, fix: str) -> ValueError:
    """A validator error that carries its fix through pydantic (rendered by _fix_for)."""
    from pydantic_core import PydanticCustomError

    return PydanticCustomError("clockwork", message, {"fix": fix})


class Secret(BaseModel):
    """A value read from the environment (or the project's .env), never written in clear.

    ``Secret("DB_PASSWORD")`` may stand wherever a string can.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str

    def __init__(self, name: str, /, **data: Any) -> None:
        try:
            super().__init__(name=name, **data)
        except ValidationError as exc:
            raise _declaration_error("Secret", name, exc, Secret) from None

    @field_validator("name")
    @classmethod
    def _env_name(cls, value: str) -> str:
        if not re.fullmatch(r"[A-Z_][A-Z0-9_]*", value):
            raise _invalid(
                f"{value!r} is not an environment variable name",
                'use upper case letters, digits and underscores, e.g. Secret("DB_PASSWORD")',
            )
        return value

    def __repr__(self) -> str:
        return f"Secret({self.name!r})"


#: Image references as Docker parses them: [registry[:port]/]path[:tag][@digest].
_IMAGE = re.compile(
    r"(?:(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)*"
    r"|\[[0-9a-fA-F:]+\])(?::[0-9]+)?/)?"
    r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*"
    r"(?::[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?"
    r"(?:@[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,})?"
)
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_.-]*")
_LABEL = re.compile(r"[A-Za-z0-9][A-Za-z0-9._/-]*")
#: Labels clockwork writes itself (role, description, migrations, ownership): not for users.
RESERVED_LABELS = "dev.clockwork."
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def _check_env_name(key: str) -> None:
    if not _ENV_NAME.fullmatch(key):
        raise _invalid(
            f"{key!r} is not an environment variable name",
            'use letters, digits and "_" (not starting with a digit), e.g. "DATABASE_URL"',
        )


Text = Union[str, Secret]  # noqa: UP007 (pydantic needs the runtime union here)


class BuildSpec(_Model):
    """How to build an image: a context folder, optionally a Dockerfile, args and target."""

    _kind: ClassVar[str] = "build"

    context: str = "."
    dockerfile: str | None = None
    #: None: Compose's bare ``KEY``, the value of that variable where Compose builds.
    args: dict[str, str | Env | EnvText | None] = {}
    target: str | None = None


#: Seconds between healthchecks once a service is ready, unless ``ProjectSettings(health_interval=)``
#: or a probe's ``rest_interval`` says otherwise. Each check is a process the engine starts
#: in the container, tens of ms of CPU each with runc, so at rest they cost a third of what
#: they cost at Compose's 30 s (README, Performance); with ``_model.REST_RETRIES`` (2), a
#: service that fails once ready is still unhealthy within 180 s.
HEALTH_INTERVAL = 90.0
#: What ``rest_interval`` means, on a probe and on HealthCheck.
REST_INTERVAL = (
    "seconds between attempts once the service is ready (needs Docker Engine 25+); "
    f"None: ProjectSettings(health_interval=...), {HEALTH_INTERVAL:g} by default"
)


class HealthCheck(_Model):
    """A readiness probe; ``test`` in Compose's forms (a list starting CMD or CMD-SHELL, or a
    shell string). Its words may hold ``Env``, which Compose completes where the stack runs."""

    _kind: ClassVar[str] = "healthcheck"

    test: list[str | Env | EnvText] | str | EnvText
    #: Seconds, or an ``Env`` holding a Compose duration ("30s"), resolved where the stack runs.
    #: Left out, the timing is clockwork's (as for a probe): every second while the service
    #: starts, for up to ``retries`` x ``interval`` after ``start_period``, then every
    #: ``rest_interval``. Set any of ``interval``, ``retries`` or ``start_period`` and the
    #: healthcheck is Docker's, written as given (every ``interval``, for as long as it runs),
    #: unless ``rest_interval`` is set too.
    interval: Annotated[float, Field(gt=0)] | Env = Field(default=1.0, description="seconds")
    timeout: Annotated[float, Field(gt=0)] | Env = Field(default=3.0, description="seconds")
    retries: Annotated[int, Field(ge=1)] | Env = 30
    start_period: Annotated[float, Field(ge=0)] | Env = Field(default=0.0, description="seconds")
    rest_interval: float | None = Field(default=None, gt=0, description=REST_INTERVAL)

    @property
    def timed_by_hand(self) -> bool:
        """The user set its start timing, and not ``rest_interval``: Docker's healthcheck as written."""
        fields = self.model_fields_set
        return "rest_interval" not in fields and bool(fields & {"interval", "retries", "start_period"})


#: What an HTTP probe's path may hold: URL characters that need no quoting in a shell or
#: a Compose file (no quotes, spaces, backslashes or "$").
_URL_PATH = re.compile(r"/[A-Za-z0-9._~%!*+,;=:@?&/-]*")


class _Probe(_Model):
    """How a service says it is ready. While it starts, the probe runs every ``interval`` and
    the service may take ``start_period`` + ``retries`` x ``interval`` seconds to be ready (how
    long apply waits); once ready, it runs every ``rest_interval`` and two failures in a row
    make the service unhealthy."""

    _kind: ClassVar[str] = "readiness probe"

    interval: float = Field(default=1.0, gt=0, description="seconds between attempts while the service starts")
    timeout: float = Field(default=3.0, gt=0, description="seconds one attempt may take")
    retries: int = Field(default=60, ge=1, description="failed attempts while starting before unhealthy")
    start_period: float = Field(default=0.0, ge=0, description="seconds of failures that do not count")
    rest_interval: float | None = Field(default=None, gt=0, description=REST_INTERVAL)


class HttpProbe(_Probe):
    """Ready when ``GET http://127.0.0.1:PORT/PATH``, inside the container, answers ``status``.

    Runs the first of curl, wget (busybox's too) or python that the image has."""

    _kind: ClassVar[str] = "HttpProbe"

    path: str = "/"
    port: int | None = Field(default=None, ge=1, le=65535, description="defaults to the first container port")
    status: int = Field(default=200, ge=100, le=599)

    def __init__(self, path: str = "/", /, **data: Any) -> None:
        super().__init__(path=path, **data)

    @field_validator("path")
    @classmethod
    def _valid_path(cls, value: str) -> str:
        if not _URL_PATH.fullmatch(value):
            raise _invalid(
                f"{value!r} is not a URL path",
                'start with "/" and use URL characters only (percent-encode the rest), e.g. "/health"',
            )
        return value


class TcpProbe(_Probe):
    """Ready when something inside the container accepts TCP on ``port`` (127.0.0.1).

    Runs the first of bash, python or nc that the image has."""

    _kind: ClassVar[str] = "TcpProbe"

    port: int | None = Field(default=None, ge=1, le=65535, description="defaults to the first container port")

    def __init__(self, port: int | None = None, /, **data: Any) -> None:
        super().__init__(port=port, **data)


class CommandProbe(_Probe):
    """Ready when ``command`` exits 0 inside the container: a list runs as is (no shell), a
    string runs under ``/bin/sh -c``."""

    _kind: ClassVar[str] = "CommandProbe"

    command: list[str] | str

    def __init__(self, command: list[str] | str, /, **data: Any) -> None:
        super().__init__(command=command, **data)

    @field_validator("command")
    @classmethod
    def _not_empty(cls, value: list[str] | str) -> list[str] | str:
        if not (value.strip() if isinstance(value, str) else value and value[0].strip()):
            raise _invalid("the command is empty", 'give a program and its arguments, e.g. ["pg_isready"]')
        return value


Probe = Union[HttpProbe, TcpProbe, CommandProbe]  # noqa: UP007


class ContainerRunning(_Model):
    """Assert the resource's container is running (and healthy, when it has a healthcheck)."""

    _kind: ClassVar[str] = "assertion"
    kind: Literal["container_running"] = "container_running"


class HttpStatus(_Model):
    """Assert an HTTP GET of ``url`` (from the host) answers ``status``."""

    _kind: ClassVar[str] = "assertion"
    kind: Literal["http_status"] = "http_status"
    url: str
    status: int = 200


class TcpPort(_Model):
    """Assert ``host:port`` accepts TCP connections from the host."""

    _kind: ClassVar[str] = "assertion"
    kind: Literal["tcp_port"] = "tcp_port"
    port: int = Field(ge=1, le=65535)
    host: str = "127.0.0.1"


class DatabaseQuery(_Model):
    """Assert ``query`` succeeds on the resource's database, reached from the host."""

    _kind: ClassVar[str] = "assertion"
    kind: Literal["database_query"] = "database_query"
    query: str = "SELECT 1"
    url: str | None = Field(default=None, description="defaults to the resource's own database")


Assertion = Union[ContainerRunning, HttpStatus, TcpPort, DatabaseQuery]  # noqa: UP007

#: Compose fields checked as Compose checks them (``_fields.check_field``).
_COMPOSE_CHECKED = (
    "expose", "profiles", "stop_signal", "cap_add", "cap_drop", "sysctls", "hostname", "domainname", "platform",
    "runtime", "network_mode", "ulimits", "tmpfs", "security_opt", "shm_size", "extra_hosts", "devices", "dns",
    "network_aliases", "ipv4_addresses", "compose", "env_file",
)  # fmt: skip


class DockerResource(_Model):
    """One container: the unit that becomes a Compose service."""

    _kind: ClassVar[str] = "DockerResource"

    name: str
    description: str = ""
    image: str | Env | EnvText | None = None
    build: str | BuildSpec | None = None
    #: "HOST:CONTAINER" strings, Port(...), or Env("BIND") + ":80/tcp": a host part (a port,
    #: or an address and a port) Compose reads from the environment where the stack runs.
    ports: list[str | Port | EnvText] = []
    #: None: Compose's bare ``KEY``, the value of that variable where Compose runs (none when unset).
    env_vars: dict[str, str | Secret | Env | EnvText | None] = {}
    volumes: list[str | Mount] = []
    networks: list[str | Network] = []
    command: str | EnvText | list[str | Env | EnvText] | None = None
    entrypoint: str | list[str] | None = None
    #: The server's password, for engines configured on the command line (Redis, Valkey,
    #: KeyDB): it reaches the server, the URL a connection gets and the readiness probe,
    #: and, as a Secret, never the generated file.
    password: Text | None = None
    working_dir: str | None = None
    user: str | Env | EnvText | None = None
    #: The container's own name, under ProjectSettings(container_names="compose") (under
    #: "fixed", every container is named after its resource).
    container_name: str | None = None
    healthcheck: HealthCheck | None = None
    #: How the service says it is ready: HttpProbe, TcpProbe or CommandProbe. Without one
    #: (or a healthcheck), a running container counts as started, never as ready.
    readiness: Probe | None = None
    restart: Literal["no", "always", "on-failure", "unless-stopped"] = "unless-stopped"
    #: Copies of an app on an orchestrator (``--target swarm``); Compose runs one.
    replicas: int = Field(default=1, ge=1, le=1000)
    labels: dict[str, str | Env | EnvText] = {}
    assertions: list[Assertion] = []
    #: Opt-in: let build contexts and bind mounts point outside the project folder.
    allow_outside_project: bool = False
    # -- Compose's service fields, by their Compose names (see README, "Compose fields") --
    expose: list[int | str | Env] = []
    env_file: list[str] = []
    profiles: list[str] = []
    stop_signal: str | Env | None = None
    stop_grace_period: float | None = Field(default=None, ge=0, description="seconds")
    cap_add: list[str] = []
    cap_drop: list[str] = []
    sysctls: dict[str, str | int] = {}
    hostname: str | None = None
    domainname: str | Env | EnvText | None = None
    platform: str | Env | EnvText | None = None
    runtime: str | Env | None = None
    network_mode: str | None = None
    init: bool = False
    ulimits: dict[str, int | tuple[int, int]] = {}
    read_only: bool = False
    tmpfs: list[str] = []
    security_opt: list[str] = []
    pids_limit: int | None = Field(default=None, ge=-1)
    shm_size: int | str | None = None
    pull_policy: Literal["always", "never", "missing", "build", "if_not_present"] | None = None
    extra_hosts: dict[str, str] = {}
    devices: list[str] = []
    dns: list[str] = []
    privileged: bool = False
    tty: bool = False
    stdin_open: bool = False
    logging: Logging | None = None
    limits: Resources | None = None
    reservations: Resources | None = None
    secrets: list[FileSecret] = []
    configs: list[Config] = []
    #: Other names the service answers to on a network: network name -> aliases.
    network_aliases: dict[str, list[str]] = {}
    #: A fixed address on a network whose Ipam sets a subnet: network name -> IPv4 address.
    ipv4_addresses: dict[str, str] = {}
    #: The escape hatch: Compose service keys clockwork does not model, written as given
    #: (checked against the Compose schema; refused on Kubernetes).
    compose: dict[str, Any] = {}
    #: What ``clockwork dev`` (and ``docker compose watch``) does when a project file
    #: changes: Sync, SyncRestart or Rebuild rules (Compose's ``develop.watch``).
    watch: list[Sync | SyncRestart | Rebuild] = []

    _connections: list[DockerResource | DatabaseConnection] = PrivateAttr(default_factory=list)
    _connect_options: dict[int, tuple[str | None, bool, bool]] = PrivateAttr(default_factory=dict)

    def model_post_init(self, context: Any, /) -> None:
        for found in _collectors:
            found.append(self)

    @field_validator("name")
    @classmethod
    def _valid_name(cls, value: str) -> str:
        if not re.fullmatch(r"[a-z0-9][a-z0-9_.-]{1,62}", value):
            raise _invalid(
                f"{value!r} is not a valid service name",
                "use 2-63 lower-case letters, digits, '-', '_' or '.', starting with a letter or digit",
            )
        return value

    @field_validator("image")
    @classmethod
    def _valid_image(cls, value: str | Env | EnvText | None) -> str | Env | EnvText | None:
        shown = value.with_defaults(missing="latest") if isinstance(value, EnvText) else value
        if isinstance(shown, str) and not _IMAGE.fullmatch(shown):
            raise _invalid(
                f"{value!r} is not an image reference",
                'write e.g. "postgres:15-alpine" or "registry.example.com:5000/team/app:1.2"',
            )
        return value

    @field_validator("env_vars")
    @classmethod
    def _valid_env_names(cls, value: dict[str, Any]) -> dict[str, Any]:
        for key in value:
            _check_env_name(key)
        return value

    @field_validator("command", "entrypoint", mode="before")
    @classmethod
    def _no_secret_in_command(cls, value: object) -> object:
        words = value if isinstance(value, list) else [value]
        if any(isinstance(word, Secret) for word in words):
            raise _invalid(
                "a Secret cannot stand in a command: the command is written into the generated file",
                'give an engine its password with password=Secret("NAME"), or read the variable in the '
                'container: env_vars={"NAME": Secret("NAME")} and "$NAME" in a shell command',
            )
        return value

    @field_validator("container_name")
    @classmethod
    def _valid_container_name(cls, value: str | None) -> str | None:
        if value is not None and not re.fullmatch(r"[a-zA-Z0-9][a-zA-Z0-9_.-]+", value):
            raise _invalid(
                f"{value!r} is not a container name",
                "use letters, digits, '_', '.' and '-', starting with a letter or digit",
            )
        return value

    @field_validator("working_dir")
    @classmethod
    def _valid_working_dir(cls, value: str | None) -> str | None:
        if value is not None and (not value.startswith("/") or _CONTROL.search(value)):
            raise _invalid(f"{value!r} is not an absolute path", 'write an absolute path in the container, e.g. "/app"')
        return value

    @field_validator("labels")
    @classmethod
    def _valid_labels(cls, value: dict[str, Any]) -> dict[str, Any]:
        for key in value:
            if not _LABEL.fullmatch(key):
                raise _invalid(
                    f"{key!r} is not a label name", 'use letters, digits, ".", "-" and "_", e.g. "com.example.team"'
                )
            if key.lower() == RESERVED_LABELS[:-1] or key.lower().startswith(RESERVED_LABELS):
                raise _invalid(
                    f"{key!r} is in the {RESERVED_LABELS} namespace, which clockwork keeps for its own labels",
                    'use a namespace of your own, e.g. "com.example.team"',
                )
        return value

    @field_validator(*_COMPOSE_CHECKED)
    @classmethod
    def _compose_field(cls, value: Any, info: ValidationInfo) -> Any:
        from ._fields import check_field

        return check_field(str(info.field_name), value)

    @field_validator("readiness", mode="before")
    @classmethod
    def _a_probe(cls, value: object) -> object:
        if value is not None and not isinstance(value, HttpProbe | TcpProbe | CommandProbe):
            raise _invalid(
                f"{value!r} is not a readiness probe",
                'give HttpProbe("/health"), TcpProbe(5432) or CommandProbe([...])',
            )
        return value

    @field_validator("watch", mode="before")
    @classmethod
    def _watch_rules(cls, value: object) -> object:
        for rule in value if isinstance(value, list | tuple) else ():
            if not isinstance(rule, Sync | SyncRestart | Rebuild):
                raise _invalid(
                    f"{rule!r} is not a watch rule",
                    'give Sync("./src", "/app/src"), SyncRestart("./conf", "/etc/app") or Rebuild("requirements.txt")',
                )
        return value

    @model_validator(mode="after")
    def _one_probe(self) -> DockerResource:
        if self.healthcheck is not None and self.readiness is not None:
            raise _invalid(
                "both healthcheck and readiness are set", "keep one: readiness=HttpProbe(...) or healthcheck=..."
            )
        return self

    def connect(
        self,
        target: DockerResource | DatabaseConnection,
        *,
        condition: Literal["service_started", "service_healthy", "service_completed_successfully"] | None = None,
        url: bool = True,
        restart: bool = False,
    ) -> DockerResource:
        """Depend on ``target``: a resource (ordering, plus its URL for known engines)
        or a DatabaseConnection (URL injection, readiness, schema and migrations).

        For a resource, ``condition`` says what to wait for as Compose names it (default:
        healthy when it has a healthcheck, else started); ``url=False`` injects no URL;
        ``restart=True``: Compose restarts this resource after it restarts ``target``
        (``depends_on`` ``restart: true``)."""
        if not isinstance(target, DockerResource | DatabaseConnection):
            raise DeclarationError(
                self.name,
                "connect",
                f"cannot connect to {type(target).__name__}",
                "pass a DockerResource or a DatabaseConnection",
            )
        if (condition is not None or not url or restart) and not isinstance(target, DockerResource):
            raise DeclarationError(
                self.name,
                "connect",
                "condition=, url= and restart= are for a plain connect(resource)",
                "set wait_for_ready= and env_var_name= on the DatabaseConnection",
            )
        if condition not in (None, "service_started", "service_healthy", "service_completed_successfully"):
            raise DeclarationError(
                self.name,
                "connect",
                f"{condition!r} is not a depends_on condition",
                'give "service_started", "service_healthy" or "service_completed_successfully"',
            )
        self._connections.append(target)
        if restart not in (True, False):
            raise DeclarationError(
                self.name, "connect", f"restart={restart!r} is not True or False", "give True or False"
            )
        if condition is not None or not url or restart:
            self._connect_options[id(target)] = (condition, url, restart)
        return self

    def connect_options(self, target: DockerResource) -> tuple[str | None, bool, bool]:
        """The ``condition``, ``url`` and ``restart`` given to ``connect(target)``."""
        return self._connect_options.get(id(target), (None, True, False))

    @property
    def connections(self) -> tuple[DockerResource | DatabaseConnection, ...]:
        return tuple(self._connections)

    def __hash__(self) -> int:
        return id(self)

    def __eq__(self, other: object) -> bool:
        return self is other


class DatabaseConnection(_Model):
    """A consumer's connection to a database resource: URL, readiness, schema, migrations."""

    _kind: ClassVar[str] = "DatabaseConnection"

    to_resource: DockerResource
    connection_string_template: str | None = None
    username: Text | None = None
    password: Text | None = None
    database_name: str | None = None
    env_var_name: str = "DATABASE_URL"
    wait_for_ready: bool = True
    timeout: int = Field(default=30, gt=0, description="seconds")
    schema_file: str | None = None
    migrations_dir: str | None = None
    #: Opt-in: let schema_file and migrations_dir point outside the project folder.
    allow_outside_project: bool = False
    #: The migrations folder's convention, when detection from its files is not wanted.
    migrations_convention: (
        Literal["plain", "golang-migrate", "flyway", "dbmate", "goose", "timestamp", "sqitch"] | None
    ) = None
    #: Variables the schema and migrations use: psql's :name, :'name' or :"name"; the
    #: mysql client's user variables @name. (Was ``psql_variables``, which still works.)
    variables: dict[str, Text] = {}
    #: Dump the database into the volume ``<resource>_snapshots`` before its migrator applies
    #: pending files to a database that holds applied migrations (`clockwork restore`).
    snapshot: bool = False
    #: The deprecated field names this connection was declared with (a note at build).
    _deprecated: tuple[str, ...] = PrivateAttr(default=())

    def __init__(self, **data: Any) -> None:
        target = data.get("to_resource")
        name = target.name if isinstance(target, DockerResource) else None
        deprecated = ()
        if "psql_variables" in data:
            if "variables" in data:
                raise DeclarationError(
                    name or "DatabaseConnection",
                    "psql_variables",
                    "sets variables twice (psql_variables is the old name of variables)",
                    "keep variables only",
                )
            warnings.warn(
                "DatabaseConnection(psql_variables=...) is deprecated: use variables=...",
                DeprecationWarning,
                stacklevel=2,
            )
            data = {**data, "variables": data["psql_variables"]}
            del data["psql_variables"]
            deprecated = ("psql_variables",)
        try:
            BaseModel.__init__(self, **data)
        except ValidationError as exc:
            raise _declaration_error("DatabaseConnection", name, exc, DatabaseConnection) from None
        self._deprecated = deprecated

    @property
    def psql_variables(self) -> dict[str, Text]:
        """Deprecated: the old name of :attr:`variables`."""
        warnings.warn(
            "DatabaseConnection.psql_variables is deprecated: use variables", DeprecationWarning, stacklevel=2
        )
        return self.variables

    @property
    def deprecated_fields(self) -> tuple[str, ...]:
        """The deprecated field names this connection was declared with."""
        return self._deprecated

    @field_validator("env_var_name")
    @classmethod
    def _env_name(cls, value: str) -> str:
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", value):
            raise _invalid(f"{value!r} is not an environment variable name", 'use e.g. "DATABASE_URL"')
        return value

    @field_validator("variables")
    @classmethod
    def _variables(cls, value: dict[str, Text]) -> dict[str, Text]:
        for name, text in value.items():
            if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name):
                raise _invalid(f"{name!r} is not a variable name", "use letters, digits and underscores")
            if isinstance(text, str) and _CONTROL.search(text):
                raise _invalid(f"the value of {name!r} holds a control character", "write it on one line")
        return value


from ._fields import (  # noqa: E402
    Config,
    Env,
    EnvText,
    FileSecret,
    Logging,
    Mount,
    Network,
    Port,
    Rebuild,
    Resources,
    Sync,
    SyncRestart,
)

DockerResource.model_rebuild()
DatabaseConnection.model_rebuild()
