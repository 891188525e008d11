"""Read a hand-written Compose file as Compose reads it, without interpolating it.

``read`` finds the file Compose would pick in a folder (``compose.yaml`` before
``compose.yml``, ``docker-compose.yaml``, ``docker-compose.yml``), loads it as YAML (anchors
and ``<<`` merge keys resolved; ``x-`` blocks are only material for them), and resolves each
service's ``extends``, in the same file or another one, with Compose's merge rules. Values
stay as the user wrote them: ``${VAR}`` stays text, ``env_file`` stays a file name, and the
short forms (``"8000:80"``) stay short, so that ``clockwork import`` can write them back the
way a person would. No engine and no ``docker`` binary are needed.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ._errors import DeclarationError, UnusableFile

#: The files Compose reads in a folder, in the order it looks for them.
COMPOSE_FILES = ("compose.yaml", "compose.yml", "docker-compose.yaml", "docker-compose.yml")
#: Files Compose merges over the one it picked, unasked.
OVERRIDE_FILES = (
    "compose.override.yaml",
    "compose.override.yml",
    "docker-compose.override.yaml",
    "docker-compose.override.yml",
)

#: Service keys whose values Compose merges by key when a service extends another ...
_MAPPINGS = frozenset(
    {
        "environment",
        "labels",
        "sysctls",
        "extra_hosts",
        "ulimits",
        "annotations",
        "build",
        "logging",
        "deploy",
        "healthcheck",
        "networks",
        "depends_on",
        "blkio_config",
        "storage_opt",
    }
)
#: ... those it appends, dropping repeats ...
_SEQUENCES = frozenset(
    {
        "cap_add",
        "cap_drop",
        "devices",
        "dns",
        "dns_opt",
        "dns_search",
        "env_file",
        "expose",
        "external_links",
        "group_add",
        "links",
        "profiles",
        "security_opt",
        "tmpfs",
        "configs",
        "secrets",
    }
)
#: ... and those where the later entry for one container path (or port) replaces the earlier.
_BY_TARGET = frozenset({"volumes", "ports"})


@dataclass
class ComposeFile:
    """A compose file as plain data, ``extends`` resolved; its folder and its name."""

    path: Path
    services: dict[str, dict[str, Any]]
    #: Top-level ``networks``, ``volumes``, ``secrets``, ``configs`` (missing ones empty).
    top: dict[str, dict[str, Any]] = field(default_factory=dict)
    name: str | None = None

    @property
    def folder(self) -> Path:
        return self.path.parent


def find(folder: Path) -> Path:
    """The file Compose reads in ``folder``; DeclarationError when there is none."""
    for name in COMPOSE_FILES:
        if (folder / name).is_file():
            return folder / name
    raise DeclarationError(
        None,
        None,
        f"{folder} holds no compose file ({', '.join(COMPOSE_FILES)})",
        "give the file: clockwork import path/to/compose.yml",
    )


def read(path: Path) -> ComposeFile:
    """``path`` as plain data; DeclarationError naming the file when Compose would refuse it
    or when it uses what import cannot carry over (``include``, an override file beside it)."""
    doc = _load(path)
    for override in OVERRIDE_FILES:
        if path.name in COMPOSE_FILES and (path.parent / override).is_file():
            raise DeclarationError(
                None,
                None,
                f"Compose also reads {override} beside {path.name}, and import reads one file",
                "merge it first: docker compose config --no-interpolate > merged.yml, then clockwork import merged.yml",
            )
    if "include" in doc:
        raise DeclarationError(
            None,
            None,
            f"{path} includes other compose files (include:), and import reads one file",
            "merge them first: docker compose config --no-interpolate > merged.yml, then clockwork import merged.yml",
        )
    services = doc.get("services") or {}
    if not isinstance(services, dict) or not services:
        raise DeclarationError(None, None, f"{path} declares no services", "give a compose file with services:")
    resolved: dict[str, dict[str, Any]] = {}
    for name in services:
        resolved[str(name)] = _extended(path, doc, str(name), ())
    top = {key: dict(doc.get(key) or {}) for key in ("networks", "volumes", "secrets", "configs")}
    name = doc.get("name")
    return ComposeFile(path, resolved, top, str(name) if name is not None else None)


def _load(path: Path) -> dict[str, Any]:
    import yaml

    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise DeclarationError(None, None, f"{path} does not exist", "give the path of a compose file") from None
    except (UnicodeDecodeError, IsADirectoryError) as exc:
        raise UnusableFile(path, f"cannot be read as a compose file ({exc})", "give a YAML compose file") from None
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    try:
        doc = yaml.load(text, Loader=loader)  # noqa: S506 (a safe loader: C's or Python's)
    except yaml.YAMLError as exc:
        where = getattr(exc, "problem_mark", None)
        line = f" at line {where.line + 1}" if where is not None else ""
        raise UnusableFile(
            path, f"is not valid YAML{line}", "fix the file; docker compose config shows the error"
        ) from None
    if not isinstance(doc, dict):
        raise UnusableFile(path, "is not a compose file (not a mapping)", "give a compose file with services:")
    return doc


def _extended(path: Path, doc: dict[str, Any], name: str, seen: tuple[tuple[Path, str], ...]) -> dict[str, Any]:
    """Service ``name`` of ``doc`` with its ``extends`` chain merged in, base first."""
    if (path, name) in seen:
        raise DeclarationError(name, "extends", "extends itself through a cycle", "remove one extends of the cycle")
    services = doc.get("services") or {}
    if name not in services:
        raise DeclarationError(name, "extends", f"{path} has no service {name!r}", "name a service of that file")
    service = services[name]
    if service is None:
        return {}
    if not isinstance(service, dict):
        raise DeclarationError(name, None, f"is not a mapping in {path}", "write the service as a mapping of fields")
    service = copy.deepcopy(service)
    extends = service.pop("extends", None)
    if extends is None:
        return service
    if isinstance(extends, str):
        extends = {"service": extends}
    base_path = path if not extends.get("file") else (path.parent / str(extends["file"])).resolve()
    base_doc = doc if base_path == path else _load(base_path)
    base = _extended(base_path, base_doc, str(extends["service"]), (*seen, (path, name)))
    if base_path.parent != path.parent:
        base = _rebased(base, base_path.parent, path.parent)
    return merge(base, service)


def merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    """``over`` extending ``base``, as Compose merges a service into the one it extends."""
    merged = copy.deepcopy(base)
    for key, value in over.items():
        if key not in merged or value is None:
            merged[key] = value
        elif key in _MAPPINGS:
            merged[key] = _merge_mapping(key, merged[key], value)
        elif key in _SEQUENCES:
            old = _as_list(merged[key])
            merged[key] = old + [v for v in _as_list(value) if v not in old]
        elif key in _BY_TARGET:
            merged[key] = _merge_by_target(key, _as_list(merged[key]), _as_list(value))
        else:
            merged[key] = value
    return merged


def _merge_mapping(key: str, base: Any, over: Any) -> Any:
    if key == "build" and (isinstance(base, str) or isinstance(over, str)):
        base = {"context": base} if isinstance(base, str) else base
        over = {"context": over} if isinstance(over, str) else over
    if key in ("environment", "labels", "depends_on", "networks", "sysctls", "extra_hosts"):
        base, over = as_mapping(base), as_mapping(over)
    if not isinstance(base, dict) or not isinstance(over, dict):
        return over
    merged = dict(base)
    for k, v in over.items():
        merged[k] = _merge_mapping(k, merged[k], v) if isinstance(merged.get(k), dict) and isinstance(v, dict) else v
    return merged


def _merge_by_target(key: str, base: list[Any], over: list[Any]) -> list[Any]:
    def target(entry: Any) -> Any:
        if isinstance(entry, dict):
            return entry.get("target")
        text = str(entry)
        return (
            text.split(":")[1]
            if key == "volumes" and ":" in text
            else (text.rsplit(":", 1)[-1] if key == "ports" else text)
        )

    replaced = {target(v) for v in over}
    return [v for v in base if target(v) not in replaced] + over


def _as_list(value: Any) -> list[Any]:
    return list(value) if isinstance(value, list) else [value]


def _rebased(service: dict[str, Any], origin: Path, here: Path) -> dict[str, Any]:
    """A service read from a file in another folder, with its relative paths seen from here."""
    import os

    def moved(text: str) -> str:
        if not text.startswith("."):
            return text
        relative = Path(os.path.relpath(origin / text, here)).as_posix()
        return relative if relative.startswith(".") else f"./{relative}"

    service = copy.deepcopy(service)
    if isinstance(service.get("build"), str):
        service["build"] = moved(service["build"])
    elif isinstance(service.get("build"), dict) and "context" in service["build"]:
        service["build"]["context"] = moved(str(service["build"]["context"]))
    if "env_file" in service:
        service["env_file"] = [
            {**e, "path": moved(str(e["path"]))} if isinstance(e, dict) else moved(str(e))
            for e in _as_list(service["env_file"])
        ]
    if "volumes" in service:
        service["volumes"] = [
            {**v, "source": moved(str(v.get("source", "")))}
            if isinstance(v, dict) and v.get("type") == "bind"
            else (":".join([moved(str(v).split(":")[0]), *str(v).split(":")[1:]]) if isinstance(v, str) else v)
            for v in service["volumes"]
        ]
    return service


def as_mapping(value: Any) -> dict[str, Any]:
    """Compose's list form (``["KEY=value", "KEY"]``, ``[service, ...]``) as a mapping; a
    mapping as it is. A bare ``KEY`` maps to None (Compose passes the shell's value)."""
    if isinstance(value, dict):
        return dict(value)
    if value is None:
        return {}
    mapping: dict[str, Any] = {}
    for entry in value:
        text = str(entry)
        key, sep, rest = text.partition("=")
        mapping[key] = rest if sep else None
    return mapping
