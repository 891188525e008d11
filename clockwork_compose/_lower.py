"""Declarations -> the target-neutral model.

One pass per concern, each a small function: services from resources, databases and their
readiness, connections (URLs and dependency edges), migrators, then the checks a schema
cannot express (names, cycles, host ports). Pure apart from reading the project folder
(Dockerfiles, schema files and migrations must exist).
"""

from __future__ import annotations

import dataclasses
import hashlib
import math
import os
import re
import string
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, TypeVar
from urllib.parse import quote

from . import _graph, _lower_fields, _probes
from ._declarations import HEALTH_INTERVAL, BuildSpec, DatabaseConnection, DockerResource, HealthCheck, Secret
from ._engines import (
    CATALOG,
    Credentials,
    Engine,
    Refusal,
    engine_for_image,
    engine_for_url,
    engine_named,
    unknown_scheme,
    with_migrations,
)
from ._errors import DeclarationError
from ._fields import Env, EnvText, Network
from ._fields import Mount as MountSpec
from ._fields import Port as PortSpec
from ._model import (
    PASSED,
    Build,
    Check,
    CommandCheck,
    Condition,
    DatabaseTarget,
    Dependency,
    EnvEntry,
    EnvValue,
    Healthcheck,
    Interpolation,
    Migrations,
    MigratorJob,
    Mount,
    Options,
    Port,
    Project,
    Restart,
    Role,
    SecretPart,
    SecretRef,
    Service,
    ShellCheck,
)

if TYPE_CHECKING:
    from ._migrations import Plan

T = TypeVar("T")
NETWORK = "app_network"
PLACEHOLDERS = ("user", "password", "host", "port", "database")
#: Probe timing: readiness is seen within about a second of the engine serving.
PROBE_INTERVAL = 1.0
PROBE_TIMEOUT = 3.0
DEFAULT_READY_TIMEOUT = 30

_PORT = re.compile(
    r"(?:(?P<ip>\d{1,3}(?:\.\d{1,3}){3}|\[[0-9a-fA-F:]+\]):)?"
    r"(?:(?P<host>\d{1,5}):)?(?P<container>\d{1,5})(?:/(?P<protocol>tcp|udp))?"
)
_VOLUME_NAME = re.compile(r"[a-zA-Z0-9][a-zA-Z0-9_.-]*")
_NETWORK_NAME = re.compile(r"[a-zA-Z0-9][a-zA-Z0-9_.-]*")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
#: Environment variables whose plain-string value is a credential committed in clear.
_PASSWORD_NAME = re.compile(r"PASSWORD|PASSWD|SECRET|TOKEN|API_?KEY|PRIVATE_KEY", re.IGNORECASE)
#: Server options whose value, given in a command, is a credential committed in clear.
_PASSWORD_OPTIONS = ("--requirepass", "--masterauth")


@dataclass(frozen=True)
class Context:
    """Where the project lives and where the compose file goes (relative paths start there)."""

    project_dir: Path
    #: Resolved paths, per build: many connections name the same schema and folders.
    resolved: dict[str, Path] = dataclasses.field(default_factory=dict, compare=False, hash=False)
    #: What the build tells the user without stopping (a host path Compose will create).
    warnings: list[str] = dataclasses.field(default_factory=list, compare=False, hash=False)


def project_name(folder: Path) -> str:
    """A valid Compose project name from the name of the folder that holds main.py (never
    from its path: the generated file is committed). The folder name itself when it is
    valid; otherwise what is left of it plus a short hash of the whole name, so that two
    folder names never share a project name (``データ`` and ``данные`` included)."""
    original = folder.resolve().name
    name = re.sub(r"[^a-z0-9_-]+", "-", original.lower()).strip("-_")
    if name == original:
        return name
    digest = hashlib.sha256(original.encode("utf-8", "surrogateescape")).hexdigest()[:8]
    return f"{name or 'clockwork'}-{digest}"


def lower(resources: Sequence[DockerResource], ctx: Context, name: str) -> Project:
    settings = getattr(resources, "settings", None)
    resources = _closure(resources)
    project = Project(name=name, services={}, networks=[NETWORK], volumes=[])
    rest = HEALTH_INTERVAL
    if settings is not None:
        project.shared_network = settings.shared_network
        project.fixed_names = settings.container_names == "fixed"
        project.min_engine = settings.engine
        rest = settings.health_interval
    for resource in sorted(resources, key=lambda r: r.name):
        project.services[resource.name] = _service(resource, ctx, project, rest)
    by_name = {r.name: r for r in resources}
    _data_volumes(project)
    _readiness(resources, project, rest)
    for resource in sorted(resources, key=lambda r: r.name):
        for target in resource.connections:
            _connect(resource, target, ctx, project)
    _migrators(resources, by_name, ctx, project)
    _snapshot_volumes(project)
    project.networks = sorted({n for s in project.services.values() for n in s.networks})
    project.volumes = sorted(
        {m.source for s in project.services.values() for m in s.mounts if m.kind == "volume" and m.source}
        | {snapshot_volume(t.service) for t in project.databases if t.snapshot}
    )
    _lower_fields.check_references(project)
    project.databases.sort(key=lambda d: (d.consumer, d.env_var))
    _check_cycles(project)
    _check_host_ports(project)
    _check_durations(resources)
    _warn_plain_passwords(resources, project)
    project.warnings.extend(dict.fromkeys(ctx.warnings))
    return project


def _closure(resources: Sequence[DockerResource]) -> list[DockerResource]:
    """Every declared resource plus every resource reachable through connections, once."""
    seen: dict[int, DockerResource] = {}
    stack = list(resources)
    while stack:
        resource = stack.pop()
        if id(resource) in seen:
            continue
        seen[id(resource)] = resource
        for target in resource.connections:
            stack.append(target.to_resource if isinstance(target, DatabaseConnection) else target)
    by_name: dict[str, DockerResource] = {}
    for resource in seen.values():
        if resource.name in by_name:
            raise DeclarationError(
                resource.name, "name", "two resources have this name", "give each DockerResource a unique name"
            )
        by_name[resource.name] = resource
    if not by_name:
        raise DeclarationError(None, None, "main.py declares no DockerResource", "declare at least one resource")
    return list(by_name.values())


# -- services -------------------------------------------------------------------------------


