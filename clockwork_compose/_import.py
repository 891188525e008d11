"""``clockwork import``: a hand-written Compose file -> a main.py that builds the same stack.

``convert`` is pure: a :class:`~._compose_file.ComposeFile` in, the text of main.py and
what the summary says out. Each service becomes one ``DockerResource`` whose fields are the
typed ones wherever they can say what the file says; what they cannot goes, whole per key,
into ``compose={...}`` (the escape hatch) and is listed. Each ``depends_on`` becomes a
``connect()`` with its condition. Values stay where the user keeps them: ``${VAR}`` stays
interpolation (``Env``), ``env_file`` stays a file name, and nothing is read from ``.env``.
An app's URL that is byte for byte the one clockwork derives for a recognised engine
becomes a ``connect()`` (or a ``DatabaseConnection``), so it follows the engine's settings.
"""

from __future__ import annotations

import builtins
import keyword
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import _compose_file
from ._compose_file import ComposeFile, as_mapping
from ._engines import engine_for_image
from ._errors import DeclarationError
from ._pysource import WIDTH, Call, Name, Plus, statement

MAIN = "main.py"

#: Compose's healthcheck timing when the file leaves it out (clockwork's HealthCheck differs).
_HEALTHCHECK_DEFAULTS: dict[str, Any] = {"interval": 30, "timeout": 30, "retries": 3, "start_period": 0}
#: Service keys passed as they are, under the same name, when their value has the type given.
_SAME = {
    "container_name": str,
    "working_dir": str,
    "hostname": str,
    "domainname": str,
    "stop_signal": str,
    "platform": str,
    "runtime": str,
    "network_mode": str,
    "pull_policy": str,
    "init": bool,
    "read_only": bool,
    "privileged": bool,
    "tty": bool,
    "stdin_open": bool,
    "pids_limit": int,
}
#: Service keys that are lists of plain strings.
_STRING_LISTS = ("cap_add", "cap_drop", "security_opt", "dns", "devices", "profiles", "tmpfs")
_RESTARTS = ("no", "always", "on-failure", "unless-stopped")
_CONDITIONS = ("service_started", "service_healthy", "service_completed_successfully")
#: ``${VAR}`` or ``${VAR:-default}`` as the whole value: what ``Env`` writes.
_INTERPOLATION = re.compile(
    r"\$\$|\$\{(?P<braced>[A-Za-z_][A-Za-z0-9_]*)(?:(?P<op>:?[-?+])(?P<default>[^}$]*))?\}"
    r"|\$(?P<bare>[A-Za-z_][A-Za-z0-9_]*)"
)
_DURATION = re.compile(r"(\d+(?:\.\d+)?)(us|ms|s|m|h)")
_UNITS = {"us": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}
#: Field order in a DockerResource: identity, what runs, its settings, its wiring, the rest.
_ORDER = [
    "name",
    "container_name",
    "image",
    "build",
    "command",
    "entrypoint",
    "working_dir",
    "user",
    "env_file",
    "env_vars",
    "ports",
    "expose",
    "volumes",
    "tmpfs",
    "networks",
    "network_aliases",
    "ipv4_addresses",
    "network_mode",
    "secrets",
    "configs",
    "healthcheck",
    "restart",
    "profiles",
    "hostname",
    "domainname",
    "stop_signal",
    "stop_grace_period",
    "init",
    "read_only",
    "privileged",
    "tty",
    "stdin_open",
    "cap_add",
    "cap_drop",
    "security_opt",
    "sysctls",
    "ulimits",
    "pids_limit",
    "shm_size",
    "limits",
    "reservations",
    "devices",
    "dns",
    "extra_hosts",
    "logging",
    "platform",
    "runtime",
    "pull_policy",
    "labels",
    "allow_outside_project",
    "compose",
]


class _Raw(Exception):
    """This value cannot be said with the typed field: it goes through the escape hatch."""


class _Unsupported(_Raw):
    """An interpolation ``Env`` cannot write (``${VAR-d}``, ``${VAR:?error}``...)."""


@dataclass
class Imported:
    """What import made of a compose file: main.py's text and what the summary says."""

    source: Path
    text: str
    services: list[str]
    #: service -> engine name, for the engines clockwork recognises.
    engines: dict[str, str] = field(default_factory=dict)
    #: One line per thing clockwork adds to a recognised engine or its consumers.
    additions: list[str] = field(default_factory=list)
    #: service -> the keys that went through ``compose={...}``.
    escaped: dict[str, list[str]] = field(default_factory=dict)
    #: (consumer, variable, engine service): literal URLs replaced by a connection.
    urls: list[tuple[str, str, str]] = field(default_factory=list)
    #: What main.py cannot say and import left out, one line each (never silently).
    dropped: list[str] = field(default_factory=list)
    #: Service keys read, and how many went through the escape hatch.
    keys: int = 0


