"""The Swarm target's runtime: the only module that runs docker for ``--target swarm``.

``apply`` deploys docker-stack.yml layer by layer in dependency order (databases healthy,
then each migrator job completed, then the apps that wait for them), one ``docker stack
deploy --detach=true`` per layer holding only the services that changed, and watches the
tasks itself (``docker service inspect`` and the tasks' ``docker inspect`` JSON): a job that
fails is reported with its exit code and logs, and what depends on it is not deployed.

A service's definition, with the values ``docker stack deploy`` fills in from the
environment, is hashed into the label ``dev.clockwork.spec`` (service and containers): a
re-apply deploys only services whose hash changed, so an unchanged migrator never runs again
(every ``docker stack deploy`` of a job re-runs it).

Secrets reach services through the environment of ``docker stack deploy`` (the .env values,
overridden by the process environment), never through the stack file.

Ownership, as on Compose: every deploy labels what it makes (services and their containers,
networks, volumes, configs) with the folder it was made from (``dev.clockwork.working-dir``),
in the document piped to ``docker stack deploy``, never in the committed file. apply and
destroy act only on a stack this folder made: another folder's is refused (apply) or left
alone (destroy), by name. A stack with no folder recorded (deployed before clockwork
recorded it, or by a plain ``docker stack deploy``) is taken over by an apply, which
records this folder and says so; destroy refuses it, naming how to proceed.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import re
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ... import _assertions, _docker, _envfile, _graph, _lower
from ..._docker import OWNER_LABEL, PROJECT_LABEL, STACK_LABEL
from ..._errors import DeclarationError, EngineUnavailable, RuntimeFailure
from ..._model import Project, Role, Service
from ..base import (
    ApplyReport,
    AssertReport,
    Clock,
    DestroyReport,
    Failure,
    Needs,
    Progress,
    ServiceReport,
    deadline_seconds,
    engine_refusal,
    nodes_refusal,
)
from . import nodes as _nodes
from .emit import placement_label

SPEC_LABEL = "dev.clockwork.spec"
#: What ``docker stack deploy`` accepts as a stack name (it prefixes every object's name).
_STACK_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,62}")
#: Failed tasks of a long-running service (a crash loop) before apply reports it.
CRASHES = 3
#: Polls 0.5 s apart (each lists the stack's services); a failure shows 30 log lines.
CLOCK = Clock(poll=0.5, log_lines=30)
_VARIABLE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)")
#: Seconds a port check on another node may take: a node that stopped answering is still
#: listed ready for a while, and a job placed there never starts.
PORT_JOB_TIMEOUT = 20.0


class SwarmError(RuntimeFailure):
    """docker failed, or the engine is not a swarm manager."""


# -- docker ---------------------------------------------------------------------------------


def docker(
    *args: str,
    stdin: str | None = None,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    gone_ok: bool = False,
) -> str:
    """Run ``docker ARGS``; its stdout, or SwarmError with its stderr. ``gone_ok``: an
    object that is gone, or going (Swarm removes a stack's tasks and containers on its own
    after ``docker stack rm``), is no error: what docker printed of the others is returned."""
    try:
        done = _docker.run(args, stdin=stdin, env=env, cwd=cwd, timeout=300)
    except FileNotFoundError:
        raise EngineUnavailable("docker is not installed (the docker CLI is needed for --target swarm)") from None
    if done.code != 0 and not (gone_ok and _only_gone(done.err)):
        detail = " / ".join(line.strip() for line in done.err.splitlines() if line.strip())
        raise SwarmError(f"docker {' '.join(args[:3])} failed: {detail or f'exit {done.code}'}")
    return done.out


def _only_gone(stderr: str) -> bool:
    """Every error line says the object is gone, or already being removed."""
    lines = [line for line in stderr.splitlines() if line.strip()]
    return bool(lines) and all(_docker.says_missing(line) or "already in progress" in line.lower() for line in lines)


def _json(*args: str, gone_ok: bool = False) -> Any:
    out = docker(*args, gone_ok=gone_ok).strip()
    return json.loads(out) if out else []


def require_manager() -> None:
    try:
        info = _json("info", "--format", "{{json .Swarm}}")
    except SwarmError as exc:
        raise EngineUnavailable(f"cannot reach the Docker engine ({exc})") from None
    if info.get("LocalNodeState") != "active" or not info.get("ControlAvailable"):
        raise SwarmError(
            "this Docker engine is not a swarm manager: run `docker swarm init` "
            "(or point DOCKER_HOST at a manager) before --target swarm"
        )


def engine_version() -> tuple[str, str]:
    """The manager's Docker Engine version and API version (`docker stack deploy` hands the
    file to it)."""
    server = _json("version", "--format", "{{json .Server}}") or {}
    return str(server.get("Version") or ""), str(server.get("ApiVersion") or "")


def stack_services(stack: str) -> dict[str, dict[str, Any]]:
    """The stack's services by their name in main.py (``<stack>_`` stripped)."""
    ids = docker("service", "ls", "-q", "--filter", f"label={STACK_LABEL}={stack}").split()
    if not ids:
        return {}
    prefix = f"{stack}_"
    found = _json("service", "inspect", *ids, gone_ok=True)  # one removed meanwhile is not there
    return {s["Spec"]["Name"].removeprefix(prefix): s for s in found}


def tasks(service_id: str) -> list[dict[str, Any]]:
    ids = docker("service", "ps", "-q", "--no-trunc", service_id).split()
    return _json("inspect", *ids) if ids else []


def service_logs(service_or_task: str) -> str:
    """The last log lines of a service, or of one of its tasks (stdout and stderr)."""
    argv = ["service", "logs", "--raw", "--no-task-ids", "--tail", str(CLOCK.log_lines), service_or_task]
    try:
        done = _docker.run(argv, timeout=60)
    except (OSError, RuntimeFailure) as exc:
        return str(exc)
    if done.code != 0:
        return f"docker service logs {service_or_task}: exit status {done.code}"
    return (done.out + done.err).strip()