def _service(resource: DockerResource, ctx: Context, project: Project, rest: float) -> Service:
    """The resource as a service; ``rest``: seconds between its healthchecks once it is ready,
    unless it says otherwise."""
    engine = _engine(resource)
    names = [
        _lower_fields.declare_network(resource.name, n, project) if isinstance(n, Network) else n
        for n in resource.networks
    ]
    extra = [n for n in names if n != NETWORK]
    shared = [NETWORK] if project.shared_network and resource.network_mode is None else []
    if resource.network_mode is not None and names:
        raise DeclarationError(
            resource.name, "networks", "network_mode and networks cannot both be set (Compose refuses it)", "keep one"
        )
    service = Service(
        name=resource.name,
        role=Role.DATABASE if engine else Role.APP,
        description=resource.description,
        engine=engine.name if engine else None,
        image=_lower_fields.image(resource),
        image_text=_lower_fields.image_text(resource),
        build=_build(resource, ctx),
        command=_lower_fields.argv(resource.command),
        entrypoint=_argv(resource.entrypoint),
        working_dir=resource.working_dir,
        user=_lower_fields.interpolation(resource.user) if isinstance(resource.user, Env | EnvText) else resource.user,
        hostname=resource.hostname or (resource.name if engine is not None and engine.fixed_hostname else None),
        environment={key: _env_value(value, project) for key, value in resource.env_vars.items()},
        ports=_once(resource.name, "ports", resource.ports, [_port_of(resource.name, spec) for spec in resource.ports]),
        mounts=_once(
            resource.name,
            "volumes",
            resource.volumes,
            [_mount_of(resource, spec, ctx, project) for spec in resource.volumes],
            key=lambda m: _normal_target(m.target),
        ),
        networks=[*shared, *_once(resource.name, "networks", extra, [_network(resource.name, n) for n in extra])],
        restart=Restart(resource.restart),
        replicas=resource.replicas,
        labels={
            k: _lower_fields.interpolation(v) if isinstance(v, Env | EnvText) else v for k, v in resource.labels.items()
        },
        assertions=[a.model_dump() for a in resource.assertions],
        container_name=resource.name if project.fixed_names else resource.container_name,
        container=_container(resource, project),
        options=_lower_fields.options(resource, ctx, project),
    )
    _check_query_urls(resource)
    _check_watch(resource, service)
    service.tmpfs = [*resource.tmpfs, *(m.target for m in service.mounts if m.kind == "tmpfs")]
    service.mounts = [m for m in service.mounts if m.kind != "tmpfs"]
    if engine is not None:
        engine.credentials(service.environment, _lower_fields.as_text(service.command))  # refuses what it cannot read
        if resource.env_file:
            project.warnings.append(
                f"{resource.name}: clockwork does not read env_file: the URL a connection gets, the readiness "
                f"probe and assert use {engine.name}'s settings from env_vars (or the image's defaults); "
                "set the user, password and database there"
            )
    if resource.password is not None:
        _set_password(resource, engine, service, project)
    if engine is not None and resource.replicas != 1:
        raise DeclarationError(
            resource.name,
            "replicas",
            f"a database runs once (its data volume is on one node), not {resource.replicas} times",
            "remove replicas from this resource",
        )
    if resource.healthcheck is not None:
        service.healthcheck = _healthcheck(resource.name, resource.healthcheck, rest)
    if resource.readiness is not None:
        service.healthcheck = _probes.healthcheck(
            resource.readiness, resource.name, [p.container for p in service.ports], rest
        )
        dockerfile = _dockerfile(service.build, ctx)
        unknown = _probes.no_shell(resource.readiness, _lower_fields.image(resource), dockerfile)
        if unknown:
            project.warnings.append(f"{resource.name}: {unknown}")
    return service


def _healthcheck(resource: str, hc: HealthCheck, rest: float) -> Healthcheck:
    """A HealthCheck as the model's: timed as the user wrote it (every ``interval`` for as
    long as it runs) when they set its start timing, else resting every ``rest`` seconds
    (or its own ``rest_interval``) once ready."""
    timing = [_lower_fields.interpolation(v) if isinstance(v, Env) else v for v in (hc.interval, hc.timeout)]
    retries, start = (
        _lower_fields.interpolation(v) if isinstance(v, Env) else v for v in (hc.retries, hc.start_period)
    )
    check = _check(_lower_fields.test_words(hc.test))
    if hc.timed_by_hand:
        return Healthcheck(check, *timing, retries, start)
    if any(isinstance(v, Env) for v in (hc.interval, hc.retries, hc.start_period)):
        raise DeclarationError(
            resource,
            "healthcheck.rest_interval",
            "resting once ready needs the start timing as numbers (the start period grows by retries x interval)",
            "give interval, retries and start_period as numbers, or remove rest_interval",
        )
    return Healthcheck(check, *timing, retries, start, hc.rest_interval or rest)


def _container(resource: DockerResource, project: Project) -> str:
    """The container's name on the engine: the resource's under fixed naming, else its own
    ``container_name`` or Compose's ``<project>-<service>-1``."""
    if project.fixed_names:
        if resource.container_name not in (None, resource.name):
            raise DeclarationError(
                resource.name,
                "container_name",
                f"every container is named after its resource here, and this one would be {resource.container_name!r}",
                'declare ProjectSettings(container_names="compose") to name containers yourself',
            )
        return resource.name
    return resource.container_name or f"{project.name}-{resource.name}-1"


def _set_password(resource: DockerResource, engine: Engine | None, service: Service, project: Project) -> None:
    """``password=``: the engine puts it where its server, a connection's URL and the probe
    read it (``Engine.with_password``)."""
    if engine is None:
        raise DeclarationError(
            resource.name,
            "password",
            f"clockwork sets the password of the engines it knows, and {resource.image or 'a built image'} is not one",
            "set it the way the image reads it, in env_vars or command",
        )
    if resource.password == "":
        raise DeclarationError(resource.name, "password", "is empty", 'give a password, e.g. Secret("CACHE_PASSWORD")')
    if resource.entrypoint is not None:
        raise DeclarationError(
            resource.name,
            "password",
            "password= runs the server through the image's own entrypoint, and entrypoint replaces it",
            "remove entrypoint, or set the password in your own command",
        )
    assert resource.password is not None
    if _lower_fields.as_text(service.command) != service.command:
        raise DeclarationError(
            resource.name, "command", "password= rewrites the command, and this one holds an Env", "remove the Env"
        )
    password = _env_value(resource.password, project)
    try:
        service.environment, service.command = engine.with_password(
            password, service.environment, service.command, _lower_fields.image(resource)
        )
    except Refusal as exc:
        raise DeclarationError(resource.name, "password", exc.problem, exc.fix) from None