def source_file(given: Path | None, project_dir: Path) -> Path:
    """The compose file to import: ``given``, or the one Compose reads in ``project_dir``."""
    if given is None:
        return _compose_file.find(project_dir)
    return given.absolute()


def import_file(source: Path, project_dir: Path, force: bool = False) -> Imported:
    """Read ``source``, write ``project_dir/main.py``; refuses an existing main.py without ``force``."""
    target = project_dir / MAIN
    if source.parent.resolve() != project_dir.resolve():
        raise DeclarationError(
            None,
            None,
            f"{source} is not in {project_dir}, and the paths in it (env_file, build, bind mounts) are "
            "relative to its own folder",
            f"import it where it is: clockwork import -C {source.parent} {source.name}",
        )
    if target.exists() and not force:
        raise DeclarationError(
            None, None, f"{target} exists, and import never overwrites it", "move it aside, or pass --force"
        )
    imported = convert(_compose_file.read(source), project_dir)
    from ._envfile import write_atomic

    write_atomic(target, imported.text)
    return imported


def convert(compose: ComposeFile, project_dir: Path) -> Imported:
    """main.py for ``compose`` (pure: reads nothing but what it is given)."""
    taken: set[str] = set()
    names = _variables(list(compose.services), used=taken)
    # Every container named after its service is clockwork's fixed naming; else Compose's.
    fixed = all(spec.get("container_name") == name for name, spec in compose.services.items())
    naming = "fixed" if fixed else "compose"
    imported = Imported(compose.path, "", list(compose.services))
    tops = _top_level(compose, taken)
    resources: list[str] = []
    connections: list[str] = []
    needs: set[str] = {"DockerResource", "ProjectSettings"} | tops.classes
    urls = _engine_urls(compose)
    images = {name: spec.get("image") for name, spec in compose.services.items()}
    for service, spec in compose.services.items():
        if fixed:
            spec = {k: v for k, v in spec.items() if k != "container_name"}
        call, used, escaped = _resource(service, spec, names, tops, urls, imported)
        needs |= used
        imported.keys += len([k for k in spec if k != "depends_on"])
        if escaped:
            imported.escaped[service] = escaped
        resources.append(statement(names[service], call, explode=True))
        connections.extend(_connections(service, spec, names, urls, imported, needs, images))
    _note_engines(compose, imported)
    head = f'"""The stack of {compose.path.name}, imported by `clockwork import`."""\n\n'
    imports = f"from clockwork_compose import {', '.join(sorted(needs))}\n"
    if len(imports) > WIDTH + 1:
        imports = "from clockwork_compose import (\n" + "".join(f"    {n},\n" for n in sorted(needs)) + ")\n"
    settings = Call("ProjectSettings", kwargs=(("shared_network", False), ("container_names", naming)))
    parts = [head + imports, statement(None, settings), *tops.statements, "".join(resources)]
    if connections:
        parts.append("".join(connections))
    imported.text = "\n".join(parts)
    return imported


# -- names ------------------------------------------------------------------------------------

_TAKEN = frozenset(
    {"DockerResource", "DatabaseConnection", "ProjectSettings", "Env", "BuildSpec", "HealthCheck", "Port", "Mount"}
    | {"Volume", "Network", "FileSecret", "Config", "Logging", "Resources", "Secret"}
)


def _variables(names: list[str], suffix: str = "", used: set[str] | None = None) -> dict[str, str]:
    """A Python variable per name, after the name (``redis-cache`` -> ``redis_cache``), unique
    among themselves and the names in ``used`` (which it extends)."""
    out: dict[str, str] = {}
    used = set(_TAKEN) if used is None else used
    used |= _TAKEN
    for name in names:
        base = re.sub(r"\W+", "_", name.lower(), flags=re.ASCII).strip("_") or "service"
        base = f"{base}{suffix}"
        if base[0].isdigit() or keyword.iskeyword(base) or hasattr(builtins, base):
            base = f"{base}_" if not base[0].isdigit() else f"s_{base}"
        variable, n = base, 2
        while variable in used:
            variable, n = f"{base}_{n}", n + 1
        used.add(variable)
        out[name] = variable
    return out


# -- values -----------------------------------------------------------------------------------


