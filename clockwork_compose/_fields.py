"""Declarations for the Compose fields real stacks use: long-syntax ports and mounts, named
volumes and networks, file secrets and configs, logging, resources, interpolation, and the
project's own settings.

Validation only, as Compose validates: ``_lower`` turns them into the model; each target
emits them or refuses them. ``DockerResource`` (``_declarations``) holds the per-service
fields; the objects here are what those fields take.
"""

from __future__ import annotations

import re
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, Field, ValidationError, field_validator, model_validator

from ._declarations import _CONTROL, HEALTH_INTERVAL, _declaration_error, _invalid, _Model

#: Built when first used (or when DockerResource, which holds them, is): keeps build's start-up light.
_LAZY = _Model.model_config | {"defer_build": True}
_LAZY_FROZEN = _LAZY | {"frozen": True}
_VAR = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
#: Names Compose takes for top-level volumes, networks, secrets and configs (its schema's).
_KEY = re.compile(r"[a-zA-Z0-9][a-zA-Z0-9_.-]*")
#: A size as Docker reads one (go-units RAMInBytes): 512m, 1g, 1.5GiB, 1048576.
SIZE = re.compile(r"\d+(\.\d+)? ?([kKmMgGtTpP]?[iI]?[bB]?)")


def size_bytes(size: int | str) -> int:
    """A size as Docker reads it (``512m``: binary units) in bytes."""
    match = re.fullmatch(r"(\d+(?:\.\d+)?) ?([kKmMgGtTpP]?)[iI]?[bB]?", str(size))
    assert match is not None, size  # checked by check_size
    return int(float(match[1]) * 1024 ** " kmgtp".index(match[2].lower() or " "))


def check_size(value: int | str | None) -> int | str | None:
    if isinstance(value, str) and not SIZE.fullmatch(value):
        raise _invalid(f"{value!r} is not a size", 'give bytes as a number, or e.g. "512m", "1g"')
    if isinstance(value, int) and value < 0:
        raise _invalid(f"{value} is not a size", 'give bytes as a positive number, or e.g. "512m"')
    return value


def _key(value: str, what: str) -> str:
    if not _KEY.fullmatch(value):
        raise _invalid(f"{value!r} is not a valid {what} name", "use letters, digits, '-', '_' and '.'")
    return value


class Env(_Model):
    """An interpolation Compose resolves when it reads the file: ``Env("TAG")`` writes
    ``${TAG}``, ``Env("TAG", default="1.2")`` writes ``${TAG:-1.2}``, and with
    ``keep_empty=True`` writes ``${TAG-1.2}`` (an empty value is kept: the default applies only
    when the variable is unset). The value comes from the environment or the project's .env
    where the stack runs, never from the build machine."""

    model_config = _LAZY_FROZEN
    _kind: ClassVar[str] = "Env"

    name: str
    default: str | None = None
    #: Compose refuses to run without a value (``${VAR:?VAR is not set}``).
    required: bool = False
    #: The default applies only when the variable is unset, not when it is empty (``${VAR-default}``).
    keep_empty: bool = False

    def __init__(self, name: str, /, default: str | None = None, **data: Any) -> None:
        try:
            BaseModel.__init__(self, name=name, default=default, **data)
        except ValidationError as exc:  # named as written, not as a resource
            raise _declaration_error("Env", f"Env({name!r})", exc, Env) from None

    @model_validator(mode="after")
    def _default_or_required(self) -> Env:
        if self.required and self.default is not None:
            raise _invalid("a required variable has no default", "give default= or required=True, not both")
        if self.keep_empty and self.default is None:
            raise _invalid("keep_empty=True says when the default applies", "give default= with it")
        return self

    @field_validator("name")
    @classmethod
    def _variable(cls, value: str) -> str:
        if not _VAR.fullmatch(value):
            raise _invalid(f"{value!r} is not a variable name", 'use letters, digits and "_", e.g. Env("APP_TAG")')
        return value

    @field_validator("default")
    @classmethod
    def _plain_default(cls, value: str | None) -> str | None:
        if value is not None and (set(value) & {"$", "}"} or _CONTROL.search(value)):
            raise _invalid(f"the default {value!r} holds '$', '}}' or a control character", "give plain text")
        return value

    def __repr__(self) -> str:
        extra = (
            f", default={self.default!r}" if self.default is not None else ", required=True" if self.required else ""
        )
        extra += ", keep_empty=True" if self.keep_empty else ""
        return f"Env({self.name!r}{extra})"

    def __add__(self, other: object) -> EnvText:
        return EnvText.of(self, other)

    def __radd__(self, other: object) -> EnvText:
        return EnvText.of(other, self)