def _check(test: Sequence[EnvValue] | str | Interpolation) -> Check:
    """A healthcheck ``test`` in Docker's forms (a shell string, or a list starting CMD or
    CMD-SHELL) as the model's typed check."""
    if isinstance(test, str | Interpolation):
        return ShellCheck(test)
    if test and test[0] == "CMD-SHELL" and all(isinstance(part, str) for part in test[1:]):
        return ShellCheck(" ".join(str(part) for part in test[1:]))
    if test and test[0] == "CMD-SHELL" and all(isinstance(part, str | Interpolation) for part in test[1:]):
        return ShellCheck(_lower_fields.joined(test[1:]))
    return CommandCheck(tuple(test[1:]) if test and test[0] == "CMD" else tuple(test))


def _dockerfile(build: Build | None, ctx: Context) -> Path | None:
    if build is None:
        return None
    return (ctx.project_dir / build.context / (build.dockerfile or "Dockerfile")).resolve()


def _data_volumes(project: Project) -> None:
    """Keep each database's data in the named volume ``<name>_data``: it depends on the
    resource's own name only, so no edit to other resources ever moves its data. A volume
    declared by hand with that name, on any resource, is an error naming both."""
    generated: dict[str, str] = {}
    for service in project.ordered():
        engine = engine_for_image(service.image) if service.role is Role.DATABASE else None
        if engine is None or any(_normal_target(m.target) == engine.data_dir for m in service.mounts):
            continue
        generated[f"{service.name}_data"] = service.name
        service.mounts.append(Mount("volume", f"{service.name}_data", engine.data_dir))
    for service in project.ordered():
        for mount in service.mounts:
            owner = generated.get(mount.source) if mount.kind == "volume" else None
            if owner is not None and (owner != service.name or _normal_target(mount.target) != _data_dir(service)):
                raise DeclarationError(
                    service.name,
                    "volumes",
                    f"volume {mount.source!r} is also the data volume clockwork makes for {owner}",
                    f"give the volume of {service.name} another name",
                )
    _one_server_per_data_volume(project)


def _one_server_per_data_volume(project: Project) -> None:
    """A named volume (or a project folder) holds the data of one server. Two databases
    that mount one where they keep their data would both initialise it, and both serve it;
    so would any other service mounting a database's data where an engine keeps its data.
    An error naming both; a database's volume mounted elsewhere (a backup job's folder) is
    fine."""
    data_dirs = {engine.data_dir for engine in CATALOG}
    owners: dict[tuple[str, str], tuple[str, str]] = {}
    for service in project.ordered():
        own = _data_dir(service)
        for mount in service.mounts:
            target = _normal_target(mount.target)
            if not own or not (own == target or own.startswith(target.rstrip("/") + "/")):
                continue
            key = (mount.kind, mount.source)
            if key in owners:
                _shared_data(service.name, mount, target, owners[key])
            owners[key] = (service.name, target)
    for service in project.ordered():
        for mount in service.mounts:
            owner = owners.get((mount.kind, mount.source))
            target = _normal_target(mount.target)
            if owner is not None and owner[0] != service.name and target in data_dirs:
                _shared_data(service.name, mount, target, owner)


def _shared_data(service: str, mount: Mount, target: str, owner: tuple[str, str]) -> None:
    other, where = owner
    what = f"volume {mount.source!r}" if mount.kind == "volume" else f"folder {mount.source!r}"
    raise DeclarationError(
        service,
        "volumes",
        f"{what} is where {other} keeps its data ({where}), and {service} mounts it at {target} too: "
        "two servers would keep their data in one place, and race to initialise it",
        f'give each its own volume, e.g. volumes=["{service}_data:{target}"] on {service}',
    )


def _data_dir(service: Service) -> str:
    engine = engine_for_image(service.image) if service.role is Role.DATABASE else None
    return engine.data_dir if engine else ""


def _once(
    resource: str, field: str, specs: Sequence[str], items: list[T], key: Callable[[T], object] | None = None
) -> list[T]:
    """``items`` (parsed from ``specs``), refusing two with the same ``key``: Compose would."""
    seen: dict[object, str] = {}
    for spec, item in zip(specs, items, strict=False):
        mark = item if key is None else key(item)
        if mark in seen:
            raise DeclarationError(
                resource, field, f"{spec!r} repeats {seen[mark]!r}", f"list each of {field} once: remove one"
            )
        seen[mark] = spec
    return items


def _normal_target(target: str) -> str:
    """A container path as the engine compares mount points: ``/data/``, ``/data/.`` and
    ``//data`` are all ``/data``, and two mounts there are one too many."""
    import posixpath

    normal = posixpath.normpath(target)
    return "/" + normal.lstrip("/")


def _argv_words(value: str | EnvText | list[str] | None) -> list[str]:
    """A command as words, a string split as a shell would (or at blanks, when it cannot be)."""
    if isinstance(value, EnvText):
        value = value.with_defaults()
    if isinstance(value, list) or value is None:
        return list(value or [])
    import shlex

    try:
        return shlex.split(value)
    except ValueError:
        return value.split()


def _argv(value: str | list[str] | None) -> tuple[str, ...] | str | None:
    return tuple(value) if isinstance(value, list) else value


def _env_value(value: str | Secret | Env | EnvText | None, project: Project) -> EnvValue:
    if value is None:
        return PASSED
    if isinstance(value, Env | EnvText):
        return _lower_fields.interpolation(value)
    if isinstance(value, Secret):
        project.env_file[value.name] = EnvEntry((SecretPart(value.name),))
        return SecretRef(value.name)
    return value


