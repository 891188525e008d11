"""Lowering of the Compose fields (``_fields``): declarations -> ``_model.Options``, declared
volumes, networks, file secrets and configs, and interpolations.

Called by ``_lower`` for each resource; checks what spans resources here (one name, one
definition), with the same one-line errors.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from ._declarations import DockerResource, Secret
from ._errors import DeclarationError
from ._fields import (
    Config,
    Env,
    EnvText,
    FileSecret,
    Mount,
    Network,
    Port,
    Rebuild,
    Sync,
    SyncRestart,
    Volume,
    size_bytes,
)
from ._model import (
    FileObject,
    Interpolation,
    NamedNetwork,
    NamedVolume,
    Options,
    Project,
    Resources,
    Var,
    WatchRule,
)
from ._model import Ipam as ModelIpam
from ._model import Mount as ModelMount
from ._model import Port as ModelPort

if TYPE_CHECKING:
    from ._lower import Context


def interpolation(value: Env | EnvText) -> Interpolation:
    parts = value.parts if isinstance(value, EnvText) else (value,)
    return Interpolation(
        tuple(p if isinstance(p, str) else Var(p.name, p.default, p.required, p.keep_empty) for p in parts if p != "")
    )


def test_words(test: list[str | Env | EnvText] | str | EnvText) -> list[str | Interpolation] | str | Interpolation:
    """A HealthCheck's ``test`` with its Env words as the Interpolations Compose completes."""
    if isinstance(test, Env | EnvText):
        return interpolation(test)
    if isinstance(test, str):
        return test
    return [interpolation(w) if isinstance(w, Env | EnvText) else w for w in test]


def joined(words: Sequence[str | Interpolation | Any]) -> Interpolation:
    """Words joined by spaces into one interpolated text (a CMD-SHELL script)."""
    parts: list[Any] = []
    for i, word in enumerate(words):
        parts.extend(([" "] if i else []) + (list(word.parts) if isinstance(word, Interpolation) else [word]))
    merged: list[Any] = []
    for part in parts:
        if isinstance(part, str) and merged and isinstance(merged[-1], str):
            merged[-1] += part
        else:
            merged.append(part)
    return Interpolation(tuple(p for p in merged if p != ""))


def image(resource: DockerResource) -> str | None:
    """The image as clockwork reads it (engine, probes): interpolations at their defaults."""
    value = resource.image
    if isinstance(value, Env):
        return value.default
    if isinstance(value, EnvText):
        return value.with_defaults(missing="latest")
    return value


def image_text(resource: DockerResource) -> Interpolation | None:
    value = resource.image
    return interpolation(value) if isinstance(value, Env | EnvText) else None


def interpolated_port(resource: str, spec: EnvText) -> ModelPort:
    """``Env("BIND") + ":80/tcp"``: Compose's short syntax whose host part (a port, or an
    address and a port) is completed where the stack runs."""
    import re

    tail = spec.parts[-1] if spec.parts and isinstance(spec.parts[-1], str) else ""
    match = re.fullmatch(r":(\d{1,5})(?:/(tcp|udp|sctp))?", tail)
    head = interpolation(EnvText(parts=spec.parts[:-1])) if match else None
    if (
        match is None
        or head is None
        or not any(isinstance(p, Var) for p in head.parts)
        or ":" in "".join(p for p in head.parts if isinstance(p, str))
    ):
        raise DeclarationError(
            resource,
            "ports",
            f"{shown(interpolation(spec))!r} is not a port mapping with an Env host part",
            'write Env("BIND") + ":80" or Env("BIND") + ":53/udp", the variable holding "8080" or "127.0.0.1:8080"',
        )
    if not 1 <= int(match[1]) <= 65535:
        raise DeclarationError(resource, "ports", f"{match[1]} is not a port", "give a container port 1-65535")
    return ModelPort(int(match[1]), protocol=match[2] or "tcp", host_text=head)


def port(resource: str, spec: Port) -> ModelPort:
    published = spec.published
    host = published if isinstance(published, int) else None
    if isinstance(published, str) and published.isdigit():
        host = int(published)
    other = interpolation(published) if isinstance(published, Env) else None
    if isinstance(published, str) and host is None:
        other = published
    return ModelPort(spec.target, host, spec.host_ip, spec.protocol, spec.mode, other)