# -- what to deploy -------------------------------------------------------------------------


def spec_hash(entry: Mapping[str, Any], env: Mapping[str, str]) -> str:
    """A service's definition and the environment values it takes, hashed."""
    text = json.dumps(entry, sort_keys=True)
    values = {name: env.get(name) for name in sorted(set(_VARIABLE.findall(text)))}
    return hashlib.sha256(json.dumps([text, values], sort_keys=True).encode()).hexdigest()[:20]


def subset(doc: Mapping[str, Any], hashes: Mapping[str, str]) -> dict[str, Any]:
    """``doc`` with only the services in ``hashes``, each labelled with its hash."""
    services = {}
    for name, spec in hashes.items():
        entry = json.loads(json.dumps(doc["services"][name]))
        entry["deploy"].setdefault("labels", {})[SPEC_LABEL] = spec
        entry.setdefault("labels", {})[SPEC_LABEL] = spec
        services[name] = entry
    out: dict[str, Any] = {"services": services}
    for key in ("networks", "volumes"):
        if key in doc:
            out[key] = doc[key]
    for key in ("configs", "secrets"):  # the files the services of this deploy read
        used = {c["source"] for s in services.values() for c in s.get(key, [])}
        if used:
            out[key] = {k: v for k, v in doc[key].items() if k in used}
    return out


def stamp(doc: Mapping[str, Any], folder: Path) -> dict[str, Any]:
    """A copy of ``doc`` whose services, their containers, networks, volumes and configs
    are labelled with the folder they are made from (``OWNER_LABEL``). Only what is piped
    to ``docker stack deploy`` carries it: the committed file holds no absolute path."""
    out: dict[str, Any] = json.loads(json.dumps(doc))
    for entry in out["services"].values():
        entry.setdefault("deploy", {}).setdefault("labels", {})[OWNER_LABEL] = str(folder)
        entry.setdefault("labels", {})[OWNER_LABEL] = str(folder)
    for key in ("networks", "volumes", "configs", "secrets"):
        for name, spec in (out.get(key) or {}).items():
            spec = spec or {}
            if spec.get("external"):  # made elsewhere: not this folder's, and it takes no labels
                continue
            out[key][name] = {**spec, "labels": {**(spec.get("labels") or {}), OWNER_LABEL: str(folder)}}
    return out


def deploy(doc: Mapping[str, Any], stack: str, env: Mapping[str, str], folder: Path) -> None:
    """One ``docker stack deploy`` of ``doc`` (paths in it relative to ``folder``)."""
    docker(
        "stack",
        "deploy",
        "--detach=true",
        "--resolve-image",
        "never",
        "-c",
        "-",
        stack,
        stdin=json.dumps(doc),
        env=env,
        cwd=folder,
    )


# -- watching -------------------------------------------------------------------------------


@dataclass(frozen=True)
class State:
    """Where a service stands: ``ready`` (healthy, running or its job completed),
    ``failed`` (with why), or ``pending`` (with what it is doing)."""

    phase: str
    ready: bool = False
    failed: bool = False
    detail: str = ""
    exit_code: int | None = None
    #: The failed task, whose logs tell why.
    task: str | None = None


def state(service: Service, inspected: Mapping[str, Any], spec: str | None, now: datetime | None = None) -> State:
    """The state of the current version of a service from its tasks (``now``: the time, by
    default this machine's clock)."""
    all_tasks = tasks(inspected["ID"])
    current = [t for t in all_tasks if spec is None or _labels(t).get(SPEC_LABEL) == spec]
    if service.role is Role.MIGRATOR:
        iteration = (inspected.get("JobStatus") or {}).get("JobIteration", {}).get("Index")
        mine = [t for t in current if (t.get("JobIteration") or {}).get("Index") == iteration]
        if any(t["Status"]["State"] == "complete" for t in mine):
            return State("migrated", ready=True)
        failed = [t for t in mine if t["Status"]["State"] in ("failed", "rejected")]
        if failed:
            task = max(failed, key=lambda t: t["Status"]["Timestamp"])
            code = (task["Status"].get("ContainerStatus") or {}).get("ExitCode")
            return State("failed", failed=True, detail=task["Status"].get("Err", ""), exit_code=code, task=task["ID"])
        return State(_latest(mine))
    replicas = ((inspected["Spec"].get("Mode") or {}).get("Replicated") or {}).get("Replicas", 1)
    running = [t for t in current if t["DesiredState"] == "running" and t["Status"]["State"] == "running"]
    if len(running) >= replicas:
        return State("healthy" if service.healthcheck else "running", ready=True)
    stuck = _past_start_budget(service, current, now or datetime.now(UTC))
    if stuck is not None:
        budget = service.healthcheck.start_budget if service.healthcheck else 0
        detail = f"not healthy {budget:g}s after it started: its healthcheck still fails"
        return State("unhealthy", failed=True, detail=detail, task=stuck["ID"])
    failed = [t for t in current if t["Status"]["State"] in ("failed", "rejected")]
    if len(failed) >= CRASHES:
        task = max(failed, key=lambda t: t["Status"]["Timestamp"])
        code = (task["Status"].get("ContainerStatus") or {}).get("ExitCode")
        return State("failed", failed=True, detail=task["Status"].get("Err", ""), exit_code=code, task=task["ID"])
    return State(_latest(current))


def _past_start_budget(
    service: Service, current: Sequence[Mapping[str, Any]], now: datetime
) -> Mapping[str, Any] | None:
    """A task still starting (its healthcheck has not passed) past its start budget and one
    more check (``Healthcheck.starting_for_at_most``): Docker would call it unhealthy, and
    Swarm replace it, only REST_RETRIES checks at rest later."""
    limit = service.healthcheck.starting_for_at_most if service.healthcheck is not None else None
    if limit is None:
        return None
    for task in current:
        since = _docker.engine_time(task["Status"].get("Timestamp"))
        starting = task["DesiredState"] == "running" and task["Status"]["State"] == "starting"
        if starting and since is not None and (now - since).total_seconds() > limit:
            return task
    return None