def _text(value: Any) -> Any:
    """A string as main.py holds it: plain text (``$$`` is a plain ``$``), ``Env(...)`` for
    a whole ``${VAR}`` or ``${VAR:-default}``, or text and Env joined with ``+``."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    if not isinstance(value, str):
        raise _Raw
    parts: list[Any] = []
    at = 0
    for match in _INTERPOLATION.finditer(value):
        literal = value[at : match.start()]
        at = match.end()
        if match.group(0) == "$$":
            parts.append(literal + "$")
            continue
        name = match.group("braced") or match.group("bare")
        op = match.group("op")
        if name is None or op not in (None, ":-", "-", ":?"):
            raise _Unsupported(match.group(0))
        parts.append(literal)
        default = match.group("default")
        if op == ":?":  # required: Compose stops with a message (clockwork's own, not this one)
            parts.append(Call("Env", (name,), (("required", True),)))
        elif op == "-":  # the default when unset only: an empty value is kept
            parts.append(Call("Env", (name,), (("default", default or ""), ("keep_empty", True))))
        else:
            parts.append(Call("Env", (name,), (("default", default),) if default is not None else ()))
    parts.append(value[at:])
    if "$" in _INTERPOLATION.sub("", value):
        raise _Unsupported(value)
    merged: list[Any] = []
    for part in parts:
        if isinstance(part, str) and merged and isinstance(merged[-1], str):
            merged[-1] += part
        elif part != "":
            merged.append(part)
    if not merged:
        return ""
    return merged[0] if len(merged) == 1 else Plus(tuple(merged))


def _plain(value: Any) -> str:
    """A string that must hold no interpolation (a typed field that takes no Env)."""
    text = _text(value)
    if not isinstance(text, str):
        raise _Raw
    return text


def _data(value: Any) -> Any:
    """Raw Compose data for ``compose={...}``: strings through ``_text``."""
    if isinstance(value, dict):
        return {str(k): _data(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_data(v) for v in value]
    if isinstance(value, str):
        return _text(value)
    return value


def _seconds(value: Any) -> float:
    """A Compose duration (``1m30s``, ``500ms``, or a number of seconds) in seconds."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    text = str(value)
    parts = _DURATION.findall(text)
    if not parts or "".join(n + u for n, u in parts) != text:
        raise _Raw
    return sum(float(n) * _UNITS[u] for n, u in parts)


def _number(seconds: float) -> float | int:
    return int(seconds) if seconds == int(seconds) else seconds


def _strings(value: Any) -> list[Any]:
    items = value if isinstance(value, list) else [value]
    return [_text(v) for v in items]


# -- top level: volumes, networks, secrets, configs -------------------------------------------


@dataclass
class _Tops:
    statements: list[str] = field(default_factory=list)
    classes: set[str] = field(default_factory=set)
    #: top-level key -> name -> the variable that declares it.
    names: dict[str, dict[str, str]] = field(default_factory=dict)


def _top_level(compose: ComposeFile, taken: set[str]) -> _Tops:
    tops = _Tops()
    for key, cls, suffix in (
        ("volumes", "Volume", "_volume"),
        ("networks", "Network", "_network"),
        ("secrets", "FileSecret", "_secret"),
        ("configs", "Config", "_config"),
    ):
        declared = {str(k): (v or {}) for k, v in compose.top.get(key, {}).items()}
        # A network by its bare name would be clockwork's {name: KEY}; Network(...) is Compose's own naming.
        wanted = {n: spec for n, spec in declared.items() if key != "volumes" or spec}
        variables = _variables(list(wanted), suffix, taken)
        tops.names[key] = {}
        for name, spec in wanted.items():
            call = _top_call(key, cls, name, spec)
            if call is None:
                raise DeclarationError(
                    None,
                    f"{key}.{name}",
                    f"declares {', '.join(sorted(spec))}, and {cls} has no field for "
                    f"{'each' if len(spec) > 1 else 'it'}",
                    "declare it without them (or create it beforehand, declared external: true), then import again",
                )
            tops.names[key][name] = variables[name]
            tops.classes |= _used([("", call)])
            tops.statements.append(statement(variables[name], call))
    return tops


def _top_call(key: str, cls: str, name: str, spec: dict[str, Any]) -> Call | None:
    kwargs: list[tuple[str, Any]] = []
    if key in ("secrets", "configs"):
        if set(spec) != {"file"}:
            return None
        return Call(cls, (name,), (("file", _relative(_plain(spec["file"]))),))
    known = {"external", "name", "driver", "driver_opts", "labels"} | (
        {"internal", "ipam"} if key == "networks" else set()
    )
    if set(spec) - known:
        return None
    try:
        for field_name in ("external", "internal"):
            if spec.get(field_name):
                kwargs.append((field_name, True))
        if "name" in spec:
            kwargs.append(("volume_name" if key == "volumes" else "network_name", _plain(spec["name"])))
        if "driver" in spec:
            kwargs.append(("driver", _plain(spec["driver"])))
        for field_name in ("driver_opts", "labels"):
            if spec.get(field_name):
                kwargs.append((field_name, {str(k): _plain(v) for k, v in as_mapping(spec[field_name]).items()}))
        if "ipam" in spec:
            kwargs.append(("ipam", _ipam(spec["ipam"])))
    except _Raw:
        return None
    return Call(cls, (name,), tuple(kwargs))