def mount(resource: DockerResource, spec: Mount, ctx: Context, project: Project) -> ModelMount:
    from ._lower import project_path

    kind = spec.kind
    if kind == "tmpfs":
        return ModelMount("tmpfs", "", spec.target, spec.read_only)
    if kind == "bind" and isinstance(spec.source, Env | EnvText):
        text = interpolation(spec.source)
        return ModelMount("bind", shown(text), spec.target, spec.read_only, text, spec.selinux)
    if kind == "bind":
        assert isinstance(spec.source, str)
        path = project_path(
            ctx, spec.source, resource.name, "volumes", kind="path", outside=resource.allow_outside_project
        )
        return ModelMount("bind", path, spec.target, spec.read_only, selinux=spec.selinux)
    if isinstance(spec.source, Volume):
        declare_volume(resource.name, spec.source, project)
        return ModelMount("volume", spec.source.name, spec.target, spec.read_only)
    source = spec.source or ""
    if source and not _volume_name(source):
        raise DeclarationError(
            resource.name, "volumes", f"{source!r} is not a valid volume name", "use letters, digits, '-', '_', '.'"
        )
    return ModelMount("volume", source, spec.target, spec.read_only)


def _volume_name(name: str) -> bool:
    import re

    return re.fullmatch(r"[a-zA-Z0-9][a-zA-Z0-9_.-]*", name) is not None


def _pairs(mapping: dict[str, str]) -> tuple[tuple[str, str], ...]:
    return tuple(sorted(mapping.items()))


def declare_volume(resource: str, volume: Volume, project: Project) -> None:
    spec = NamedVolume(
        volume.name,
        volume.external,
        volume.volume_name,
        volume.driver,
        _pairs(volume.driver_opts),
        _pairs(volume.labels),
    )
    _once(resource, "volumes", "Volume", project.volume_specs, volume.name, spec)


def declare_network(resource: str, network: Network, project: Project) -> str:
    spec = NamedNetwork(
        network.name,
        False,
        network.external,
        network.network_name,
        network.driver,
        _pairs(network.driver_opts),
        network.internal,
        _pairs(network.labels),
        ModelIpam(**network.ipam.model_dump()) if network.ipam else None,
    )
    _once(resource, "networks", "Network", project.network_specs, network.name, spec)
    return network.name


def _once(resource: str, field: str, kind: str, specs: dict[str, Any], name: str, spec: object) -> None:
    if specs.setdefault(name, spec) != spec:
        raise DeclarationError(
            resource,
            field,
            f"two different {kind} declarations are named {name!r}",
            f"declare {kind}({name!r}, ...) once and use that object everywhere",
        )


def files(
    resource: DockerResource, items: list[FileSecret] | list[Config], ctx: Context, project: Project
) -> tuple[str, ...]:
    from ._lower import project_path

    field = "secrets" if all(isinstance(i, FileSecret) for i in items) else "configs"
    known = project.secrets if field == "secrets" else project.configs
    names = []
    for item in items:
        path = project_path(ctx, item.file, resource.name, field, kind="file", outside=resource.allow_outside_project)
        digest = hashlib.sha256((ctx.project_dir / path).read_bytes()).hexdigest()[:12]
        _once(resource.name, field, type(item).__name__, known, item.name, FileObject(item.name, path, digest))
        if item.name in names:
            raise DeclarationError(resource.name, field, f"{item.name!r} is listed twice", "list it once")
        names.append(item.name)
    return tuple(names)