def _check_watch(resource: DockerResource, service: Service) -> None:
    """Watch rules need an image clockwork builds: Compose (2.26) watches only the services
    it builds, and a rebuild needs something to build."""
    if not service.options.watch or service.build is not None:
        return
    rule = service.options.watch[0]
    why = (
        "rebuilds the image, and this resource builds none"
        if rule.action == "rebuild"
        else "needs an image Compose builds (docker compose watch skips services it does not build)"
    )
    base = f" FROM {service.image}" if service.image else ""
    raise DeclarationError(
        resource.name,
        "watch",
        f"{rule.action} of {rule.path!r} {why}",
        f'add build="./{resource.name}" with a Dockerfile (e.g. a one-line{base or " FROM <image>"}), or remove watch',
    )


def _build(resource: DockerResource, ctx: Context) -> Build | None:
    spec = resource.build
    if spec is None and resource.image is None:  # an Env image is an image
        dockerfile = ctx.project_dir / resource.name / "Dockerfile"
        if not dockerfile.is_file():
            raise DeclarationError(
                resource.name,
                "image",
                f"no image, no build, and no {resource.name}/Dockerfile in the project",
                f'set image="..." or build="./{resource.name}", or add {resource.name}/Dockerfile',
            )
        spec = f"./{resource.name}"
    if spec is None:
        return None
    if isinstance(spec, str):
        spec = BuildSpec(context=spec)
    context = project_path(
        ctx, spec.context, resource.name, "build", kind="dir", outside=resource.allow_outside_project
    )
    args = tuple(sorted((k, PASSED if v is None else _lower_fields.as_model(v)) for k, v in spec.args.items()))
    return Build(context, spec.dockerfile, args, spec.target)


def project_path(ctx: Context, value: str, resource: str, field: str, *, kind: str, outside: bool = False) -> str:
    """A user path, resolved against the project folder, spelled relative to it ("./x", "."
    or "../x"): each target places it relative to the file it writes.

    A path that leaves the project folder (``..``, an absolute path, a symlink) is an error
    unless the declaration opts in with ``allow_outside_project=True``: a committed compose
    file should not reach into the rest of the machine by accident."""
    if not value or _CONTROL.search(value):
        raise DeclarationError(
            resource, field, f"{value!r} is not a path", "write a path relative to the project folder"
        )
    if kind == "path" and (value == "~" or value.startswith("~/")):
        # The home folder of whoever runs Compose, which expands it there: kept as written.
        if not outside:
            raise DeclarationError(
                resource, field, f"{value!r} is outside the project folder", "pass allow_outside_project=True to opt in"
            )
        return value
    path = _resolved(ctx, value)
    if not outside and not path.is_relative_to(_resolved(ctx, ".")):
        raise DeclarationError(
            resource,
            field,
            f"{value!r} is outside the project folder",
            "use a path inside it, or pass allow_outside_project=True to opt in",
        )
    exists = path.is_dir() if kind == "dir" else path.is_file() if kind == "file" else path.exists()
    inside = path.is_relative_to(_resolved(ctx, "."))
    if not exists and kind == "path" and PurePosixPath(value).is_absolute() and not inside:
        # A host path of the machine the stack runs on: Compose creates it there (an empty
        # folder owned by root). A missing path inside the project is a typo: refused below.
        ctx.warnings.append(
            f"{resource}: {field}: {value!r} does not exist on this machine: Compose creates it, empty, "
            "where the stack runs; create it first if the service needs what it holds"
        )
        return value  # as written: Compose reads it where the stack runs
    if not exists:
        raise DeclarationError(
            resource, field, f"{value!r} does not exist in {ctx.project_dir}", f"create the {kind} or fix the path"
        )
    if PurePosixPath(value).is_absolute() and not path.is_relative_to(_resolved(ctx, ".")):
        # A host path (/var/run/docker.sock) as written: the same on every clone, wherever it is,
        # and not replaced by what a symlink points to on the build machine.
        return os.path.normpath(value)
    relative = PurePosixPath(Path(os.path.relpath(path, _resolved(ctx, "."))).as_posix())
    return "." if str(relative) == "." else (str(relative) if str(relative).startswith("..") else f"./{relative}")


def _port_of(resource: str, spec: str | PortSpec | EnvText) -> Port:
    if isinstance(spec, EnvText):
        return _lower_fields.interpolated_port(resource, spec)
    return _lower_fields.port(resource, spec) if isinstance(spec, PortSpec) else _port(resource, spec)


def _mount_of(resource: DockerResource, spec: str | MountSpec, ctx: Context, project: Project) -> Mount:
    if isinstance(spec, MountSpec):
        return _lower_fields.mount(resource, spec, ctx, project)
    if spec.startswith("/") and ":" not in spec:  # Compose's short syntax for an anonymous volume
        return dataclasses.replace(_mount(resource, f"anonymous:{spec}", ctx), source="")
    return _mount(resource, spec, ctx)


def _port(resource: str, spec: str) -> Port:
    match = _PORT.fullmatch(spec)
    fix = 'write "HOST:CONTAINER", "IP:HOST:CONTAINER" or "CONTAINER", ports 1-65535, optional /tcp or /udp'
    if match is None or (match["ip"] and not match["host"]):
        raise DeclarationError(resource, "ports", f"{spec!r} is not a port mapping", fix)
    if match["ip"] and not _ip_address(match["ip"].strip("[]")):
        raise DeclarationError(
            resource,
            "ports",
            f"{spec!r}: {match['ip']} is not an IP address",
            'give an IPv4 address such as "127.0.0.1:8080:80", or an IPv6 one in brackets, e.g. "[::1]:8080:80"',
        )
    numbers = [int(n) for n in (match["host"], match["container"]) if n is not None]
    if any(not 1 <= n <= 65535 for n in numbers):
        raise DeclarationError(resource, "ports", f"{spec!r} has a port out of range", fix)
    host = int(match["host"]) if match["host"] else None
    return Port(int(match["container"]), host, match["ip"], match["protocol"] or "tcp")