def _ipam(spec: Any) -> Call:
    """``ipam:`` with one pool of subnet, gateway and ip_range (and a driver): ``Ipam(...)``."""
    pools = spec.get("config") if isinstance(spec, dict) else None
    if set(spec or {}) - {"driver", "config"} or not isinstance(pools, list) or len(pools) != 1:
        raise _Raw  # options, several pools, aux_addresses: no typed field
    pool = pools[0]
    if not isinstance(pool, dict) or "subnet" not in pool or set(pool) - {"subnet", "gateway", "ip_range"}:
        raise _Raw
    kwargs = [(k, _plain(pool[k])) for k in ("subnet", "gateway", "ip_range") if k in pool]
    if "driver" in spec:
        kwargs.append(("driver", _plain(spec["driver"])))
    return Call("Ipam", kwargs=tuple(kwargs))


# -- services ---------------------------------------------------------------------------------


def _resource(
    service: str,
    spec: dict[str, Any],
    names: dict[str, str],
    tops: _Tops,
    urls: dict[str, dict[str, str]],
    imported: Imported,
) -> tuple[Call, set[str], list[str]]:
    """The DockerResource of one service, the names it uses, and the keys it escaped."""
    fields: dict[str, Any] = {"name": service}
    raw: dict[str, Any] = {}
    for key, value in spec.items():
        if key == "depends_on":
            continue
        try:
            converted = _field(key, value, tops)
        except _Raw:
            converted = None
        if converted is None:
            try:
                raw[key] = _data(value)
            except _Unsupported as exc:
                raise DeclarationError(
                    service,
                    key,
                    f"holds {exc.args[0]!r}, an interpolation clockwork does not write",
                    "write ${VAR} or ${VAR:-default} in the compose file, then import again",
                ) from None
            continue
        fields.update(converted)
    if "restart" not in spec:
        fields["restart"] = "no"  # Compose's default; clockwork's is unless-stopped
    elif fields.get("restart") == "unless-stopped":
        del fields["restart"]
    env = fields.get("env_vars")
    if isinstance(env, dict):
        for variable in [v for v, _ in _replaced_urls(service, spec, urls)]:
            env.pop(variable, None)
        if not env:
            del fields["env_vars"]
    if _outside(spec):
        fields["allow_outside_project"] = True
    if raw:
        fields["compose"] = raw
    ordered = sorted(fields.items(), key=lambda kv: _ORDER.index(kv[0]) if kv[0] in _ORDER else len(_ORDER))
    return Call("DockerResource", kwargs=tuple(ordered)), _used(ordered), sorted(raw)


def _outside(spec: dict[str, Any]) -> bool:
    """Whether a bind mount or the build context leaves the project folder (``/var/run/docker.sock``)."""
    sources = [v.get("source", "") if isinstance(v, dict) else str(v).split(":")[0] for v in spec.get("volumes") or []]
    sources = [s for s in sources if ":" in str(s) or s.startswith(("/", "..", "~"))]
    build = spec.get("build")
    context = build.get("context", ".") if isinstance(build, dict) else build
    return bool(sources) or (isinstance(context, str) and context.startswith(("/", "..")))


def _used(fields: list[tuple[str, Any]]) -> set[str]:
    """The names of clockwork_compose a resource's fields use."""
    found: set[str] = set()

    def walk(value: Any) -> None:
        if isinstance(value, Plus):
            walk(list(value.parts))
        elif isinstance(value, Call):
            found.add(value.func)
            for v in (*value.args, *(v for _, v in value.kwargs)):
                walk(v)
        elif isinstance(value, dict):
            for v in value.values():
                walk(v)
        elif isinstance(value, list | tuple):
            for v in value:
                walk(v)

    for _, value in fields:
        walk(value)
    return found


def _field(key: str, value: Any, tops: _Tops) -> dict[str, Any] | None:
    """The typed field(s) that say ``key: value``; None (or _Raw) when none can."""
    if key == "user":
        return {"user": _text(value)}
    if key in ("platform", "runtime", "domainname", "stop_signal") and isinstance(value, str) and "$" in value:
        return {key: _env_only(value)}
    if key in _SAME:
        if not isinstance(value, _SAME[key]) or (isinstance(value, str) and "$" in value):
            return None
        return {key: value}
    if key in _STRING_LISTS:
        return {key: [_plain(v) for v in (value if isinstance(value, list) else [value])]}
    handler = _HANDLERS.get(key)
    return handler(value, tops) if handler else None


def _image_field(value: Any, tops: _Tops) -> dict[str, Any]:
    return {"image": _text(value)}


def _build(value: Any, tops: _Tops) -> dict[str, Any]:
    if isinstance(value, str):
        return {"build": _plain(value)}
    if not isinstance(value, dict) or set(value) - {"context", "dockerfile", "args", "target"}:
        raise _Raw
    kwargs: list[tuple[str, Any]] = [("context", _plain(value.get("context", ".")))]
    if "dockerfile" in value:
        kwargs.append(("dockerfile", _plain(value["dockerfile"])))
    if value.get("args"):
        args = as_mapping(value["args"])
        kwargs.append(("args", {k: None if v is None else _text(v) for k, v in args.items()}))
    if "target" in value:
        kwargs.append(("target", _plain(value["target"])))
    if len(kwargs) == 1:
        return {"build": kwargs[0][1]}
    return {"build": Call("BuildSpec", kwargs=tuple(kwargs))}