def _labels(task: Mapping[str, Any]) -> dict[str, str]:
    return ((task.get("Spec") or {}).get("ContainerSpec") or {}).get("Labels") or {}


def _latest(tasks_: Sequence[Mapping[str, Any]]) -> str:
    if not tasks_:
        return "pending"
    return str(max(tasks_, key=lambda t: t["Status"]["Timestamp"])["Status"]["State"])


# -- ownership ------------------------------------------------------------------------------

#: The kinds of things a stack makes, in the order messages list them.
KINDS = ("service", "container", "network", "config", "secret", "volume")


@dataclass(frozen=True)
class Made:
    """One thing of a stack on this engine, and the folder clockwork recorded as its maker
    (``owner``; "" when none is: made before clockwork recorded it, by a plain ``docker
    stack deploy``, or by hand)."""

    kind: str
    name: str
    owner: str
    #: A volume of the name the stack would mount, made by this Compose project ("" when
    #: the stack made it).
    compose: str = ""


def made(stack: str, volume_names: Sequence[str] = ()) -> list[Made]:
    """Everything of ``stack`` on this engine, by the stack's label, plus the volumes named
    in ``volume_names`` (the ones it would mount: Compose may have made them)."""
    label = f"label={STACK_LABEL}={stack}"
    out = [Made("service", s["Spec"]["Name"], _owner(s["Spec"].get("Labels"))) for s in stack_services(stack).values()]
    for c in _inspect(["inspect"], docker("ps", "-aq", "--filter", label).split()):
        out.append(Made("container", c["Name"].lstrip("/"), _owner(c["Config"].get("Labels"))))
    for kind in ("network", "config", "secret"):
        for item in _inspect([kind, "inspect"], docker(kind, "ls", "-q", "--filter", label).split()):
            spec = item.get("Spec") or item  # configs and secrets keep their name and labels in Spec
            out.append(Made(kind, spec["Name"], _owner(spec.get("Labels"))))
    names = set(docker("volume", "ls", "-q", "--filter", label).split())
    names |= set(volume_names) & set(docker("volume", "ls", "-q", "--filter", f"name={stack}_").split())
    for volume in _inspect(["volume", "inspect"], sorted(names)):
        labels = volume.get("Labels") or {}
        compose = "" if labels.get(STACK_LABEL) == stack else labels.get(PROJECT_LABEL, "")
        out.append(Made("volume", volume["Name"], _owner(labels), compose))
    return out


def _inspect(command: list[str], ids: Sequence[str]) -> list[dict[str, Any]]:
    """What ``docker ... inspect`` says of ``ids`` that are still there."""
    return _json(*command, *ids, gone_ok=True) if ids else []


def _owner(labels: Mapping[str, str] | None) -> str:
    return (labels or {}).get(OWNER_LABEL, "")


def _mine(owner: str, folder: Path) -> bool:
    return Path(os.path.realpath(owner)) == folder


def foreign(things: Sequence[Made], folder: Path) -> list[str]:
    """The folders other than ``folder`` recorded as the maker of any of ``things``."""
    return sorted({t.owner for t in things if t.owner and not _mine(t.owner, folder)})


def listed(things: Sequence[Made]) -> str:
    """``services a, b; volumes c``: the services and volumes by name, and how many of the
    rest (containers, networks, ...); when there are no services or volumes, all by name."""
    named = [kind for kind in ("service", "volume") if any(t.kind == kind for t in things)] or list(KINDS)
    parts, counted = [], []
    for kind in KINDS:
        names = sorted(t.name for t in things if t.kind == kind)
        if names and kind in named:
            parts.append(f"{kind}{'s' if len(names) > 1 else ''} {', '.join(names)}")
        elif names:
            counted.append(f"{len(names)} {kind}{'s' if len(names) > 1 else ''}")
    return "; ".join(parts) + (f" (and {', '.join(counted)})" if counted else "")


def check_owner(stack: str, folder: Path, things: Sequence[Made]) -> None:
    """SwarmError when another folder made any of the stack's things, or a volume the
    stack would mount: apply never updates, mounts or removes what another folder made."""
    owners = foreign(things, folder)
    if not owners:
        return
    owner = owners[0]
    theirs = [t for t in things if t.owner == owner]
    gone = "" if Path(owner).is_dir() else f" ({owner} no longer exists: remove what it left by hand)"
    if all(t.compose for t in theirs):
        volumes = ", ".join(sorted(t.name for t in theirs))
        raise SwarmError(
            f"Compose project {theirs[0].compose}, made in {owner}, keeps its data in {volumes}, which stack "
            f"{stack} would mount; nothing was changed. Run `clockwork destroy` in {owner} first{gone}, "
            "or give --stack another name"
        )
    raise SwarmError(
        f"stack {stack} belongs to {owner} (made there: {listed(theirs)}), not to {folder}; nothing was changed. "
        f"Run `clockwork destroy --target swarm` in {owner} first{gone}, or give --stack another name"
    )


def adopt(stack: str, services: Mapping[str, Mapping[str, Any]], folder: Path) -> list[str]:
    """Record ``folder`` on the stack's services that have no folder recorded (a stack
    deployed before clockwork recorded it): a label of the service only, so its tasks keep
    running. Not on a job: any update of a job runs it again (its next deploy labels it).
    What it says, for the user to see which folder took the stack over."""
    unrecorded = sorted(
        name
        for name, s in services.items()
        if not _owner(s["Spec"].get("Labels")) and "ReplicatedJob" not in (s["Spec"].get("Mode") or {})
    )
    for name in unrecorded:
        docker("service", "update", "--detach", "--label-add", f"{OWNER_LABEL}={folder}", services[name]["ID"])
    if not unrecorded:
        return []
    return [
        f"recorded {folder} as the folder of stack {stack} (services {', '.join(unrecorded)} had no folder "
        "recorded: deployed before clockwork recorded it, or by a plain docker stack deploy)"
    ]