def _ip_address(text: str) -> bool:
    import ipaddress  # only for ports that name an address: keeps it off the start-up path

    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def _mount(resource: DockerResource, spec: str, ctx: Context) -> Mount:
    fix = 'write "NAME:/path", "./relative/path:/path" and optionally ":ro"'
    parts = spec.split(":")
    if len(parts) not in (2, 3) or (len(parts) == 3 and parts[2] not in ("ro", "rw")):
        raise DeclarationError(resource.name, "volumes", f"{spec!r} is not a volume mapping", fix)
    source, target = parts[0], parts[1]
    read_only = len(parts) == 3 and parts[2] == "ro"
    if not target.startswith("/") or _CONTROL.search(target):
        raise DeclarationError(resource.name, "volumes", f"{spec!r}: the container path must be absolute", fix)
    if source.startswith((".", "/", "~")):
        path = project_path(ctx, source, resource.name, "volumes", kind="path", outside=resource.allow_outside_project)
        return Mount("bind", path, target, read_only)
    if not _VOLUME_NAME.fullmatch(source):
        raise DeclarationError(resource.name, "volumes", f"{source!r} is not a valid volume name", fix)
    return Mount("volume", source, target, read_only)


def _network(resource: str, name: str) -> str:
    if not _NETWORK_NAME.fullmatch(name):
        raise DeclarationError(
            resource, "networks", f"{name!r} is not a valid network name", "use letters, digits, '-', '_', '.'"
        )
    return name


# -- databases ------------------------------------------------------------------------------


def _engine(resource: DockerResource) -> Engine | None:
    return engine_for_image(_lower_fields.image(resource))


def _credentials(resource: DockerResource, engine: Engine, project: Project) -> Credentials:
    service = project.services[resource.name]
    return engine.credentials(service.environment, _lower_fields.as_text(service.command))


def _readiness(resources: Iterable[DockerResource], project: Project, rest: float) -> None:
    """Give every known engine a healthcheck that is true only once it serves over TCP.

    Retries add up to the longest `timeout` any connection to it asks for; once ready, it
    is checked every ``rest`` seconds."""
    timeouts: dict[str, int] = {}
    for resource in resources:
        for target in resource.connections:
            if isinstance(target, DatabaseConnection):
                name = target.to_resource.name
                timeouts[name] = max(timeouts.get(name, 0), target.timeout)
    for resource in resources:
        engine = _engine(resource)
        service = project.services[resource.name]
        if engine is None or service.healthcheck is not None:
            continue
        timeout = timeouts.get(resource.name, DEFAULT_READY_TIMEOUT)
        creds = _credentials(resource, engine, project)
        test = engine.readiness(creds, _container_port(resource, engine), _lower_fields.image(resource))
        retries = max(1, math.ceil(timeout / PROBE_INTERVAL))
        probe_timeout = engine.probe_timeout or PROBE_TIMEOUT
        service.healthcheck = Healthcheck(_check(test), PROBE_INTERVAL, probe_timeout, retries, rest_interval=rest)


def _container_port(resource: DockerResource, engine: Engine | None) -> int:
    """The port clients use inside the network: the engine's port if mapped, else the first
    mapping that is not one of the engine's other ports (a management UI, say)."""
    ports = [_port_of(resource.name, spec) for spec in resource.ports]
    if engine:
        ports = [p for p in ports if p.container not in engine.other_ports]
    if engine and any(p.container == engine.default_port for p in ports):
        return engine.default_port
    if ports:
        return ports[0].container
    if engine:
        return engine.default_port
    raise DeclarationError(
        resource.name, "ports", "a connection needs a port, and this resource has none", 'add ports=["PORT"]'
    )


def _host_port(resource: DockerResource, container_port: int) -> int | None:
    for spec in resource.ports:
        port = _port_of(resource.name, spec)
        if port.container == container_port and port.host is not None:
            return port.host
    return None


# -- connections ----------------------------------------------------------------------------


def _connect(
    consumer: DockerResource, target: DockerResource | DatabaseConnection, ctx: Context, project: Project
) -> None:
    resource = target.to_resource if isinstance(target, DatabaseConnection) else target
    if resource is consumer:
        raise DeclarationError(consumer.name, "connect", "a resource cannot depend on itself", "remove this connect()")
    service = project.services[consumer.name]
    if isinstance(target, DatabaseConnection):
        _database_connection(consumer, target, project)
        return
    dependency = project.services[resource.name]
    wanted, inject, restart = consumer.connect_options(resource)
    condition = _condition(consumer, wanted, dependency)
    engine = _engine(resource) if inject else None
    reason = "connect"
    if engine and engine.url_env_var not in consumer.env_vars and engine.url_env_var in service.environment:
        _one_url_per_variable(consumer, resource, engine.url_env_var, service)
    elif engine and engine.url_env_var not in consumer.env_vars:
        creds = _credentials(resource, engine, project)
        port = _container_port(resource, engine)
        url = _url(consumer.name, "connect", engine.url(creds), creds, resource.name, port, project, engine.url_env_var)
        service.environment[engine.url_env_var] = url
        reason = engine.url_env_var
    service.wait_for(resource.name, condition, reason, restart=restart)


def _condition(consumer: DockerResource, wanted: str | None, dependency: Service) -> Condition:
    """What ``connect(..., condition=)`` waits for; by default, healthy when it can be."""
    if wanted is None:
        return Condition.HEALTHY if dependency.healthcheck else Condition.STARTED
    if wanted == "service_healthy" and dependency.healthcheck is None:
        raise DeclarationError(
            consumer.name,
            "connect",
            f"waits for {dependency.name} to be healthy, and {dependency.name} has no healthcheck",
            f'give {dependency.name} readiness=... or connect with condition="service_started"',
        )
    return {"service_started": Condition.STARTED, "service_healthy": Condition.HEALTHY}.get(wanted, Condition.COMPLETED)


def refuse_restarts(project: Project, target: str) -> None:
    """``connect(..., restart=True)``: Compose restarts the dependent service after its
    dependency; Swarm and Kubernetes have no such edge, so they refuse it rather than drop it."""
    for service in project.ordered():
        for dep in sorted(service.depends_on.values(), key=lambda d: d.target):
            if dep.restart:
                raise DeclarationError(
                    service.name,
                    "connect",
                    f"restarts after {dep.target} (restart=True), which {target} cannot do",
                    "build for compose, or connect without restart=",
                )