def _command(key: str) -> Any:
    # command's words and text may hold Env; entrypoint's may not.
    word = _text if key == "command" else _plain

    def handler(value: Any, tops: _Tops) -> dict[str, Any]:
        if isinstance(value, list):
            return {key: [word(v) for v in value]}
        text = word(value)
        if isinstance(text, Call):
            raise _Raw  # a whole command from one variable
        return {key: text}

    return handler


def _env_only(value: Any) -> Any:
    """Plain text, or a whole ``${VAR}`` as ``Env`` (fields that take Env but not EnvText)."""
    text = _text(value)
    if isinstance(text, Plus):
        raise _Raw
    return text


def _environment(value: Any, tops: _Tops) -> dict[str, Any]:
    env = as_mapping(value)  # a bare KEY is None: the variable where Compose runs
    return {"env_vars": {str(k): None if v is None else _text(v) for k, v in env.items()}}


def _env_file(value: Any, tops: _Tops) -> dict[str, Any]:
    files = value if isinstance(value, list) else [value]
    if any(not isinstance(f, str) for f in files):
        raise _Raw  # the long form (required: false) has no typed field
    return {"env_file": [_relative(_plain(f)) for f in files]}


def _relative(path: str) -> str:
    return path if path.startswith(("./", "../", "/", "~")) else f"./{path}"


def _ports(value: Any, tops: _Tops) -> dict[str, Any]:
    ports: list[Any] = []
    for entry in value:
        if isinstance(entry, int):
            ports.append(str(entry))
        elif isinstance(entry, str):
            ports.append(_text(entry))
        elif isinstance(entry, dict):
            ports.append(_port(entry))
        else:
            raise _Raw
    return {"ports": ports}


def _port(entry: dict[str, Any]) -> Call:
    if set(entry) - {"target", "published", "host_ip", "protocol", "mode"} or "target" not in entry:
        raise _Raw
    kwargs: list[tuple[str, Any]] = [("target", int(entry["target"]))]
    if entry.get("published") is not None:
        published = entry["published"]
        kwargs.append(("published", published if isinstance(published, int) else _text(published)))
    for key in ("host_ip", "protocol", "mode"):
        if key in entry:
            kwargs.append((key, _text(entry[key])))
    return Call("Port", kwargs=tuple(kwargs))


def _expose(value: Any, tops: _Tops) -> dict[str, Any]:
    return {"expose": [v if isinstance(v, int) else _env_only(v) for v in value]}


def _volumes(value: Any, tops: _Tops) -> dict[str, Any]:
    declared = tops.names.get("volumes", {})
    mounts: list[Any] = []
    for entry in value:
        if isinstance(entry, dict):
            mounts.append(_mount(entry, declared))
            continue
        text = _plain(entry) if "$" not in str(entry) else None
        if text is None:
            mounts.append(_interpolated_bind(str(entry)))
            continue
        parts = text.split(":")
        modes = set(parts[2].split(",")) if len(parts) == 3 else set()
        if len(parts) == 1:
            mounts.append(text)  # an anonymous volume
        elif len(parts) == 3 and modes & {"z", "Z"} and modes <= {"ro", "rw", "z", "Z"} and len(modes) <= 2:
            if not parts[0].startswith((".", "/", "~")):
                raise _Raw  # a label on a named volume: the engine's business, no typed field
            selinux = next(m for m in modes if m in ("z", "Z"))
            bind: list[tuple[str, Any]] = [("target", parts[1]), ("source", parts[0])]
            if "ro" in modes:
                bind.append(("read_only", True))
            mounts.append(Call("Mount", kwargs=(*bind, ("selinux", selinux))))
        elif len(parts) == 2 or (len(parts) == 3 and parts[2] in ("ro", "rw")):
            source, target = parts[0], parts[1]
            read_only = len(parts) == 3 and parts[2] == "ro"
            if source in declared:
                kwargs: list[tuple[str, Any]] = [("target", target), ("source", Name(declared[source]))]
                mounts.append(Call("Mount", kwargs=(*kwargs, *((("read_only", True),) if read_only else ()))))
            else:
                mounts.append(f"{source}:{target}:ro" if read_only else f"{source}:{target}")
        else:
            raise _Raw  # other modes (z, cached, nocopy...) have no typed field
    return {"volumes": mounts}