class EnvText(_Model):
    """Text with ``Env`` variables in it, made with ``+``: ``"postgres:" + Env("PG_TAG",
    default="16")`` writes ``postgres:${PG_TAG:-16}``."""

    model_config = _LAZY_FROZEN
    _kind: ClassVar[str] = "EnvText"

    parts: tuple[str | Env, ...]

    @classmethod
    def of(cls, *items: object) -> EnvText:
        parts: list[str | Env] = []
        for item in items:
            if isinstance(item, EnvText):
                parts += item.parts
            elif isinstance(item, str | Env):
                parts.append(item)
            else:
                raise TypeError(f"cannot add {type(item).__name__} to Env: add strings and Env only")
        return cls(parts=tuple(parts))

    def __add__(self, other: object) -> EnvText:
        return EnvText.of(self, other)

    def __radd__(self, other: object) -> EnvText:
        return EnvText.of(other, self)

    def with_defaults(self, missing: str = "") -> str:
        """The text as it reads when no variable is set (each default, else ``missing``)."""
        return "".join(p if isinstance(p, str) else missing if p.default is None else p.default for p in self.parts)


class Port(_Model):
    """A published port in Compose's long syntax."""

    model_config = _LAZY
    _kind: ClassVar[str] = "Port"

    target: int = Field(ge=1, le=65535)
    published: int | str | Env | None = None
    host_ip: str | None = None
    protocol: Literal["tcp", "udp"] = "tcp"
    mode: Literal["host", "ingress"] | None = None

    @field_validator("published")
    @classmethod
    def _published(cls, value: int | str | Env | None) -> int | str | Env | None:
        if isinstance(value, int) and not 1 <= value <= 65535:
            raise _invalid(f"{value} is not a port", "give a port from 1 to 65535")
        if isinstance(value, str):
            match = re.fullmatch(r"(\d{1,5})(?:-(\d{1,5}))?", value)
            if match is None or not all(1 <= int(n) <= 65535 for n in match.groups() if n):
                raise _invalid(f"{value!r} is not a port or port range", 'give e.g. 8080 or "8000-8010"')
        return value

    @field_validator("host_ip")
    @classmethod
    def _ip(cls, value: str | None) -> str | None:
        if value is not None and not is_ip(value):
            raise _invalid(f"{value!r} is not an IP address", 'give e.g. "127.0.0.1" or "::1"')
        return value


def is_ip(text: str) -> bool:
    import ipaddress  # only when an address is declared: keeps it off the start-up path

    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


class Volume(_Model):
    """A named volume, declared once at the top of the project (Compose's top-level
    ``volumes:``). ``external=True``: made elsewhere; clockwork and Compose never create or
    remove it."""

    model_config = _LAZY_FROZEN
    _kind: ClassVar[str] = "Volume"

    name: str
    external: bool = False
    #: The engine's name for it (Compose's ``name:``); by default ``<project>_<name>``.
    volume_name: str | None = None
    driver: str | None = None
    driver_opts: dict[str, str] = {}
    labels: dict[str, str] = {}

    def __init__(self, name: str, /, **data: Any) -> None:
        super().__init__(name=name, **data)

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        return _key(value, "volume")

    @model_validator(mode="after")
    def _external_is_made_elsewhere(self) -> Volume:
        if self.external and (self.driver or self.driver_opts or self.labels):
            raise _invalid(
                "an external volume is made elsewhere: driver, driver_opts and labels do not apply",
                "remove them, or external=True",
            )
        return self

    def __hash__(self) -> int:
        return hash(("Volume", self.name))