def options(resource: DockerResource, ctx: Context, project: Project) -> Options:
    """The resource's Compose fields as the model holds them."""
    from ._lower import project_path

    r = resource
    limit, reserved = (r.limits and r.limits.memory), (r.reservations and r.reservations.memory)
    if limit is not None and reserved is not None and size_bytes(reserved) > size_bytes(limit):
        raise DeclarationError(
            r.name, "reservations.memory", f"reserves {reserved} and is limited to {limit}", "reserve at most the limit"
        )
    if r.pids_limit is not None and r.limits is not None and r.limits.pids not in (None, r.pids_limit):
        raise DeclarationError(
            r.name,
            "pids_limit",
            f"pids_limit={r.pids_limit} and limits.pids={r.limits.pids} differ",
            "keep one of them",
        )
    env_files = tuple(
        project_path(ctx, path, r.name, "env_file", kind="file", outside=r.allow_outside_project) for path in r.env_file
    )
    return Options(
        expose=tuple(as_model(p) if isinstance(p, Env) else str(p) for p in r.expose),
        env_file=env_files,
        profiles=tuple(r.profiles),
        stop_signal=as_model(r.stop_signal),
        stop_grace_period=r.stop_grace_period,
        cap_add=tuple(r.cap_add),
        cap_drop=tuple(r.cap_drop),
        sysctls=tuple(sorted((k, str(v)) for k, v in r.sysctls.items())),
        domainname=as_model(r.domainname),
        platform=as_model(r.platform),
        runtime=as_model(r.runtime),
        network_mode=r.network_mode,
        init=r.init,
        ulimits=tuple(sorted((k, *(v if isinstance(v, tuple) else (v, v))) for k, v in r.ulimits.items())),
        read_only=r.read_only,
        security_opt=tuple(r.security_opt),
        pids_limit=r.pids_limit,
        shm_size=None if r.shm_size is None else str(r.shm_size),
        pull_policy=r.pull_policy,
        extra_hosts=_pairs(r.extra_hosts),
        devices=tuple(r.devices),
        dns=tuple(r.dns),
        privileged=r.privileged,
        tty=r.tty,
        stdin_open=r.stdin_open,
        logging_driver=r.logging.driver if r.logging else None,
        logging_options=_pairs(r.logging.options) if r.logging else (),
        limits=_resources(r, "limits"),
        reservations=_resources(r, "reservations"),
        secrets=files(r, r.secrets, ctx, project),
        configs=files(r, r.configs, ctx, project),
        aliases=tuple(sorted((n, tuple(a)) for n, a in r.network_aliases.items())),
        ipv4_addresses=_pairs(r.ipv4_addresses),
        raw=tuple(sorted((k, raw_value(r.name, f"compose.{k}", v)) for k, v in r.compose.items())),
        watch=tuple(watch_rule(r, rule, ctx) for rule in r.watch),
    )


def watch_rule(resource: DockerResource, rule: Sync | SyncRestart | Rebuild, ctx: Context) -> WatchRule:
    """A watch rule with its path checked (it exists, inside the project folder) and spelled
    relative to the project folder."""
    from ._lower import project_path

    if rule.path == "~" or rule.path.startswith("~/"):
        raise DeclarationError(
            resource.name, "watch", f"{rule.path!r} is not a path of the project", 'write it relative, e.g. "./src"'
        )
    path = project_path(ctx, rule.path, resource.name, "watch", kind="path", outside=resource.allow_outside_project)
    return WatchRule(rule.action, path, getattr(rule, "target", ""), rule.ignore)


def as_model(value: Any) -> Any:
    """``value``, an Env or EnvText as the Interpolation Compose completes."""
    return interpolation(value) if isinstance(value, Env | EnvText) else value


def argv(value: str | EnvText | list[Any] | None) -> tuple[str | Interpolation, ...] | str | Interpolation | None:
    """A command as the model holds it: words, with interpolations where Env stands."""
    if isinstance(value, list):
        return tuple(as_model(v) for v in value)
    return as_model(value)


def as_text(value: tuple[str | Interpolation, ...] | str | Interpolation | None) -> tuple[str, ...] | str | None:
    """A command as an engine reads it (its password options): interpolations as Compose writes them."""
    if isinstance(value, Interpolation):
        return shown(value)
    if isinstance(value, tuple):
        return tuple(shown(v) if isinstance(v, Interpolation) else v for v in value)
    return value


def shown(value: Interpolation) -> str:
    return "".join(p if isinstance(p, str) else f"${{{p.name}}}" for p in value.parts)


def _resources(resource: DockerResource, field: str) -> Resources | None:
    spec = getattr(resource, field)
    if spec is None:
        return None
    if field == "reservations" and spec.pids is not None:
        raise DeclarationError(resource.name, "reservations.pids", "Compose reserves no pids", "set pids in limits=")
    memory = None if spec.memory is None else str(spec.memory)
    return Resources(spec.cpus, memory, spec.pids)