def _interpolated_bind(entry: str) -> Call:
    """``${DATA:-./data}:/data[:ro]``: a host path Compose reads where it runs (a bind)."""
    depth, cut = 0, -1
    for i, char in enumerate(entry):
        depth += char == "{"
        depth -= char == "}"
        if char == ":" and depth == 0:
            cut = i
            break
    source, rest = (entry[:cut], entry[cut + 1 :]) if cut > 0 else ("", entry)
    target, _, mode = rest.partition(":")
    if not source or "$" in rest or mode not in ("", "ro", "rw"):
        raise _Raw
    kwargs: list[tuple[str, Any]] = [("type", "bind"), ("source", _text(source)), ("target", target)]
    return Call("Mount", kwargs=(*kwargs, *((("read_only", True),) if mode == "ro" else ())))


def _mount(entry: dict[str, Any], declared: dict[str, str]) -> Call:
    if set(entry) - {"type", "source", "target", "read_only"} or "target" not in entry:
        raise _Raw
    kwargs: list[tuple[str, Any]] = [("target", _plain(entry["target"]))]
    source = entry.get("source")
    if source is not None:
        kwargs.append(("source", Name(declared[source]) if source in declared else _plain(source)))
    if "type" in entry:
        kwargs.append(("type", _plain(entry["type"])))
    if entry.get("read_only"):
        kwargs.append(("read_only", True))
    return Call("Mount", kwargs=tuple(kwargs))


def _networks(value: Any, tops: _Tops) -> dict[str, Any]:
    declared = tops.names.get("networks", {})
    networks = as_mapping(value)
    names: list[Any] = []
    aliases: dict[str, list[str]] = {}
    addresses: dict[str, str] = {}
    for name, spec in networks.items():
        if spec and (set(spec) - {"aliases", "ipv4_address"}):
            raise _Raw  # ipv6_address, priority...: no typed field
        names.append(Name(declared[name]) if name in declared else name)
        if spec and spec.get("aliases"):
            aliases[name] = [_plain(a) for a in spec["aliases"]]
        if spec and spec.get("ipv4_address"):
            addresses[name] = _plain(spec["ipv4_address"])
    out: dict[str, Any] = {"networks": names}
    if aliases:
        out["network_aliases"] = aliases
    if addresses:
        out["ipv4_addresses"] = addresses
    return out


def _healthcheck(value: Any, tops: _Tops) -> dict[str, Any]:
    if not isinstance(value, dict) or value.get("disable") or set(value) - {"test", *_HEALTHCHECK_DEFAULTS}:
        raise _Raw
    test = value.get("test")
    if test is None or (isinstance(test, list) and test[:1] == ["NONE"]):
        raise _Raw
    timing = {**_HEALTHCHECK_DEFAULTS}
    for key in ("interval", "timeout", "start_period", "retries"):
        if key in value:
            timing[key] = _env_only(value[key]) if "$" in str(value[key]) else value[key]
            if not isinstance(timing[key], Call):
                timing[key] = int(value[key]) if key == "retries" else _number(_seconds(value[key]))
    words = [_text(w) for w in test] if isinstance(test, list) else _text(test)
    kwargs = [("test", words), *timing.items()]
    return {"healthcheck": Call("HealthCheck", kwargs=tuple(kwargs))}


def _restart(value: Any, tops: _Tops) -> dict[str, Any] | None:
    return {"restart": value} if value in _RESTARTS else None


def _labels(value: Any, tops: _Tops) -> dict[str, Any]:
    labels = as_mapping(value)
    if any(v is None or str(k).startswith("dev.clockwork") for k, v in labels.items()):
        raise _Raw
    return {"labels": {str(k): _text(v) for k, v in labels.items()}}


def _stop_grace_period(value: Any, tops: _Tops) -> dict[str, Any]:
    return {"stop_grace_period": _number(_seconds(value))}


def _sysctls(value: Any, tops: _Tops) -> dict[str, Any]:
    return {"sysctls": {str(k): v if isinstance(v, int) else _plain(v) for k, v in as_mapping(value).items()}}


def _ulimits(value: Any, tops: _Tops) -> dict[str, Any]:
    limits: dict[str, Any] = {}
    for name, limit in value.items():
        if isinstance(limit, dict):
            limits[str(name)] = (int(limit["soft"]), int(limit["hard"]))
        else:
            limits[str(name)] = int(limit)
    return {"ulimits": limits}


def _shm_size(value: Any, tops: _Tops) -> dict[str, Any]:
    return {"shm_size": value if isinstance(value, int) else _plain(value)}


def _extra_hosts(value: Any, tops: _Tops) -> dict[str, Any]:
    hosts: dict[str, str] = {}
    for entry in value if isinstance(value, list) else [f"{k}={v}" for k, v in value.items()]:
        text = _plain(entry)
        host, sep, address = text.partition("=")
        if not sep:
            host, _, address = text.partition(":")
        hosts[host] = address
    return {"extra_hosts": hosts}


