"""Do two compose files describe the same stack? `docker compose config` of each, compared.

The acceptance rule of `clockwork import` (issue 18): the original and what `clockwork build`
writes from the imported main.py have the same services, and every field the original sets
has the same value; every dependency is kept, with the same or a stronger condition; two
services share a network afterwards exactly when they did before. The only additions allowed
are clockwork's on the engines it recognises (a healthcheck, the ``service_healthy`` waits
that use it, the named data volume and, for RabbitMQ, a fixed hostname) and its labels.
``differences`` lists every way the two differ beyond that, one line each.
"""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path
from typing import Any

from clockwork_compose._engines import engine_for_image

_STRENGTH = {"service_started": 0, "service_healthy": 1, "service_completed_successfully": 2}
_HEALTH_DEFAULTS = {"interval": "30s", "timeout": "30s", "retries": 3, "start_period": "0s"}
_DURATION = re.compile(r"(\d+(?:\.\d+)?)(ns|us|ms|s|m|h)")
_UNITS = {"ns": 1e-9, "us": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}


def config(folder: Path, file: str) -> dict[str, Any]:
    """`docker compose config --no-interpolate` of ``folder/file``, as data (no engine needed)."""
    done = subprocess.run(
        ["docker", "compose", "-p", "fidelity", "-f", file, "config", "--no-interpolate", "--format", "json"],
        cwd=folder,
        capture_output=True,
        text=True,
        env={"PATH": "/usr/bin:/bin:/usr/local/bin", "HOME": str(Path.home())},
    )
    if done.returncode:
        raise AssertionError(f"docker compose config of {folder / file} failed: {done.stderr.strip()}")
    return json.loads(done.stdout)


def differences(before: dict[str, Any], after: dict[str, Any]) -> list[str]:
    """Each way ``after`` does not describe the stack ``before`` does (empty: the same stack)."""
    found: list[str] = []
    old, new = before.get("services", {}), after.get("services", {})
    if set(old) != set(new):
        found.append(f"services: {sorted(old)} became {sorted(new)}")
    for name in sorted(set(old) & set(new)):
        found.extend(f"{name}: {d}" for d in _service(old[name], new[name]))
    found.extend(_networks_shared(old, new))
    used = {n for s in old.values() for n in (s.get("networks") or {})}
    for network in sorted(used):
        spec, now = (before.get("networks") or {}).get(network), (after.get("networks") or {}).get(network)
        if spec != now:
            found.append(f"network {network}: {spec} became {now}")
    for key in ("secrets", "configs"):
        if _paths(before.get(key)) != _paths(after.get(key)):
            found.append(f"top-level {key}: {before.get(key)} became {after.get(key)}")
    added = {v for s in new.values() for v in _engine_volumes(s)}
    for volume, spec in (before.get("volumes") or {}).items():
        if (after.get("volumes") or {}).get(volume, {}) != spec:
            found.append(f"volume {volume}: {spec} became {(after.get('volumes') or {}).get(volume)}")
    for volume in set(after.get("volumes") or {}) - set(before.get("volumes") or {}) - added:
        found.append(f"volume {volume} was added")
    return found