def refuse_one_shot_waits(project: Project, target: str) -> None:
    """``connect(..., condition="service_completed_successfully")`` on a service that is not
    a migrator: only Compose waits for a plain service to exit 0 (Swarm and Kubernetes run
    it as a service, which never completes), so other targets refuse it rather than wait less."""
    for service in project.ordered():
        for dep in service.depends_on.values():
            if dep.condition is Condition.COMPLETED and project.services[dep.target].role is not Role.MIGRATOR:
                raise DeclarationError(
                    service.name,
                    "connect",
                    f"waits for {dep.target} to complete (service_completed_successfully), which {target} cannot do "
                    "for a service",
                    "build for compose, or connect without condition=",
                )


def _one_url_per_variable(consumer: DockerResource, resource: DockerResource, variable: str, service: Service) -> None:
    """A plain connect() whose URL variable another connection already set: fine when it is
    the same resource (connected twice), an error when it is another one."""
    owner = next((d.target for _, d in sorted(service.depends_on.items()) if variable in d.reasons), None)
    if owner is None or owner == resource.name:
        return
    suggested = re.sub(r"[^A-Z0-9]+", "_", resource.name.upper()).strip("_") + "_URL"
    raise DeclarationError(
        consumer.name,
        "connect",
        f"{owner} and {resource.name} would both set {variable}",
        f"connect one of them with DatabaseConnection(to_resource={resource.name}, "
        f'env_var_name="{suggested}") to give it its own variable',
    )


def _database_connection(consumer: DockerResource, conn: DatabaseConnection, project: Project) -> None:
    resource = conn.to_resource
    service = project.services[consumer.name]
    engine = _engine(resource)
    defaults = _credentials(resource, engine, project) if engine else Credentials("", "", "")
    template = conn.connection_string_template or (engine.url(defaults) if engine else None)
    if template is None:
        raise DeclarationError(
            consumer.name,
            "connection_string_template",
            f"{resource.image or resource.name!r} is not an engine clockwork knows",
            'give connection_string_template="scheme://{user}:{password}@{host}:{port}/{database}"',
        )
    creds = Credentials(
        _env_value(conn.username, project) if conn.username is not None else defaults.user,
        _env_value(conn.password, project) if conn.password is not None else defaults.password,
        conn.database_name if conn.database_name is not None else defaults.database,
    )
    port = _container_port(resource, engine)
    if conn.env_var_name in consumer.env_vars:
        raise DeclarationError(
            consumer.name,
            "env_vars",
            f"{conn.env_var_name} is set both in env_vars and by a DatabaseConnection",
            "remove it from env_vars or give the connection another env_var_name",
        )
    if conn.env_var_name in service.environment:
        raise DeclarationError(
            consumer.name,
            "env_var_name",
            f"two connections set {conn.env_var_name}",
            'give one of them another env_var_name, e.g. env_var_name="ANALYTICS_DATABASE_URL"',
        )
    url = _url(
        consumer.name, "connection_string_template", template, creds, resource.name, port, project, conn.env_var_name
    )
    service.environment[conn.env_var_name] = url
    condition = Condition.HEALTHY if conn.wait_for_ready else Condition.STARTED
    if condition is Condition.HEALTHY and project.services[resource.name].healthcheck is None:
        condition = Condition.STARTED
    service.wait_for(resource.name, condition, conn.env_var_name)
    project.databases.append(
        DatabaseTarget(
            consumer=consumer.name,
            service=resource.name,
            engine=engine.name if engine else "unknown",
            env_var=conn.env_var_name,
            user=creds.user,
            password=creds.password,
            database=creds.database,
            container_port=port,
            host_port=_host_port(resource, port),
            migrations=None,
            snapshot=conn.snapshot,
        )
    )


def _url(
    consumer: str, field: str, template: str, creds: Credentials, host: str, port: int, project: Project, env_var: str
) -> EnvValue:
    """Fill a URL template; secrets make it a .env entry, so the value never reaches the file."""
    values: dict[str, EnvValue] = {
        "user": creds.user,
        "password": creds.password,
        "host": host,
        "port": str(port),
        "database": creds.database,
    }
    parts: list[str | SecretPart] = []
    try:
        parsed = list(string.Formatter().parse(template))
    except ValueError as exc:
        raise DeclarationError(
            consumer, field, f"{template!r} is not a valid template ({exc})", "write {{ and }} for literal braces"
        ) from None
    for literal, placeholder, spec, conversion in parsed:
        parts.append(literal)
        if placeholder is None:
            continue
        if placeholder not in values or spec or conversion:
            raise DeclarationError(
                consumer,
                field,
                f"unknown placeholder {{{placeholder}{'!' + conversion if conversion else ''}"
                f"{':' + spec if spec else ''}}}",
                "use only " + " ".join(f"{{{name}}}" for name in PLACEHOLDERS),
            )
        value = values[placeholder]
        encode = placeholder in ("user", "password", "database")
        if isinstance(value, Interpolation):
            # Compose completes it where the stack runs, and cannot URL-encode what it reads.
            raise DeclarationError(
                consumer,
                field,
                f"the URL in {env_var} needs {host}'s {placeholder}, which its env_vars leave to Compose (Env)",
                f"give {host} the {placeholder} as Secret(...) (read from the environment or .env, URL-encoded), "
                f"or set {env_var} yourself in env_vars",
            )
        if isinstance(value, SecretRef):
            parts.append(SecretPart(value.variable, url_encoded=encode))
        else:
            parts.append(quote(value, safe="") if encode else value)
    if all(isinstance(p, str) for p in parts):
        return "".join(p for p in parts if isinstance(p, str))
    variable = re.sub(r"[^A-Z0-9]+", "_", f"CLOCKWORK_{consumer}_{env_var}".upper())
    if variable in project.env_file:
        # Names that differ only in case or in - _ . fold to one variable: never share it.
        other = next(
            (
                f"{s.name} {key}"
                for s in project.ordered()
                for key, value in sorted(s.environment.items())
                if value == SecretRef(variable)
            ),
            f"Secret({variable!r})",
        )
        raise DeclarationError(
            consumer,
            field,
            f"its {env_var} would be kept in .env as {variable}, and so would {other}",
            f"rename {consumer} (or the other) so that their names differ in more than '-', '_' and '.'",
        )
    project.env_file[variable] = EnvEntry(tuple(p for p in parts if p != ""))
    return SecretRef(variable)


# -- migrators ------------------------------------------------------------------------------