def _logging(value: Any, tops: _Tops) -> dict[str, Any]:
    if set(value) - {"driver", "options"} or "driver" not in value:
        raise _Raw
    kwargs: list[tuple[str, Any]] = [("driver", _plain(value["driver"]))]
    if value.get("options"):
        kwargs.append(("options", {str(k): _plain(v) for k, v in value["options"].items()}))
    return {"logging": Call("Logging", kwargs=tuple(kwargs))}


def _deploy(value: Any, tops: _Tops) -> dict[str, Any]:
    if set(value) != {"resources"} or set(value["resources"]) - {"limits", "reservations"}:
        raise _Raw
    out: dict[str, Any] = {}
    for kind, spec in value["resources"].items():
        if set(spec) - {"cpus", "memory", "pids"}:
            raise _Raw
        kwargs = []
        if "cpus" in spec:
            kwargs.append(("cpus", float(spec["cpus"])))
        if "memory" in spec:
            kwargs.append(("memory", spec["memory"] if isinstance(spec["memory"], int) else _plain(spec["memory"])))
        if "pids" in spec:
            kwargs.append(("pids", int(spec["pids"])))
        out[kind] = Call("Resources", kwargs=tuple(kwargs))
    return out


def _files(key: str) -> Any:
    def handler(value: Any, tops: _Tops) -> dict[str, Any]:
        declared = tops.names.get(key, {})
        if any(not isinstance(v, str) or v not in declared for v in value):
            raise _Raw  # the long form (target, mode) or a secret not read from a file
        return {key: [Name(declared[v]) for v in value]}

    return handler


_HANDLERS = {
    "image": _image_field,
    "build": _build,
    "command": _command("command"),
    "entrypoint": _command("entrypoint"),
    "environment": _environment,
    "env_file": _env_file,
    "ports": _ports,
    "expose": _expose,
    "volumes": _volumes,
    "networks": _networks,
    "healthcheck": _healthcheck,
    "restart": _restart,
    "labels": _labels,
    "stop_grace_period": _stop_grace_period,
    "sysctls": _sysctls,
    "ulimits": _ulimits,
    "shm_size": _shm_size,
    "extra_hosts": _extra_hosts,
    "logging": _logging,
    "deploy": _deploy,
    "secrets": _files("secrets"),
    "configs": _files("configs"),
}


# -- dependencies and URLs --------------------------------------------------------------------


def _engine_urls(compose: ComposeFile) -> dict[str, dict[str, str]]:
    """engine service -> {URL clockwork derives for it: the variable a plain connect() sets}.

    Derived by clockwork's own lowering, so that a match is exact; an engine whose settings
    hold interpolation (a password from .env) derives no URL here."""
    from ._declarations import DockerResource
    from ._lower import _container_port, _url
    from ._model import Project

    urls: dict[str, dict[str, str]] = {}
    for service, spec in compose.services.items():
        image = spec.get("image")
        engine = engine_for_image(image) if isinstance(image, str) else None
        if engine is None:
            continue
        try:
            env = {str(k): _plain(v) for k, v in as_mapping(spec.get("environment")).items()}
            ports = [_plain(p) for p in spec.get("ports") or []]
            command = spec.get("command")
            command = [_plain(w) for w in command] if isinstance(command, list) else command
            resource = DockerResource(name=service, image=engine.images[0], env_vars=env, ports=ports)
            creds = engine.credentials(env, command)
            port = _container_port(resource, engine)
            project = Project(name="import", services={}, networks=[], volumes=[])
            url = _url(service, "import", engine.url(creds), creds, service, port, project, engine.url_env_var)
        except (_Raw, DeclarationError, ValueError, TypeError, AttributeError):
            continue
        if isinstance(url, str):
            urls[service] = {url: engine.url_env_var}
    return urls


def _replaced_urls(consumer: str, spec: dict[str, Any], urls: dict[str, dict[str, str]]) -> list[tuple[str, str]]:
    """(variable, engine service) for each of the consumer's variables that holds, byte for
    byte, the URL clockwork derives for an engine of the stack."""
    found = []
    for variable, value in as_mapping(spec.get("environment")).items():
        for service, derived in urls.items():
            if service != consumer and isinstance(value, str) and value in derived:
                found.append((str(variable), service))
    return found