# -- apply ----------------------------------------------------------------------------------


def apply(
    project_dir: Path,
    needs: Needs,
    stack: str | None = None,
    timeout: float | None = None,
    on_progress: Progress | None = None,
    registry: str | None = None,
) -> ApplyReport:
    """Build docker-stack.yml, then deploy it in dependency order and wait for each layer.

    ``registry`` (``HOST[:PORT]``): where each build-only image is pushed, under a tag of its
    content, and deployed from by digest; a swarm of more than one node needs one for them.

    ``needs``: how to build, the lock (``_docker.project_lock``: one apply or destroy of a
    stack at a time on this host, shared with the Compose project of that name), the clock
    (None: ``CLOCK``) and the environment. Before anything changes: a stack (or a volume it
    would mount) another folder made, or a Compose project of its name running, raise
    SwarmError and nothing is touched."""
    stack = valid_stack(stack) if stack is not None else _lower.project_name(project_dir)
    registry = valid_registry(registry) if registry else None
    with needs.lock(stack, "apply"):
        return _apply(project_dir, stack, timeout, on_progress, needs, registry)


def _apply(
    project_dir: Path,
    stack: str,
    timeout: float | None,
    on_progress: Progress | None,
    needs: Needs,
    registry: str | None = None,
) -> ApplyReport:
    import yaml

    clock = needs.clock or CLOCK
    require_manager()
    built = needs.build(project_dir, target="swarm")
    too_old = engine_refusal(built.project, built.path.name, *engine_version())
    if too_old:
        raise SwarmError(too_old)
    swarm = _nodes.nodes()
    too_old = nodes_refusal(built.project, built.path.name, {n.hostname: n.engine for n in swarm if n.usable})
    if too_old:
        raise SwarmError(too_old)
    project, folder, owner = built.project, built.path.parent, project_dir.resolve()
    notes, services, deploys = list(built.notes), list[ServiceReport](), 0
    _no_compose_twin(stack, doc_volumes=sorted(project.volumes))
    check_owner(stack, owner, made(stack, [f"{stack}_{v}" for v in project.volumes]))
    started = clock.monotonic()
    existing = stack_services(stack)
    notes += adopt(stack, existing, owner)
    env = _envfile.run_values(folder, needs.environ)
    doc = yaml.safe_load(built.text)
    remote = len(swarm) > 1 or not _nodes.engine_is_here()
    notes += ensure_images(project, doc, folder, registry, len(swarm))
    notes += ensure_data_nodes(project)
    budget = timeout if timeout is not None else deadline_seconds(project)
    for name in sorted(set(existing) - set(project.services)):
        docker("service", "rm", existing.pop(name)["ID"])
        notes.append(f"removed service {stack}_{name}: no longer declared in main.py (its volumes are kept)")
    notes += _ipvs_note(doc)
    graph = {name: sorted(s.depends_on) for name, s in project.services.items()}
    hashes = {name: spec_hash(doc["services"][name], env) for name in project.services}
    stamped = stamp(doc, owner)
    failure = None
    for layer in _graph.layers(graph):
        changes: dict[str, str] = {}
        for name in layer:
            current = existing.get(name)
            if current is None:
                changes[name] = "created"
            elif current["Spec"].get("Labels", {}).get(SPEC_LABEL) != hashes[name]:
                changes[name] = "updated"
            elif (
                project.services[name].role is Role.MIGRATOR
                and not state(project.services[name], current, hashes[name]).ready
            ):
                changes[name] = "updated"  # its last run did not complete: run it again
        if changes:
            deploy(subset(stamped, {n: hashes[n] for n in changes}), stack, {**needs.environ, **env}, folder)
            deploys += 1
        failure = _wait(project, stack, layer, hashes, (budget, started, clock), on_progress, services, changes)
        if failure is None and remote:
            failure = _answering(doc, stack, layer, env, started + budget, clock)
        if failure is not None:
            break
    return ApplyReport(
        f"stack {stack}",
        built.path,
        tuple(services),
        clock.monotonic() - started,
        failure,
        tuple(notes),
        unchanged="" if deploys else "nothing changed, nothing deployed",
        deploys=deploys,
    )


def valid_stack(name: str) -> str:
    """``name`` when ``docker stack deploy`` accepts it as a stack name, else DeclarationError."""
    if not _STACK_NAME.fullmatch(name):
        raise DeclarationError(
            None,
            "--stack",
            f"{name!r} is not a stack name",
            "use up to 63 letters, digits, '-', '_' or '.', starting with a letter or digit",
        )
    return name


def _wait(
    project: Project,
    stack: str,
    layer: Sequence[str],
    hashes: Mapping[str, str],
    timing: tuple[float, float, Clock],
    on_progress: Progress | None,
    reports: list[ServiceReport],
    changes: Mapping[str, str],
) -> Failure | None:
    budget, started, clock = timing
    deadline = clock.monotonic() + budget
    pending = list(layer)
    seen: dict[str, str] = {}
    while pending:
        services = stack_services(stack)
        for name in list(pending):
            service = project.services[name]
            inspected = services.get(name)
            now = State("pending") if inspected is None else state(service, inspected, hashes[name])
            if on_progress is not None and seen.get(name) != now.phase:
                on_progress(name, now.phase, clock.monotonic() - started)
            seen[name] = now.phase
            if now.ready or now.failed:
                pending.remove(name)
                reports.append(ServiceReport(name, service.role.value, now.phase, changes.get(name, "unchanged")))
            if now.failed:
                assert inspected is not None
                logs = service_logs(now.task or inspected["ID"])
                code = f"exit code {now.exit_code}" if now.exit_code is not None else now.detail
                what = "job" if service.role is Role.MIGRATOR else "service"
                blocked = _dependants(project, name)
                reason = f"{what} {name} failed ({code})" + (f"; not deployed: {', '.join(blocked)}" if blocked else "")
                if service.role is Role.MIGRATOR:
                    # Stop its retries; the next apply deploys it again.
                    docker("service", "rm", inspected["ID"])
                return Failure(name, reason, logs)
        if not pending:
            break
        if clock.monotonic() > deadline:
            name = pending[0]
            inspected = stack_services(stack).get(name)
            logs = service_logs(inspected["ID"]) if inspected else ""
            return Failure(name, f"{name} not ready after {budget:.0f}s (task {seen.get(name, 'pending')})", logs)
        clock.sleep(clock.poll)
    return None