def _service(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    engine = engine_for_image(old.get("image"))
    old, new = dict(old), dict(new)
    found = _depends(old.pop("depends_on", {}), new.pop("depends_on", {}))
    labels = {k: v for k, v in _mapping(new.pop("labels", None)).items() if not k.startswith("dev.clockwork.")}
    before = _mapping(old.pop("labels", None))
    if labels != before:
        found.append(f"labels: {before} became {labels}")
    old.pop("networks", None), new.pop("networks", None)  # compared across services
    if old.get("restart", "no") != new.get("restart", "no"):
        found.append(f"restart: {old.get('restart')} became {new.get('restart')}")
    old.pop("restart", None), new.pop("restart", None)
    if engine is not None:
        if "healthcheck" not in old:
            new.pop("healthcheck", None)
        data = [v for v in new.get("volumes", []) if v.get("target") == engine.data_dir]
        if data and not any(v.get("target") == engine.data_dir for v in old.get("volumes", [])):
            new["volumes"] = [v for v in new["volumes"] if v not in data]
            if not new["volumes"]:
                del new["volumes"]
        if engine.fixed_hostname and "hostname" not in old:
            new.pop("hostname", None)
    for key in ("healthcheck",):
        if key in old:
            old[key], new[key] = _health(old[key]), _health(new.get(key))
    for side in (old, new):
        _same_meaning(side)
    for key in sorted(set(old) | set(new)):
        if old.get(key) != new.get(key):
            found.append(f"{key}: {_short(old.get(key))} became {_short(new.get(key))}")
    return found


def _same_meaning(service: dict[str, Any]) -> None:
    """Write what Compose reads the same way one way: the list form of environment and of
    sysctls as a mapping, numbers in it and in expose as the strings the container gets, ``$VAR`` as
    ``${VAR}``, Compose's defaults of a mount (``read_only: false``, an empty ``volume: {}``,
    ``create_host_path``, which only matters for a missing source: Compose creates it on both
    sides)."""
    if isinstance(service.get("environment"), list):
        service["environment"] = dict(e.split("=", 1) if "=" in e else (e, None) for e in service["environment"])
    if isinstance(service.get("sysctls"), list):
        service["sysctls"] = _mapping(service["sysctls"])
    if "environment" in service:
        service["environment"] = {k: _text(v) for k, v in service["environment"].items()}
    for name, limit in (service.get("ulimits") or {}).items():
        if isinstance(limit, dict) and limit.get("soft") == limit.get("hard"):
            service["ulimits"][name] = limit["soft"]  # one number sets both
    if "expose" in service:
        service["expose"] = [str(p) for p in service["expose"]]
    for mount in service.get("volumes", []):
        if "${" in str(mount.get("source")) and mount.get("type") == "volume":
            # Unresolved, Compose cannot tell a host path from a volume name; resolved, it is
            # a bind when the variable holds a path (as the imported Mount(type="bind") says).
            mount["type"], mount["bind"] = "bind", mount.pop("volume", {})
        if mount.get("type") == "bind" and "${" in str(mount.get("source")):
            # Unresolved, `config` joins the project folder to what it cannot see is absolute.
            mount["source"] = "${" + str(mount["source"]).split("${", 1)[1]
        if mount.get("read_only") is False:
            del mount["read_only"]
        if mount.get("volume") == {}:
            del mount["volume"]
        bind = mount.get("bind")
        if bind is not None:
            bind.pop("create_host_path", None)
            if not bind:
                del mount["bind"]
    if isinstance(service.get("stop_grace_period"), str):
        service["stop_grace_period"] = _seconds(service["stop_grace_period"])
    if isinstance(service.get("build"), dict) and "args" in service["build"]:
        service["build"]["args"] = _mapping(service["build"]["args"])
    # A short-syntax port `config` cannot resolve (a variable in it) is kept as written:
    # "/tcp" is its default protocol, said or not.
    service["ports"] = [p.removesuffix("/tcp") if isinstance(p, str) else p for p in service.get("ports", [])]
    if not service["ports"]:
        del service["ports"]
    for port in service.get("ports", []):
        if isinstance(port, dict) and isinstance(port.get("published"), int):
            port["published"] = str(port["published"])  # Compose reads 8080 and "8080" alike
    for key, value in list(service.items()):
        service[key] = _strings(value)


def _strings(value: Any) -> Any:
    """``$VAR`` written ``${VAR}`` in every string (the same to Compose)."""
    if isinstance(value, dict):
        return {k: _strings(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_strings(v) for v in value]
    return _text(value) if isinstance(value, str) else value


def _mapping(value: Any) -> dict[str, Any]:
    if isinstance(value, list):
        return dict(e.split("=", 1) if "=" in e else (e, None) for e in value)
    return dict(value or {})


def _text(value: Any) -> Any:
    if value is None or isinstance(value, bool):
        return value
    return re.sub(r"(?<!\$)\$([A-Za-z_][A-Za-z0-9_]*)", r"${\1}", str(value))


def _depends(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    found = []
    for target, edge in old.items():
        kept = new.get(target)
        if kept is None:
            found.append(f"depends_on {target} was dropped")
        elif _STRENGTH[kept["condition"]] < _STRENGTH[edge["condition"]]:
            found.append(f"depends_on {target}: {edge['condition']} became {kept['condition']}")
        elif edge.get("required", True) != kept.get("required", True) or edge.get("restart") != kept.get("restart"):
            found.append(f"depends_on {target}: {edge} became {kept}")
    for target, edge in new.items():
        if target not in old and edge["condition"] != "service_healthy":
            found.append(f"depends_on {target} ({edge['condition']}) was added")
    return found


def _health(check: dict[str, Any] | None) -> dict[str, Any] | None:
    if check is None:
        return None
    full = {**_HEALTH_DEFAULTS, **check}
    test = full.get("test")
    if isinstance(test, str):
        full["test"] = ["CMD-SHELL", test]
    for key in ("interval", "timeout", "start_period", "start_interval"):
        if isinstance(full.get(key), str):
            full[key] = _seconds(full[key])
    return full


def _seconds(duration: str) -> float:
    return sum(float(n) * _UNITS[u] for n, u in _DURATION.findall(duration))


def _networks_shared(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    """Pairs of services that share a network in one file and not in the other."""

    def shared(services: dict[str, Any]) -> set[tuple[str, str]]:
        nets = {n: set(s.get("networks") or {}) for n, s in services.items() if not s.get("network_mode")}
        return {(a, b) for a in nets for b in nets if a < b and nets[a] & nets[b]}

    before, after = shared(old), shared({k: v for k, v in new.items() if k in old})
    return [f"{a} and {b} now share a network" for a, b in sorted(after - before)] + [
        f"{a} and {b} no longer share a network" for a, b in sorted(before - after)
    ]


def _engine_volumes(service: dict[str, Any]) -> list[str]:
    engine = engine_for_image(service.get("image"))
    if engine is None:
        return []
    return [v["source"] for v in service.get("volumes", []) if v.get("target") == engine.data_dir and v.get("source")]


def _paths(declared: dict[str, Any] | None) -> dict[str, Any]:
    return {k: {kk: vv for kk, vv in v.items() if kk != "name"} for k, v in (declared or {}).items()}


def _short(value: Any) -> str:
    text = json.dumps(value, sort_keys=True)
    return text if len(text) < 300 else text[:300] + "..."