def _migrators(
    resources: Sequence[DockerResource], by_name: dict[str, DockerResource], ctx: Context, project: Project
) -> None:
    """One one-shot migrator per migrated database, shared by every consumer of it."""
    plans: dict[str, tuple[DockerResource, DatabaseConnection]] = {}
    for consumer in sorted(resources, key=lambda r: r.name):
        for conn in consumer.connections:
            if not isinstance(conn, DatabaseConnection) or not (conn.schema_file or conn.migrations_dir):
                continue
            database = conn.to_resource.name
            if database in plans:
                plans[database] = _same_migrations(plans[database], (consumer, conn), ctx)
            else:
                plans[database] = (consumer, conn)
    if not plans:
        return
    # Indexes built once, so the cost stays linear in the number of services.
    targets: dict[str, list[int]] = {}
    for index, target in enumerate(project.databases):
        targets.setdefault(target.service, []).append(index)
    consumers: dict[str, list[str]] = {}
    for service in project.ordered():
        for dependency in service.depends_on:
            consumers.setdefault(dependency, []).append(service.name)
    for database, (consumer, conn) in sorted(plans.items()):
        _migrator(by_name[database], consumer, conn, ctx, project, targets[database], consumers[database])


def snapshot_volume(database: str) -> str:
    """The volume (before Compose's project prefix) that holds a database's snapshots."""
    return f"{database}_snapshots"


def _snapshot_volumes(project: Project) -> None:
    """``snapshot=True`` asks for a dump before migrations run: refused where there are none,
    or where the engine has no dump; the volume is declared so that Compose owns it."""
    for target in project.databases:
        if not target.snapshot:
            continue
        engine = engine_named(target.engine)
        if engine is None or engine.snapshots is None:
            raise DeclarationError(
                target.consumer,
                "snapshot",
                f"clockwork cannot dump {target.service} ({target.engine}): snapshots are for PostgreSQL and "
                "MariaDB/MySQL",
                "remove snapshot=True",
            )
        if target.migrations is None:
            raise DeclarationError(
                target.consumer,
                "snapshot",
                f"a snapshot is taken before migrations run, and this connection to {target.service} declares none",
                "add migrations_dir=... or remove snapshot=True",
            )


def _same_migrations(
    first: tuple[DockerResource, DatabaseConnection], other: tuple[DockerResource, DatabaseConnection], ctx: Context
) -> tuple[DockerResource, DatabaseConnection]:
    """The migrator's settings from two connections to one database: a value one of them
    leaves unset comes from the other; two different values are an error naming both."""
    (a, ca), (b, cb) = first, other
    merged: dict[str, object] = {}
    for field in ("schema_file", "migrations_dir", "migrations_convention", "variables"):
        mine, theirs = getattr(ca, field), getattr(cb, field)
        if not theirs or mine == theirs:
            continue
        if not mine:
            merged[field] = theirs
            continue
        if field.endswith(("_file", "_dir")) and _resolved(ctx, mine) == _resolved(ctx, theirs):
            continue
        raise DeclarationError(
            b.name,
            field,
            f"{a.name} and {b.name} give {ca.to_resource.name} different {field} ({mine!r} vs {theirs!r})",
            "a database has one schema, one migrations folder and one set of variables: "
            "use the same values in both connections, or declare them in one",
        )
    return (a, ca.model_copy(update=merged)) if merged else first


def _resolved(ctx: Context, value: str) -> Path:
    """``value`` resolved against the project folder (symlinks too), once per build."""
    path = ctx.resolved.get(value)
    if path is None:
        path = ctx.resolved[value] = (ctx.project_dir / value).resolve()
    return path


def _migrator(
    database: DockerResource,
    consumer: DockerResource,
    conn: DatabaseConnection,
    ctx: Context,
    project: Project,
    targets: list[int],
    consumers: list[str],
) -> None:
    engine = _engine(database)
    name = f"{database.name}-migrator"
    if engine is None or engine.migrator is None:
        raise DeclarationError(
            consumer.name,
            "schema_file" if conn.schema_file else "migrations_dir",
            f"clockwork runs schema files and migrations for {', '.join(with_migrations())} only, "
            f"and {database.name} runs {database.image or 'a built image'}",
            "remove schema_file/migrations_dir from this connection",
        )
    if name in project.services:
        raise DeclarationError(
            name, "name", f"this name is taken by the migrator of {database.name}", "rename the resource"
        )
    target = next(project.databases[i] for i in targets if project.databases[i].consumer == consumer.name)
    creds = Credentials(target.user, target.password, target.database)
    environment = engine.migrator.environment(database.name, target.container_port, creds)
    mounts, plan = _migration_plan(conn, consumer, ctx, project, environment, engine)
    source = project.services[database.name]
    project.services[name] = Service(
        name=name,
        role=Role.MIGRATOR,
        description=f"Applies the schema and migrations of {database.name}, then exits",
        engine=engine.name,
        image=source.image,
        build=source.build,
        entrypoint=_migrator_entrypoint(engine),
        command=tuple(plan.arguments()),
        environment=environment,
        mounts=mounts,
        # The image declares its data dir a VOLUME: without this, every migrator container
        # would leave an anonymous volume behind.
        tmpfs=[engine.data_dir],
        networks=[NETWORK] if project.shared_network else list(source.networks),
        container_name=name if project.fixed_names else None,
        container=name if project.fixed_names else f"{project.name}-{name}-1",
        options=Options(profiles=source.options.profiles),
        restart=Restart.NO,
        depends_on={database.name: Dependency(database.name, Condition.HEALTHY, ("database ready",))},
        migrator=MigratorJob(database.name, plan, plan.digest(), tuple(mounts)),
    )
    migrations = Migrations(
        database.name,
        conn.schema_file,
        conn.migrations_dir,
        tuple(s.version for s in plan.steps if s.kind != "schema"),
        plan,
    )
    for i in targets:
        project.databases[i] = dataclasses.replace(project.databases[i], migrations=migrations)
    for consumer_name in consumers:
        project.services[consumer_name].wait_for(name, Condition.COMPLETED, "schema and migrations")


def _check_query_urls(resource: DockerResource) -> None:
    """A DatabaseQuery's url goes to the engine its scheme names: one that names none is
    refused at build, not at assert."""
    for assertion in resource.assertions:
        url = getattr(assertion, "url", None)
        if getattr(assertion, "kind", None) == "database_query" and url and engine_for_url(url) is None:
            problem, fix = unknown_scheme(url)
            raise DeclarationError(resource.name, "assertions", f"DatabaseQuery {problem}", fix)