def _dependants(project: Project, name: str) -> list[str]:
    out: set[str] = set()
    todo = [name]
    while todo:
        current = todo.pop()
        for other in project.services.values():
            if current in other.depends_on and other.name not in out:
                out.add(other.name)
                todo.append(other.name)
    return sorted(out)


def published(entry: Mapping[str, Any], env: Mapping[str, str]) -> list[int]:
    """The TCP ports a service's tasks publish on the node that runs them (mode host)."""
    out = []
    for port in entry.get("ports") or []:
        if not isinstance(port, dict) or port.get("mode") != "host" or port.get("protocol", "tcp") != "tcp":
            continue
        value = str(port.get("published", ""))
        match = _VARIABLE.match(value)
        if match:
            value = env.get(match.group(1), value.split(":-", 1)[-1].rstrip("}") if ":-" in value else "")
        if value.isdigit():
            out.append(int(value))
    return sorted(set(out))


def running_on(stack: str, name: str) -> list[tuple[str, str]]:
    """(task ID, node ID) of each running task of the stack's service ``name``."""
    inspected = stack_services(stack).get(name)
    if inspected is None:
        return []
    return [
        (t["ID"], t["NodeID"])
        for t in tasks(inspected["ID"])
        if t["DesiredState"] == "running" and t["Status"]["State"] == "running"
    ]


def _port_outcome(node: _nodes.Node, ports: Sequence[int], stack: str) -> tuple[bool, str]:
    """Whether every port in ``ports`` accepts TCP on ``node``: dialled from here when the
    node is this machine, else by a job on the node (host network)."""
    if _nodes.here(node):
        for port in ports:
            outcome = _assertions.tcp_open(_assertions.HOST, port)
            if not outcome.passed:
                return False, f"{port}: {outcome.detail}"
        return True, ""
    script = " && ".join(f"( {_nodes.port_script(p)} )" for p in ports)
    try:
        _nodes.one(stack, node.id, script, host_network=True, timeout=PORT_JOB_TIMEOUT, reap=True)
    except _nodes.JobFailed as exc:
        return False, f"{', '.join(map(str, ports))}: {exc.output or exc}"
    return True, ""


def _on_nodes(
    placed: Sequence[str], swarm: Mapping[str, _nodes.Node], ports: Sequence[int], stack: str
) -> list[tuple[str, tuple[bool, str]]]:
    """``_port_outcome`` on each node of ``placed``, side by side (each may be a job)."""
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=max(1, len(placed))) as pool:
        outcomes = list(pool.map(lambda n: _port_outcome(swarm[n], ports, stack), placed))
    return list(zip(placed, outcomes, strict=True))


def _answering(
    doc: Mapping[str, Any], stack: str, layer: Sequence[str], env: Mapping[str, str], deadline: float, clock: Clock
) -> Failure | None:
    """Wait until each service of ``layer`` answers on every node that runs one of its
    tasks, on every host-mode port it publishes there (each node publishes only its own)."""
    swarm = {n.id: n for n in _nodes.nodes()}
    for name in layer:
        ports = published(doc["services"][name], env)
        if not ports:
            continue
        while True:
            placed = sorted({node for _, node in running_on(stack, name)})
            failing = [
                f"{swarm[n].hostname} ({detail})"
                for n, (ok, detail) in _on_nodes(placed, swarm, ports, stack)
                if not ok
            ]
            if placed and not failing:
                break
            if clock.monotonic() > deadline:
                where = "; ".join(failing) or "no running task"
                return Failure(name, f"{name} does not answer on every node that runs it: {where}", "")
            clock.sleep(1.0)
    return None


def _no_compose_twin(stack: str, doc_volumes: Sequence[str]) -> None:
    """Refuse while a Compose project of the stack's name runs here: its volumes have the
    same names (``<name>_<volume>``), and two databases must never share a data directory."""
    if not doc_volumes:
        return
    label = f"label={PROJECT_LABEL}={stack}"
    template = '{{.ID}} {{.Label "com.docker.compose.project.working_dir"}}'
    running = [line.split(" ", 1) for line in docker("ps", "--filter", label, "--format", template).splitlines()]
    if running:
        folder = sorted({row[1].strip() for row in running if len(row) > 1} - {""})
        where = f" in {folder[0]}" if folder else " there"
        raise SwarmError(
            f"Compose project {stack} runs on this engine{f' (from {folder[0]})' if folder else ''} and its volumes "
            f"have the names this stack's would ({stack}_{doc_volumes[0]}); nothing was changed. Run "
            f"`clockwork destroy --keep-volumes`{where} first (the stack then keeps its data), or give --stack "
            "another name"
        )


def _ipvs_note(doc: Mapping[str, Any]) -> list[str]:
    """A warning when the file asks for virtual IPs and this (local) kernel has no IPVS."""
    if os.environ.get("DOCKER_HOST") or not any(
        s.get("deploy", {}).get("endpoint_mode") == "vip" for s in doc["services"].values()
    ):
        return []
    modules = Path("/proc/modules")
    loaded = Path("/proc/net/ip_vs").exists() or (modules.is_file() and "ip_vs " in modules.read_text())
    if loaded:
        return []
    return [
        "warning: docker-stack.yml uses virtual IPs (vip) and this kernel shows no IPVS: services may not "
        "answer each other; build without CLOCKWORK_SWARM_ENDPOINT_MODE=vip (dnsrr) if they do not"
    ]