def raw_value(resource: str, field: str, value: Any) -> object:
    """An escape-hatch value as plain data: Env and EnvText become Interpolation."""
    if isinstance(value, Env | EnvText):
        return interpolation(value)
    if isinstance(value, dict):
        return {str(k): raw_value(resource, f"{field}.{k}", v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [raw_value(resource, f"{field}.{i}", v) for i, v in enumerate(value)]
    if value is None or isinstance(value, str | int | float | bool):
        return value
    if isinstance(value, Secret):
        raise DeclarationError(
            resource, field, "a Secret in the escape hatch would be written in clear", "set it in env_vars instead"
        )
    raise DeclarationError(
        resource, field, f"{type(value).__name__} is not YAML data", "give strings, numbers, booleans, lists and dicts"
    )


def _check_addresses(project: Project, service: Any) -> None:
    """A fixed address is on a network the service is on, whose Ipam sets the subnet it is in
    (the engine gives fixed addresses only there), and no two services share one."""
    from ._fields import in_subnet

    for network, address in service.options.ipv4_addresses:
        spec = project.network_specs.get(network)
        if network not in service.networks or spec is None or spec.ipam is None:
            raise DeclarationError(
                service.name,
                "ipv4_addresses",
                f"{address} is on network {network!r}, which {service.name} is not on with a declared subnet",
                f"add Network({network!r}, ipam=Ipam(subnet=...)) to its networks, or remove the address",
            )
        if not in_subnet(address, spec.ipam.subnet):
            raise DeclarationError(
                service.name,
                "ipv4_addresses",
                f"{address} is not in {network}'s subnet {spec.ipam.subnet}",
                "give an address of the subnet",
            )
        other = next(
            (
                s.name
                for s in project.ordered()
                if s.name < service.name and (network, address) in s.options.ipv4_addresses
            ),
            None,
        )
        if other is not None:
            raise DeclarationError(
                service.name, "ipv4_addresses", f"{other} has {address} on {network} already", "give another address"
            )


def check_references(project: Project) -> None:
    """What spans services: aliases on networks the service is on, a network or volume
    name that is both declared and used by a plain string the same way."""
    for service in project.ordered():
        _check_addresses(project, service)
        for network, _ in service.options.aliases:
            if network not in service.networks:
                raise DeclarationError(
                    service.name,
                    "network_aliases",
                    f"{service.name} is not on network {network!r}",
                    f"add it to networks, or remove {network!r} from network_aliases",
                )
        for dependency in sorted(service.depends_on):
            theirs = set(project.services[dependency].options.profiles)
            if theirs and not (service.options.profiles and set(service.options.profiles) <= theirs):
                raise DeclarationError(
                    service.name,
                    "profiles",
                    f"it waits for {dependency}, which runs only with the profiles {', '.join(sorted(theirs))}: "
                    f"without them Compose refuses the file ({service.name} depends on undefined service {dependency})",
                    f"give {service.name} profiles among those of {dependency}, or remove the profiles of {dependency}",
                )
        if service.options.network_mode and service.options.network_mode.startswith("service:"):
            other = service.options.network_mode.split(":", 1)[1]
            if other not in project.services:
                raise DeclarationError(
                    service.name, "network_mode", f"there is no service {other!r}", "name a resource of this project"
                )


#: ``Options`` field -> the DockerResource field that sets it (where the names differ).
_DECLARED_AS = {
    "logging_driver": "logging",
    "logging_options": "logging",
    "aliases": "network_aliases",
    "ipv4_addresses": "ipv4_addresses",
    "raw": "compose",
}


#: Options only `clockwork dev` uses: another target leaves them out, with a warning.
DEV_ONLY = frozenset({"watch"})


def refuse(project: Project, target: str, mapped: frozenset[str], why: str) -> None:
    """A DeclarationError naming the resource and field of the first Compose field that
    ``target`` does not map (``mapped``: the Options fields it takes); a ``DEV_ONLY`` field
    is left out with a warning instead (main.py keeps its dev rules when it deploys)."""
    for service in project.ordered():
        for name in service.options.set_fields():
            if name in DEV_ONLY:
                project.warnings.append(
                    f"{service.name}: {target} ignores {name} (it is for `clockwork dev` and `docker compose watch` "
                    "on the Compose target)"
                )
            elif name not in mapped:
                field = _DECLARED_AS.get(name, name)
                raise DeclarationError(
                    service.name,
                    field,
                    f"is not supported on {target} ({why})",
                    f"remove {field} from {service.name}, or build for compose",
                )