def _connections(
    consumer: str,
    spec: dict[str, Any],
    names: dict[str, str],
    urls: dict[str, dict[str, str]],
    imported: Imported,
    needs: set[str],
    images: dict[str, Any],
) -> list[str]:
    """The connect() lines of one service: its URLs to engines, then its depends_on."""
    lines: list[str] = []
    me = names[consumer]
    depends = as_mapping(spec.get("depends_on"))
    imported.dropped.extend(_dropped(consumer, depends))
    plain: set[str] = set()
    for variable, service in _replaced_urls(consumer, spec, urls):
        imported.urls.append((consumer, variable, service))
        default = next(iter(urls[service].values()))
        if variable == default and service not in plain:
            plain.add(service)
            lines.append(statement(None, Call(f"{me}.connect", (Name(names[service]),), _options(depends, service))))
        else:
            needs.add("DatabaseConnection")
            conn = Call(
                "DatabaseConnection", kwargs=(("to_resource", Name(names[service])), ("env_var_name", variable))
            )
            lines.append(statement(None, Call(f"{me}.connect", (conn,))))
    for service in depends:
        if service in plain:
            continue
        if service not in names:
            raise DeclarationError(
                consumer,
                "depends_on",
                f"depends on {service!r}, which the file does not declare",
                "fix the compose file",
            )
        kwargs = _options(depends, service)
        engine = engine_for_image(_image(images.get(service)))
        url_set = any(s == service for _, s in _replaced_urls(consumer, spec, urls))
        if engine is not None and not url_set and engine.url_env_var not in as_mapping(spec.get("environment")):
            restart = [kw for kw in kwargs if kw[0] == "restart"]  # connect()'s order: condition, url, restart
            kwargs = (*[kw for kw in kwargs if kw[0] != "restart"], ("url", False), *restart)
        lines.append(statement(None, Call(f"{me}.connect", (Name(names[service]),), kwargs)))
    return lines


def _dropped(consumer: str, depends: dict[str, Any]) -> list[str]:
    """The parts of ``depends_on`` that connect() has no argument for."""
    out = []
    for service, edge in depends.items():
        if isinstance(edge, dict) and edge.get("required") is False:
            out.append(f"{consumer}: depends_on {service} required: false (the dependency is now required)")
    return out


def _options(depends: dict[str, Any], service: str) -> tuple[tuple[str, Any], ...]:
    edge = depends.get(service)
    condition = edge.get("condition") if isinstance(edge, dict) else None
    restart = (("restart", True),) if isinstance(edge, dict) and edge.get("restart") else ()
    if condition == "service_completed_successfully":
        return (("condition", condition), *restart)
    return restart


def _image(value: Any) -> str | None:
    """An image reference as engine recognition reads it (``postgres:${V}`` is postgres)."""
    return value if isinstance(value, str) else None


def _note_engines(compose: ComposeFile, imported: Imported) -> None:
    """What clockwork adds to each recognised engine, and to those that wait for it."""
    for service, spec in compose.services.items():
        engine = engine_for_image(_image(spec.get("image")))
        if engine is None:
            continue
        imported.engines[service] = engine.name
        if "healthcheck" not in spec:
            waiting = [
                consumer
                for consumer, other in compose.services.items()
                if service in as_mapping(other.get("depends_on"))
            ]
            then = f"; {_some(waiting)} wait for service_healthy" if waiting else ""
            imported.additions.append(f"{service}: a healthcheck true once {engine.name} serves clients{then}")
        targets = {_target(v) for v in spec.get("volumes") or []}
        if engine.data_dir not in targets:
            imported.additions.append(f"{service}: its data kept in the named volume {service}_data")
        if engine.fixed_hostname and "hostname" not in spec:
            imported.additions.append(f"{service}: hostname {service} (the engine keys its data by host name)")


def _target(volume: Any) -> str:
    if isinstance(volume, dict):
        return str(volume.get("target", "")).rstrip("/")
    parts = str(volume).split(":")
    return (parts[1] if len(parts) > 1 else parts[0]).rstrip("/")


def summary(imported: Imported, project_dir: Path) -> list[str]:
    """What the CLI says after an import: one line per fact, the next step last."""
    import os

    source = Path(os.path.relpath(imported.source, project_dir)).as_posix()
    escaped = sum(len(keys) for keys in imported.escaped.values())
    lines = [f"wrote {MAIN} from {source}: {len(imported.services)} services ({_some(imported.services)})"]
    if imported.engines:
        engines = ", ".join(f"{s} ({e})" for s, e in imported.engines.items())
        lines.append(f"engines recognised: {engines}")
    lines.extend(f"clockwork adds: {addition}" for addition in imported.additions)
    lines.extend(
        f"{consumer}: {variable} is the URL clockwork derives for {service}, now a connection to it"
        for consumer, variable, service in imported.urls
    )
    if imported.escaped:
        share = f"{escaped} of {imported.keys} service keys" if imported.keys else f"{escaped} keys"
        lines.append(f"through compose={{...}} (no typed field says them; {share}):")
        lines.extend(f"  {service}: {', '.join(keys)}" for service, keys in imported.escaped.items())
    if imported.dropped:
        lines.append("not carried over (main.py has no way to say it):")
        lines.extend(f"  {line}" for line in imported.dropped)
    lines.append(f"next: move the hand-written file aside (git mv {source} {source}.orig), then run clockwork build")
    return lines


def _some(names: list[str], shown: int = 12) -> str:
    """Names for a summary line: all of a few, the first ones of many."""
    if len(names) <= shown:
        return ", ".join(names)
    return f"{', '.join(names[:shown])} and {len(names) - shown} more"