def ensure_images(
    project: Project, doc: dict[str, Any], folder: Path, registry: str | None = None, node_count: int = 1
) -> list[str]:
    """Build each build-only resource's image under its tag unless it is already there; with
    a ``registry``, push it there under a tag of its content and deploy that exact digest
    (``doc`` is changed to say so). More than one node and no registry: SwarmError, before
    anything is built or deployed (the other nodes could not pull it)."""
    built_here = [
        s for s in project.ordered() if s.image is None and s.build is not None and s.role is not Role.MIGRATOR
    ]
    if built_here and node_count > 1 and registry is None:
        first = built_here[0]
        raise SwarmError(
            f"{first.name} is built from {first.build.context if first.build else '.'} on this node, and this swarm "
            f"has {node_count} nodes: the others cannot pull {doc['services'][first.name]['image']}; nothing was "
            "deployed. Give --registry HOST:PORT (clockwork pushes it there and deploys it by digest), "
            "or push it yourself and set image= in main.py"
        )
    notes = []
    for service in built_here:
        image = doc["services"][service.name]["image"]
        try:
            docker("image", "inspect", image)
        except SwarmError:
            _build(service, image, folder)
            if registry is None:
                notes.append(
                    f"built {image} on this node: a multi-node swarm needs it in a registry "
                    "(apply --registry HOST:PORT)"
                )
        if registry is not None:
            reference = push(image, registry)
            doc["services"][service.name]["image"] = reference
            notes.append(f"pushed {image} as {reference}")
    return notes


def _build(service: Service, image: str, folder: Path) -> None:
    assert service.build is not None
    context = (folder / service.build.context).resolve()
    args = ["build", "-t", image]
    if service.build.dockerfile:
        args += ["-f", str(context / service.build.dockerfile)]
    for key, value in service.build.args:
        args += ["--build-arg", f"{key}={value}"]
    if service.build.target:
        args += ["--target", service.build.target]
    docker(*args, str(context))


def push(image: str, registry: str) -> str:
    """Push ``image`` to ``registry`` as ``REGISTRY/NAME:<content>``; the reference every
    node pulls, ``REGISTRY/NAME:<content>@sha256:<manifest>``: the same bits everywhere."""
    content = docker("image", "inspect", "--format", "{{.Id}}", image).strip().removeprefix("sha256:")[:12]
    name = image.rsplit("/", 1)
    last = name[-1].split("@")[0].split(":")[0]
    repository = "/".join([*name[:-1], last]) if len(name) > 1 and "." not in name[0] and ":" not in name[0] else last
    tagged = f"{registry}/{repository}:{content}"
    docker("tag", image, tagged)
    digest = _nodes.digest_of(docker("push", tagged))
    if digest is None:
        raise SwarmError(f"docker push {tagged} printed no digest")
    return f"{tagged}@{digest}"


_REGISTRY = re.compile(r"[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?(:[0-9]{1,5})?(/[a-z0-9._/-]+)?")


def valid_registry(value: str) -> str:
    """``value`` when it names a registry (``HOST[:PORT][/PATH]``), else DeclarationError."""
    if not _REGISTRY.fullmatch(value):
        raise DeclarationError(
            None, "--registry", f"{value!r} is not a registry", "write HOST:PORT, e.g. registry.example.com:5000"
        )
    return value.rstrip("/")


def ensure_data_nodes(project: Project) -> list[str]:
    """Each database's placement label on a node: on a one-node swarm, clockwork adds it."""
    databases = [s for s in project.ordered() if s.role is Role.DATABASE]
    if not databases:
        return []
    nodes = _json("node", "inspect", *docker("node", "ls", "-q").split())
    notes = []
    for service in databases:
        label = placement_label(project, service)
        if any((n["Spec"].get("Labels") or {}).get(label) == "true" for n in nodes):
            continue
        if len(nodes) != 1:
            raise SwarmError(
                f"no node is labelled for {service.name}'s data: run "
                f"`docker node update --label-add {label}=true NODE` on the node that keeps it"
            )
        docker("node", "update", "--label-add", f"{label}=true", nodes[0]["ID"])
        notes.append(f"labelled node {nodes[0]['Description']['Hostname']} {label}=true (keeps {service.name}'s data)")
    return notes


# -- assert ---------------------------------------------------------------------------------


def check(
    project_dir: Path, compile_project: Callable[..., Any], stack: str | None = None, timeout: float = 15.0
) -> AssertReport:
    """The built-in checks and the user's assertions, with the services' checks from Swarm
    (``compile_project``: ``_api.compile_project``, given by the caller)."""
    require_manager()
    project, _, path = compile_project(project_dir, None, "swarm")
    stack = stack or project.name
    started = time.monotonic()
    compose_checks = {f"migrator {s.name} exited 0" for s in project.ordered()} | {
        _assertions._running_name(s) for s in project.ordered()
    }
    swarm = _nodes.nodes()
    remote = len(swarm) > 1 or not _nodes.engine_is_here()
    env = _envfile.run_values(path.parent)
    if remote:  # each node publishes its own tasks' ports: checked there, below
        compose_checks |= {
            f"port {_assertions.HOST}:{p.host} ({s.name}) accepts TCP" for s in project.ordered() for p in s.ports
        }
    probes = [
        p
        for p in _assertions.probes(project, env, _exec_in(stack, {n.id: n for n in swarm}))
        if p.name not in compose_checks  # the containers' checks: Swarm's tasks answer them here
    ]
    if remote:  # a database is queried inside its container there, not through this machine's port
        probes = [
            dataclasses.replace(
                p, name=re.sub(rf" on {re.escape(_assertions.HOST)}:\d+ ", " (from inside its container) ", p.name)
            )
            if p.name.startswith("database ")
            else p
            for p in probes
        ]
        import yaml

        doc = yaml.safe_load(path.read_text())
        for s in project.ordered():
            ports = published(doc["services"].get(s.name, {}), env)
            if ports and s.role is not Role.MIGRATOR:
                name = f"ports {', '.join(map(str, ports))} ({s.name}) accept TCP on every node that runs it"
                probes.append(_assertions.Probe(name, lambda s=s, ports=ports: _ports_everywhere(stack, s.name, ports)))
    ours = [
        _assertions.Probe(
            f"migrator {s.name} completed" if s.role is Role.MIGRATOR else f"service {s.name} ready",
            lambda s=s: _service_outcome(s, stack),
        )
        for s in project.ordered()
    ]
    probes = ours + probes
    try:
        checks = _assertions.run(probes, timeout)
    finally:
        if remote:
            _nodes.sweep(stack)  # the clients' jobs, once their output is read
    return AssertReport(stack, tuple(checks), time.monotonic() - started)