class Ipam(_Model):
    """A network's addresses (Compose's ``ipam:``, one pool): the subnet its services get
    addresses from, and optionally the gateway, a narrower range to hand out, and the IPAM
    driver. Services pick a fixed address in it with ``ipv4_addresses``."""

    model_config = _LAZY_FROZEN
    _kind: ClassVar[str] = "Ipam"

    subnet: str
    gateway: str | None = None
    ip_range: str | None = None
    driver: str | None = None

    @field_validator("subnet", "ip_range")
    @classmethod
    def _network(cls, value: str | None) -> str | None:
        if value is not None and ip_network(value) is None:
            raise _invalid(f"{value!r} is not a subnet", 'give an address and a prefix length, e.g. "172.20.0.0/24"')
        return value

    @field_validator("gateway")
    @classmethod
    def _address(cls, value: str | None) -> str | None:
        if value is not None and not is_ip(value):
            raise _invalid(f"{value!r} is not an IP address", 'give e.g. "172.20.0.1"')
        return value

    @field_validator("driver")
    @classmethod
    def _driver(cls, value: str | None) -> str | None:
        if value is not None and not _KEY.fullmatch(value):
            raise _invalid(f"{value!r} is not a driver name", 'give e.g. "default"')
        return value

    @model_validator(mode="after")
    def _inside_subnet(self) -> Ipam:
        if self.gateway is not None and not in_subnet(self.gateway, self.subnet):
            raise _invalid(f"the gateway {self.gateway} is not in {self.subnet}", "give an address of the subnet")
        if self.ip_range is not None and not in_subnet(self.ip_range, self.subnet):
            raise _invalid(f"the ip_range {self.ip_range} is not in {self.subnet}", "give a range inside the subnet")
        return self


def ip_network(text: str) -> Any:
    """``text`` as a subnet (``ipaddress`` network), or None when it is not one."""
    import ipaddress  # only when a subnet is declared: keeps it off the start-up path

    try:
        return ipaddress.ip_network(text, strict=False)
    except ValueError:
        return None


def in_subnet(address_or_range: str, subnet: str) -> bool:
    """Whether an address (or a range, "10.0.0.128/25") lies inside ``subnet``."""
    inner, outer = ip_network(address_or_range), ip_network(subnet)
    if inner is None or outer is None or inner.version != outer.version:
        return False
    return bool(inner.subnet_of(outer))


class Network(_Model):
    """A network, declared once (Compose's top-level ``networks:``); services on the same
    network reach each other by name, others do not."""

    model_config = _LAZY_FROZEN
    _kind: ClassVar[str] = "Network"

    name: str
    external: bool = False
    #: The engine's name for it (Compose's ``name:``); by default ``<project>_<name>``.
    network_name: str | None = None
    driver: str | None = None
    driver_opts: dict[str, str] = {}
    #: No route out of the network: its services reach each other only.
    internal: bool = False
    labels: dict[str, str] = {}
    #: Its addresses (a fixed subnet); by default the engine picks a free one.
    ipam: Ipam | None = None

    def __init__(self, name: str, /, **data: Any) -> None:
        super().__init__(name=name, **data)

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        return _key(value, "network")

    @model_validator(mode="after")
    def _external_is_made_elsewhere(self) -> Network:
        if self.external and (self.driver or self.driver_opts or self.internal or self.labels or self.ipam):
            raise _invalid(
                "an external network is made elsewhere: driver, driver_opts, internal, labels and ipam do not apply",
                "remove them, or external=True",
            )
        return self

    def __hash__(self) -> int:
        return hash(("Network", self.name))


class Mount(_Model):
    """A volume in Compose's long syntax: a named volume (``source`` a Volume or its name),
    a bind mount (``source`` a path: "./x", "../x", "/x" or "~/x"), a tmpfs, or, with no source,
    an anonymous volume."""

    model_config = _LAZY
    _kind: ClassVar[str] = "Mount"

    target: str
    #: An ``Env`` (or ``EnvText``) source is a host path Compose reads from the environment
    #: where it runs (``type="bind"``): clockwork neither checks nor moves it.
    source: str | Volume | Env | EnvText | None = None
    type: Literal["volume", "bind", "tmpfs"] | None = None
    read_only: bool = False
    #: A bind mount's SELinux label (Compose's ``:z``, shared with other containers, or
    #: ``:Z``, private): the engine relabels the host path so the container may read it.
    selinux: Literal["z", "Z"] | None = None

    @field_validator("target")
    @classmethod
    def _absolute(cls, value: str) -> str:
        if not value.startswith("/") or _CONTROL.search(value):
            raise _invalid(f"{value!r} is not an absolute container path", 'write e.g. "/var/lib/data"')
        return value

    @model_validator(mode="after")
    def _fits_type(self) -> Mount:
        if self.type == "tmpfs" and self.source is not None:
            raise _invalid("a tmpfs mount has no source", "remove source")
        if self.type == "bind" and not isinstance(self.source, str | Env | EnvText):
            raise _invalid("a bind mount needs a source path", 'give source="./path"')
        if isinstance(self.source, Env | EnvText) and self.type != "bind":
            raise _invalid("an Env source is a host path", 'say so with type="bind"')
        if self.selinux is not None and self.kind != "bind":
            raise _invalid("selinux relabels a bind mount's host path", "remove selinux, or mount a host path")
        return self

    @property
    def kind(self) -> str:
        """The type given, or the one the source implies."""
        if self.type is not None:
            return self.type
        if isinstance(self.source, str) and self.source.startswith((".", "/", "~")):
            return "bind"
        return "volume"