def _migrator_entrypoint(engine: Engine) -> tuple[str, ...]:
    from ._migrator import migrator_entrypoint

    return tuple(migrator_entrypoint(engine))


def _migration_plan(
    conn: DatabaseConnection,
    consumer: DockerResource,
    ctx: Context,
    project: Project,
    environment: dict[str, EnvValue],
    engine: Engine,
) -> tuple[list[Mount], Plan]:
    """The migrator's mounts and its plan (``_migrations`` decides everything about the files)."""
    from . import _migrations

    mounts: list[Mount] = []
    schema = folder = None
    if conn.schema_file:
        source = project_path(
            ctx, conn.schema_file, consumer.name, "schema_file", kind="file", outside=conn.allow_outside_project
        )
        schema = _resolved(ctx, conn.schema_file)
        target = f"{_migrations.ROOT}/{_migrations.SCHEMA}/{PurePosixPath(conn.schema_file).name}"
        mounts.append(Mount("bind", source, target, read_only=True))
    if conn.migrations_dir:
        source = project_path(
            ctx, conn.migrations_dir, consumer.name, "migrations_dir", kind="dir", outside=conn.allow_outside_project
        )
        folder = _resolved(ctx, conn.migrations_dir)
        mounts.append(Mount("bind", source, f"{_migrations.ROOT}/{_migrations.MIGRATIONS}", read_only=True))
    values: dict[str, str] = {}
    secrets: dict[str, str] = {}
    for name in conn.deprecated_fields:
        project.warnings.append(
            f"{consumer.name}: DatabaseConnection({name}=...) is deprecated: rename it to variables"
        )
    for name, value in sorted(conn.variables.items()):
        if isinstance(value, Secret):
            variable = f"CLOCKWORK_VAR_{name.upper()}"
            environment[variable] = _env_value(value, project)
            secrets[name] = variable
        else:
            values[name] = value
    try:
        plan = _migrations.plan_for(
            folder,
            schema,
            convention=conn.migrations_convention,
            variables=values,
            env_variables=secrets,
            engine=engine,
        )
    except _migrations.MigrationError as exc:
        field = "schema_file" if schema is not None and exc.where.split(":")[0] == schema.name else "migrations_dir"
        read_as = f" (read as {exc.convention} migrations)" if exc.convention else ""
        raise DeclarationError(consumer.name, field, f"{exc.where}: {exc.problem}{read_as}", exc.fix) from None
    return mounts, plan


# -- checks ---------------------------------------------------------------------------------


def _check_cycles(project: Project) -> None:
    graph = {name: sorted(s.depends_on) for name, s in project.services.items()}
    cycle = _graph.find_cycle(graph)
    if cycle:
        raise DeclarationError(
            cycle[0], "connect", f"dependency cycle {' -> '.join(cycle)}", "remove one connect() in the cycle"
        )


def _check_host_ports(project: Project) -> None:
    taken: dict[tuple[int, str], tuple[str, str | None]] = {}
    for service in project.ordered():
        for port in service.ports:
            if port.host is None:
                continue
            key = (port.host, port.protocol)
            if key in taken:
                owner, ip = taken[key]
                if ip is None or port.host_ip is None or ip == port.host_ip:
                    raise DeclarationError(
                        service.name,
                        "ports",
                        f"host port {port.host}/{port.protocol} is already published by {owner}",
                        "publish each host port once: pick another host port",
                    )
            taken[key] = (service.name, port.host_ip)


#: Healthcheck timing as the engine takes it: 0 (for start_period) or at least a millisecond,
#: and written as Compose reads a duration ("1.5s", never "1e+06s").
_MIN_DURATION = 0.001
_MAX_RETRIES = 2**31 - 1


def _check_durations(resources: Sequence[DockerResource]) -> None:
    for resource in sorted(resources, key=lambda r: r.name):
        for field in ("healthcheck", "readiness"):
            probe = getattr(resource, field, None)
            if probe is None:
                continue
            for name in ("interval", "timeout", "start_period", "rest_interval"):
                value = getattr(probe, name, None)
                if value is None or isinstance(value, Env) or (name == "start_period" and value == 0):
                    continue
                if not (math.isfinite(value) and value >= _MIN_DURATION and "e" not in f"{value:g}"):
                    raise DeclarationError(
                        resource.name,
                        f"{field}.{name}",
                        f"{value!r} seconds cannot be written as a Compose duration",
                        "give seconds from 0.001 to 999999, e.g. 1 or 0.5",
                    )
            retries = getattr(probe, "retries", None)
            if isinstance(retries, int) and retries > _MAX_RETRIES:
                raise DeclarationError(
                    resource.name,
                    f"{field}.retries",
                    f"{retries} retries is more than the engine takes",
                    "give at most 2147483647",
                )


def _warn_plain_passwords(resources: Sequence[DockerResource], project: Project) -> None:
    """One warning for every password written as a plain string: it will be committed in clear."""
    places = []
    for resource in sorted(resources, key=lambda r: r.name):
        if isinstance(resource.password, str) and resource.password:
            places.append(f"{resource.name} password")
        words = [w for w in _argv_words(resource.command) if isinstance(w, str)]
        for option in _PASSWORD_OPTIONS:
            if any(w == option or w.startswith(option + "=") for w in words):
                places.append(f"{resource.name} command {option}")
        for key, value in sorted(resource.env_vars.items()):
            if isinstance(value, str) and value and _PASSWORD_NAME.search(key) and not key.endswith("_FILE"):
                places.append(f"{resource.name} env_vars[{key!r}]")
        for conn in resource.connections:
            if isinstance(conn, DatabaseConnection) and isinstance(conn.password, str) and conn.password:
                places.append(f"{resource.name} DatabaseConnection(to_resource={conn.to_resource.name}).password")
    if places:
        shown = ", ".join(places[:3]) + (f" and {len(places) - 3} more" if len(places) > 3 else "")
        project.warnings.append(
            f"plain-text password in {shown} will be committed in clear in the compose file; "
            'use Secret("NAME") instead, e.g. password=Secret("DB_PASSWORD"), and set NAME in the environment or .env'
        )