def _exec_in(
    stack: str, swarm: Mapping[str, _nodes.Node] | None = None
) -> Callable[[str, Sequence[str], Mapping[str, str]], str]:
    """Run a client in a running task of the stack's service (a database's): ``docker exec``
    through the manager when the task runs on the manager's node, else a job on its node
    (the values of ``env`` are in the job's environment until it is removed). ``swarm``:
    the nodes by ID (None: as the manager lists them now)."""
    swarm = swarm if swarm is not None else {n.id: n for n in _nodes.nodes()}

    def run(name: str, argv: Sequence[str], env: Mapping[str, str]) -> str:
        placed = running_on(stack, name)
        if not placed:
            raise LookupError(f"no running task of {stack}_{name}")
        task, node = placed[0]
        if node in swarm and swarm[node].local:
            label = f"label=com.docker.swarm.task.id={task}"
            ids = docker("ps", "-q", "--filter", label).split()
            if not ids:
                raise LookupError(f"no container of task {task} of {stack}_{name}")
            return _docker.exec_in(ids[0], argv, env)
        try:
            return _nodes.one(stack, node, _nodes.exec_script(task, argv, sorted(env)), env=env).removesuffix("\n")
        except _nodes.JobFailed as exc:
            raise RuntimeFailure(
                f"{name} on node {swarm[node].hostname if node in swarm else node}: {exc.output or exc}"
            ) from None

    #: Clients run inside: the host may not reach a port published on another node.
    run.inside_only = len(swarm) > 1 or not _nodes.engine_is_here()  # type: ignore[attr-defined]
    return run


def _ports_everywhere(stack: str, name: str, ports: Sequence[int]) -> _assertions.Outcome:
    swarm = {n.id: n for n in _nodes.nodes()}
    placed = sorted({node for _, node in running_on(stack, name)})
    if not placed:
        return _assertions.Outcome(False, "no running task")
    failing = [f"{swarm[n].hostname}: {detail}" for n, (ok, detail) in _on_nodes(placed, swarm, ports, stack) if not ok]
    if failing:
        return _assertions.Outcome(False, "; ".join(failing))
    return _assertions.Outcome(True, "on " + ", ".join(sorted(swarm[n].hostname for n in placed)))


def _service_outcome(service: Service, stack: str) -> _assertions.Outcome:
    Outcome = _assertions.Outcome  # noqa: N806
    inspected = stack_services(stack).get(service.name)
    if inspected is None:
        return Outcome(False, f"no service {stack}_{service.name}")
    spec = inspected["Spec"].get("Labels", {}).get(SPEC_LABEL)
    now = state(service, inspected, spec)
    if now.failed:
        return Outcome(False, f"failed ({now.detail or now.exit_code})", final=service.role is Role.MIGRATOR)
    return Outcome(now.ready, now.phase)


# -- destroy --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Removed:
    services: tuple[str, ...] = ()
    containers: tuple[str, ...] = ()
    networks: tuple[str, ...] = ()
    configs: tuple[str, ...] = ()
    volumes: tuple[str, ...] = ()
    #: Folders other than this one that made things of the stack: nothing was removed.
    foreign: tuple[str, ...] = ()
    #: Volumes of the Compose project of the stack's name, made in this folder: kept.
    compose_volumes: tuple[str, ...] = ()


def destroy(stack: str, folder: Path, keep_volumes: bool = False, wait: float = 60.0) -> Removed:
    """Remove the stack when ``folder`` made it (``remove``): needs no main.py, it goes by
    labels. When another folder made any of it, nothing is removed and that folder is in
    ``foreign``. When nothing of it has a folder recorded (deployed before clockwork
    recorded it, or by a plain ``docker stack deploy``), SwarmError says how to go on."""
    stack = valid_stack(stack)
    with _docker.project_lock(stack, "destroy"):
        require_manager()
        things = made(stack)
        owners = foreign(things, folder)
        if owners:
            return Removed(foreign=tuple(owners))
        if things and not any(t.owner for t in things):
            raise SwarmError(_unrecorded(stack, folder, things))
        removed = remove(stack, keep_volumes, wait)
        swarm = _nodes.nodes()
        if len(swarm) > 1:
            removed = _remove_on_nodes(stack, folder, keep_volumes, removed, swarm)
        return dataclasses.replace(removed, compose_volumes=_compose_volumes(stack, folder))