class _FileObject(_Model):
    model_config = _LAZY_FROZEN

    name: str
    #: A file of the project, relative to its folder.
    file: str

    def __init__(self, name: str, /, **data: Any) -> None:
        super().__init__(name=name, **data)

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        return _key(value, cls._kind)

    def __hash__(self) -> int:
        return hash((self._kind, self.name))


class FileSecret(_FileObject):
    """A secret read from a file of the project (Compose's top-level ``secrets:``); a
    service that lists it reads it at ``/run/secrets/<name>``. Official images read it from
    their ``*_FILE`` variables, e.g. ``POSTGRES_PASSWORD_FILE=/run/secrets/db_password``."""

    _kind: ClassVar[str] = "FileSecret"


class Config(_FileObject):
    """A configuration file of the project (Compose's top-level ``configs:``); a service
    that lists it reads it at ``/<name>``."""

    _kind: ClassVar[str] = "Config"


class _WatchRule(_Model):
    """A rule of ``clockwork dev`` (Compose's ``develop.watch``): what to do when a file
    under ``path`` (relative to the project folder) changes; ``ignore``: patterns, relative
    to ``path``, whose changes do not count."""

    model_config = _LAZY_FROZEN
    #: Compose's name for the action.
    action: ClassVar[str] = ""

    path: str
    ignore: tuple[str, ...] = ()

    @field_validator("path")
    @classmethod
    def _path(cls, value: str) -> str:
        if not value or _CONTROL.search(value):
            raise _invalid(f"{value!r} is not a path", 'write a path relative to the project folder, e.g. "./src"')
        return value

    @field_validator("ignore")
    @classmethod
    def _patterns(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for pattern in value:
            if not pattern or _CONTROL.search(pattern):
                raise _invalid(f"{pattern!r} is not an ignore pattern", 'write e.g. "__pycache__/" or "*.pyc"')
        return value


class _CopyRule(_WatchRule):
    #: Where the files go in the container.
    target: str

    def __init__(self, path: str, target: str, /, **data: Any) -> None:
        try:
            BaseModel.__init__(self, path=path, target=target, **data)
        except ValidationError as exc:  # named as written, not as a resource
            raise _declaration_error(self._kind, f"{self._kind}({path!r}, {target!r})", exc, type(self)) from None

    @field_validator("target")
    @classmethod
    def _absolute(cls, value: str) -> str:
        if not value.startswith("/") or _CONTROL.search(value):
            raise _invalid(f"{value!r} is not an absolute container path", 'write e.g. "/app/src"')
        return value


class Sync(_CopyRule):
    """``Sync("./src", "/app/src")``: copy a changed file into the running container."""

    _kind: ClassVar[str] = "Sync"
    action: ClassVar[str] = "sync"


class SyncRestart(_CopyRule):
    """``SyncRestart("./conf", "/etc/app")``: copy a changed file in, then restart the container."""

    _kind: ClassVar[str] = "SyncRestart"
    action: ClassVar[str] = "sync+restart"


class Rebuild(_WatchRule):
    """``Rebuild("requirements.txt")``: rebuild the image and recreate the container."""

    _kind: ClassVar[str] = "Rebuild"
    action: ClassVar[str] = "rebuild"

    def __init__(self, path: str, /, **data: Any) -> None:
        try:
            BaseModel.__init__(self, path=path, **data)
        except ValidationError as exc:  # named as written, not as a resource
            raise _declaration_error("Rebuild", f"Rebuild({path!r})", exc, Rebuild) from None


class Logging(_Model):
    """Where a container's output goes: a logging driver and its options."""

    model_config = _LAZY
    _kind: ClassVar[str] = "Logging"

    driver: str = "json-file"
    options: dict[str, str] = {}


class Resources(_Model):
    """CPU, memory and process counts for ``limits=`` or ``reservations=`` (Compose's
    ``deploy.resources``)."""

    model_config = _LAZY
    _kind: ClassVar[str] = "Resources"

    cpus: float | None = Field(default=None, gt=0)
    memory: int | str | None = None
    pids: int | None = Field(default=None, ge=1)

    @field_validator("memory")
    @classmethod
    def _size(cls, value: int | str | None) -> int | str | None:
        return check_size(value)


class ProjectSettings(_Model):
    """How the whole project runs, declared at most once in main.py.

    ``shared_network=False``: no ``app_network``; services share exactly the networks they
    declare, as in Compose (one that declares none is on Compose's ``default``).
    ``container_names="compose"``: Compose names the containers (``<project>-<service>-1``),
    so two projects may each have a ``db``.
    ``health_interval``: seconds between healthchecks once a service is ready (a probe's
    ``rest_interval`` overrides it); while it starts, its probe runs every second.
    ``min_engine``: the oldest Docker Engine the generated files must run on ("20.10", "25",
    "26.1"). Below 25 (which reads a healthcheck's ``start_interval``), healthchecks keep
    their start interval for as long as the stack runs."""

    model_config = _LAZY
    _kind: ClassVar[str] = "ProjectSettings"

    shared_network: bool = True
    container_names: Literal["fixed", "compose"] = "fixed"
    health_interval: float = Field(default=HEALTH_INTERVAL, gt=0, description="seconds between healthchecks once ready")
    min_engine: str = Field(default="25", description="the oldest Docker Engine the files target")

    def __init__(self, **data: Any) -> None:
        from ._errors import DeclarationError

        try:
            super().__init__(**data)
        except DeclarationError as exc:  # named after the settings, which have no name
            raise DeclarationError("ProjectSettings", exc.field, exc.problem, exc.fix) from None

    @field_validator("min_engine", mode="before")
    @classmethod
    def _engine_version(cls, value: object) -> object:
        if isinstance(value, int) and not isinstance(value, bool):
            value = str(value)  # min_engine=25 reads as "25"; a float would lose "20.10"'s zero
        if not isinstance(value, str) or not ENGINE_VERSION.fullmatch(value):
            raise _invalid(
                f"{value!r} is not a Docker Engine version",
                'give the oldest engine the stack runs on as "MAJOR[.MINOR[.PATCH]]", e.g. "25" or "20.10"',
            )
        return value

    @property
    def engine(self) -> tuple[int, ...]:
        return engine_version(self.min_engine)

    def model_post_init(self, context: Any, /) -> None:
        from ._declarations import _collectors

        for found in _collectors:
            if getattr(found, "settings", None) is not None:
                raise _settings_twice()
            found.settings = self  # type: ignore[attr-defined]


#: A Docker Engine version as ProjectSettings(min_engine=...) takes it.
ENGINE_VERSION = re.compile(r"\d{1,4}(\.\d{1,4}){0,2}")


def engine_version(text: str) -> tuple[int, ...]:
    """A Docker Engine version as numbers, compared as numbers: "20.10.24+dfsg1" -> (20, 10, 24),
    "26.1.0-rc.1" -> (26, 1, 0); () when it starts with no number."""
    match = re.match(r"v?(\d+(?:\.\d+)*)", text.strip())
    return tuple(int(part) for part in match[1].split(".")) if match else ()


def _settings_twice() -> Exception:
    from ._errors import DeclarationError

    return DeclarationError(
        "ProjectSettings", None, "is declared twice", "declare ProjectSettings(...) once in main.py"
    )


#: DockerResource fields (Compose names) that are plain values: what the escape hatch may not repeat.
MODELLED = frozenset(
    {
        "container_name", "image", "build", "ports", "environment", "volumes", "networks", "command",
        "entrypoint", "working_dir", "user", "healthcheck", "restart", "labels", "depends_on",
        "expose", "env_file", "profiles", "stop_signal", "stop_grace_period", "cap_add", "cap_drop",
        "sysctls", "hostname", "domainname", "platform", "runtime", "network_mode", "init", "ulimits",
        "read_only", "tmpfs", "security_opt", "pids_limit", "shm_size", "pull_policy", "extra_hosts",
        "devices", "dns", "privileged", "tty", "stdin_open", "logging", "secrets", "configs",
    }
)  # fmt: skip


# -- checks of DockerResource's Compose fields, as Compose (and the engine) check them --------

_PROFILE = re.compile(r"[a-zA-Z0-9][a-zA-Z0-9_.-]*")
_EXPOSE = re.compile(r"\d{1,5}(-\d{1,5})?(/(tcp|udp|sctp))?")
_SIGNAL = re.compile(r"(SIG)?[A-Z][A-Z0-9]*([+-]\d+)?|\d{1,2}")
_CAPABILITY = re.compile(r"(CAP_)?[A-Z][A-Z_0-9]*")
_SYSCTL = re.compile(r"[a-z0-9_][a-z0-9_./-]*")
_HOSTNAME = re.compile(r"[a-zA-Z0-9]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?(\.[a-zA-Z0-9]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?)*")
_PLATFORM = re.compile(r"[a-z0-9]+(/[a-z0-9_]+(/[a-z0-9]+)?)?")
_RUNTIME = re.compile(r"[a-zA-Z0-9][a-zA-Z0-9_.-]*")
_NETWORK_MODE = re.compile(r"host|none|bridge|(service|container):[a-zA-Z0-9][a-zA-Z0-9_.-]*")
#: The resource limits the engine knows (``docker run --ulimit``).
ULIMITS = frozenset(
    {"core", "cpu", "data", "fsize", "locks", "memlock", "msgqueue", "nice", "nofile", "nproc", "rss", "rtprio"}
    | {"rttime", "sigpending", "stack"}
)
_DEVICE = re.compile(r"/[^:\s]+(:/[^:\s]+)?(:[rwm]{1,3})?")
_ALIAS = re.compile(r"[a-zA-Z0-9][a-zA-Z0-9_.-]*")


def _each(values: list[Any], pattern: re.Pattern[str], what: str, example: str) -> None:
    for value in values:
        if isinstance(value, Env | EnvText):  # resolved where the stack runs
            continue
        if not isinstance(value, str) or not pattern.fullmatch(value):
            raise _invalid(f"{value!r} is not {what}", f"write e.g. {example}")


def check_field(field: str, value: Any) -> Any:
    """``value`` of DockerResource's ``field`` (a Compose field), or a one-line error with its fix."""
    check = _CHECKS.get(field)
    if check is not None:
        check(value)
    return value


def _expose(value: list[int | str | Env]) -> None:
    _each(
        [v if isinstance(v, Env) else str(v) for v in value],
        _EXPOSE,
        "a container port",
        '"8080", "9000-9010" or "53/udp"',
    )


def _one(pattern: re.Pattern[str], what: str, example: str) -> Any:
    def check(value: str | None) -> None:
        if value is not None:
            _each([value], pattern, what, example)

    return check


def _sysctls(value: dict[str, str | int]) -> None:
    for key, setting in value.items():
        if not _SYSCTL.fullmatch(key):
            raise _invalid(f"{key!r} is not a kernel parameter", 'write e.g. {"net.core.somaxconn": 1024}')
        if isinstance(setting, str) and _CONTROL.search(setting):
            raise _invalid(f"the value of {key!r} holds a control character", "write it on one line")


def _ulimits(value: dict[str, int | tuple[int, int]]) -> None:
    for name, limit in value.items():
        if name not in ULIMITS:
            raise _invalid(f"{name!r} is not a resource limit", f"use one of {', '.join(sorted(ULIMITS))}")
        soft, hard = limit if isinstance(limit, tuple) else (limit, limit)
        if soft < -1 or hard < -1 or (hard != -1 and soft > hard):
            raise _invalid(f"{name}: {limit!r} is not a soft and hard limit", "give (soft, hard) with soft <= hard")


def _absolute_paths(value: list[str]) -> None:
    for path in value:
        if not path.startswith("/") or _CONTROL.search(path) or " " in path:
            raise _invalid(f"{path!r} is not an absolute container path", 'write e.g. "/run" or "/tmp:size=64m"')


def _non_empty(value: list[str]) -> None:
    for item in value:
        if not item.strip() or _CONTROL.search(item):
            raise _invalid(f"{item!r} is not an option", 'write e.g. "no-new-privileges:true"')


def _extra_hosts(value: dict[str, str]) -> None:
    for host, address in value.items():
        if not _HOSTNAME.fullmatch(host):
            raise _invalid(f"{host!r} is not a host name", 'write e.g. {"db.internal": "10.0.0.2"}')
        if address != "host-gateway" and not is_ip(address):
            raise _invalid(f"{address!r} is not an IP address", 'give e.g. "10.0.0.2", or "host-gateway"')


def _dns(value: list[str]) -> None:
    for address in value:
        if not is_ip(address):
            raise _invalid(f"{address!r} is not an IP address", 'give e.g. "1.1.1.1"')


def _aliases(value: dict[str, list[str]]) -> None:
    for network, aliases in value.items():
        _key(network, "network")
        _each(aliases, _ALIAS, "a network alias", '"api"')


def _ipv4_addresses(value: dict[str, str]) -> None:
    for network, address in value.items():
        _key(network, "network")
        if not is_ip(address) or ":" in address:
            raise _invalid(f"{address!r} is not an IPv4 address", 'give e.g. "172.20.0.2"')


def _env_file(value: list[str]) -> None:
    for path in value:
        if not path or _CONTROL.search(path):
            raise _invalid(f"{path!r} is not a path", 'write a path relative to the project folder, e.g. "./app.env"')


def _raw(value: dict[str, Any]) -> None:
    for key in value:
        if key in MODELLED:
            raise _invalid(
                f"{key!r} is a field of DockerResource: the escape hatch is for what clockwork does not model",
                f"use {_FIELD_OF.get(key, key)}=... instead",
            )
    deploy = value.get("deploy")
    if isinstance(deploy, dict):
        resources = deploy.get("resources") if isinstance(deploy.get("resources"), dict) else {}
        modelled = [("replicas", "replicas")] if "replicas" in deploy else []
        for part, fields in (("limits", ("cpus", "memory", "pids")), ("reservations", ("cpus", "memory"))):
            given = resources.get(part) if isinstance(resources.get(part), dict) else {}
            modelled += [(f"resources.{part}.{f}", f"{part}=Resources({f}=...)") for f in fields if f in given]
        if modelled:
            where, use = modelled[0]
            raise _invalid(
                f"deploy.{where} is a field of DockerResource: the escape hatch is for what clockwork does not model",
                f"use {use} instead",
            )


#: Compose keys whose DockerResource field has another name.
_FIELD_OF = {"environment": "env_vars", "depends_on": "connect()"}

_CHECKS: dict[str, Any] = {
    "expose": _expose,
    "profiles": lambda v: _each(v, _PROFILE, "a profile name", '"debug"'),
    "stop_signal": _one(_SIGNAL, "a signal", '"SIGINT"'),
    "cap_add": lambda v: _each(v, _CAPABILITY, "a capability", '"NET_ADMIN"'),
    "cap_drop": lambda v: _each(v, _CAPABILITY, "a capability", '"ALL"'),
    "sysctls": _sysctls,
    "hostname": _one(_HOSTNAME, "a host name", '"db-primary"'),
    "domainname": _one(_HOSTNAME, "a domain name", '"example.internal"'),
    "platform": _one(_PLATFORM, "a platform", '"linux/amd64"'),
    "runtime": _one(_RUNTIME, "a runtime name", '"runc"'),
    "network_mode": _one(_NETWORK_MODE, "a network mode", '"host", "none", "bridge" or "service:NAME"'),
    "ulimits": _ulimits,
    "tmpfs": _absolute_paths,
    "security_opt": _non_empty,
    "shm_size": check_size,
    "extra_hosts": _extra_hosts,
    "devices": lambda v: _each(v, _DEVICE, "a device", '"/dev/ttyUSB0:/dev/ttyUSB0"'),
    "dns": _dns,
    "network_aliases": _aliases,
    "ipv4_addresses": _ipv4_addresses,
    "compose": _raw,
    "env_file": _env_file,
}