def _remove_on_nodes(
    stack: str, folder: Path, keep_volumes: bool, removed: Removed, swarm: Sequence[_nodes.Node]
) -> Removed:
    """What the stack left on the other nodes (finished job containers, named volumes),
    removed by a job on every node: only what carries the stack's label and this folder's
    (a volume another folder made keeps its data). A node that is down keeps its copies:
    SwarmError names it, after the rest is removed."""
    try:
        done = _nodes.run_job(stack, _nodes.cleanup_script(stack, str(folder), keep_volumes), timeout=120)
    finally:
        _nodes.sweep(stack)
    found = _nodes.parse_removed(done)
    names = {n.id: n.hostname for n in swarm}
    failed = [
        f"{names.get(d.node, d.node)}: {d.output.splitlines()[-1] if d.output else d.code}" for d in done if d.code != 0
    ]
    missing = sorted(n.hostname for n in swarm if n.id not in {d.node for d in done})
    if failed or missing:
        where = "; ".join(failed + [f"{m}: not ready, its copies are kept" for m in missing])
        raise SwarmError(
            f"stack {stack} is removed, but not everything it left on its nodes: {where}; run destroy again"
        )
    return dataclasses.replace(
        removed,
        containers=tuple(sorted(set(removed.containers) | set(found["container"]))),
        volumes=tuple(sorted(set(removed.volumes) | set(found["volume"]))),
    )


def _compose_volumes(stack: str, folder: Path) -> tuple[str, ...]:
    """This folder's volumes of the Compose project named like the stack (the stack mounts
    them when Compose made them first): destroy leaves them to Compose's destroy."""
    ids = docker("volume", "ls", "-q", "--filter", f"label={PROJECT_LABEL}={stack}").split()
    volumes = _inspect(["volume", "inspect"], ids)
    owners = {v["Name"]: _owner(v.get("Labels")) for v in volumes}
    return tuple(sorted(name for name, owner in owners.items() if owner and _mine(owner, folder)))


def _unrecorded(stack: str, folder: Path, things: Sequence[Made]) -> str:
    option = "" if _lower.project_name(folder) == stack else f" --stack {stack}"
    volumes = sorted(t.name for t in things if t.kind == "volume")
    by_hand = f"`docker stack rm {stack}`" + (f", then `docker volume rm {' '.join(volumes)}`" if volumes else "")
    return (
        f"stack {stack} has no record of the folder that made it (deployed before clockwork recorded it, or by a "
        f"plain docker stack deploy): {listed(things)}; nothing was changed. In the folder that made it, run "
        f"`clockwork apply --target swarm{option}` (it records that folder), then destroy there; "
        f"or remove it by hand: {by_hand}"
    )


def remove(stack: str, keep_volumes: bool = False, wait: float = 60.0) -> Removed:
    """Remove everything of the stack, whoever made it: services, then the containers they
    leave (finished job containers, with their anonymous volumes), networks, configs and,
    unless kept, its named volumes."""
    label = f"label={STACK_LABEL}={stack}"
    services = sorted(stack_services(stack))
    if services:
        docker("stack", "rm", stack)
    deadline = time.monotonic() + wait
    while stack_services(stack) and time.monotonic() < deadline:
        time.sleep(CLOCK.poll)
    containers = docker("ps", "-aq", "--filter", label).split()
    names = []
    if containers:
        names = [c["Name"].lstrip("/") for c in _inspect(["inspect"], containers)]
        docker("rm", "-f", "-v", *containers, gone_ok=True)  # Swarm may be removing them too
    networks = _remove_until_gone(["network", "ls", "-q", "--filter", label], ["network", "rm"], deadline)
    while docker("network", "ls", "-q", "--filter", label).split() and time.monotonic() < deadline:
        time.sleep(CLOCK.poll)  # the node's copy of a swarm network goes a moment after it
    configs = _names(["config", "ls", "--filter", label, "--format", "{{.Name}}"])
    if configs:
        docker("config", "rm", *configs)
    secrets = _names(["secret", "ls", "--filter", label, "--format", "{{.Name}}"])
    if secrets:
        docker("secret", "rm", *secrets)
    volumes: list[str] = []
    if not keep_volumes:
        volumes = _names(["volume", "ls", "--filter", label, "--format", "{{.Name}}"])
        for volume in volumes:
            _retry(["volume", "rm", volume], deadline)
    return Removed(
        tuple(services), tuple(sorted(names)), tuple(networks), tuple(sorted(configs)), tuple(sorted(volumes))
    )


def _names(args: list[str]) -> list[str]:
    return sorted(docker(*args).split())


def _remove_until_gone(ls: list[str], rm: list[str], deadline: float) -> list[str]:
    """Remove each network the listing shows (``docker stack rm`` removes them itself, a
    moment later: one gone meanwhile is fine); their names."""
    ids = docker(*ls).split()
    names = []
    for id_ in ids:
        try:
            names.append(_json("network", "inspect", id_)[0]["Name"])
        except SwarmError:
            continue  # gone meanwhile
        _retry([*rm, id_], deadline)
    return sorted(names)


def _retry(args: list[str], deadline: float) -> None:
    """Swarm frees networks and volumes a moment after the last task is gone; a thing
    already gone counts as removed."""
    while True:
        try:
            docker(*args)
            return
        except SwarmError as exc:
            if _docker.says_missing(str(exc)):
                return
            if time.monotonic() > deadline:
                raise
            time.sleep(CLOCK.poll)


def destroy_report(stack: str, removed: Removed, keep_volumes: bool) -> DestroyReport:
    """What ``destroy`` did, as every target reports it."""
    kinds = ("services", "containers", "networks", "configs", "volumes")
    left_alone = [f"left alone: stack {stack}, made from {folder} (destroy it there)" for folder in removed.foreign]
    if removed.compose_volumes:
        volumes = ", ".join(removed.compose_volumes)
        left_alone.append(
            f"left alone: volumes {volumes} of Compose project {stack} (`clockwork destroy` removes them)"
        )
    return DestroyReport(
        stack,
        {kind: getattr(removed, kind) for kind in kinds},
        keep_volumes,
        f"stack {stack} has no services, networks, configs or volumes made here",
        removed.foreign,
        tuple(left_alone),
    )
