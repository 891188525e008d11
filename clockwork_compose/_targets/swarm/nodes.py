"""A swarm of many nodes: what runs where, and work done on a node this machine cannot reach.

clockwork talks to one engine, the manager (``DOCKER_HOST`` or the docker context). The
manager lists every node's tasks, but ``docker exec``, ``docker ps``, ``docker volume`` and
a dial to a published host-mode port reach only the node they are run on. Work on another
node runs there as a short swarm job (``replicated-job`` pinned to the node, or
``global-job`` on every node) of the *tools image*: an image with the docker CLI and a
shell, given the node's docker socket (``CLOCKWORK_SWARM_TOOLS_IMAGE``, default
``docker:27-cli``; the nodes must be able to pull it). Its output comes back through
``docker service logs``; the job is removed afterwards, and its containers with it.

On a one-node swarm whose engine is this machine's, nothing of this runs: the node is here.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shlex
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ..._docker import OWNER_LABEL, STACK_LABEL

#: The docker CLI image the jobs run (the nodes pull it).
TOOLS_IMAGE = "docker:27-cli"
#: The label every job carries (its value: the stack it works for).
JOB_LABEL = "dev.clockwork.job"
SOCKET = "/var/run/docker.sock"


def tools_image() -> str:
    return os.environ.get("CLOCKWORK_SWARM_TOOLS_IMAGE") or TOOLS_IMAGE


def engine_is_here() -> bool:
    """Whether the engine docker talks to runs on this machine (a 127.0.0.1 port of it is
    this machine's): no DOCKER_HOST, or a unix socket."""
    host = os.environ.get("DOCKER_HOST", "")
    return not host or host.startswith("unix://")


@dataclass(frozen=True)
class Node:
    id: str
    hostname: str
    #: ``ready`` or ``down`` (Status.State); ``active``, ``pause`` or ``drain``.
    state: str
    availability: str
    labels: Mapping[str, str]
    #: This is the node the engine docker talks to is (the manager clockwork uses).
    local: bool = False
    #: Its Docker Engine's version (Description.Engine.EngineVersion; "" when not told).
    engine: str = ""

    @property
    def usable(self) -> bool:
        return self.state == "ready" and self.availability == "active"


def nodes() -> list[Node]:
    """The swarm's nodes, as the manager lists them."""
    from .runtime import _json, docker

    local = docker("info", "--format", "{{.Swarm.NodeID}}").strip()
    found = _json("node", "inspect", *docker("node", "ls", "-q").split())
    return sorted(
        (
            Node(
                n["ID"],
                n["Description"]["Hostname"],
                n["Status"]["State"],
                n["Spec"].get("Availability", "active"),
                n["Spec"].get("Labels") or {},
                n["ID"] == local,
                str(n["Description"].get("Engine", {}).get("EngineVersion") or ""),
            )
            for n in found
        ),
        key=lambda n: n.hostname,
    )


def here(node: Node) -> bool:
    """Whether work on ``node`` can be done from this machine directly."""
    return node.local and engine_is_here()


# -- jobs -----------------------------------------------------------------------------------


class JobFailed(Exception):
    """A job's task ended non-zero, or did not end in time; ``output``: what it printed."""

    def __init__(self, message: str, output: str = "", code: int | None = None) -> None:
        super().__init__(message)
        self.output = output
        self.code = code


@dataclass(frozen=True)
class Done:
    node: str
    code: int | None
    output: str


def run_job(
    stack: str,
    script: str,
    *,
    node: str | None = None,
    env: Mapping[str, str] | None = None,
    host_network: bool = False,
    timeout: float = 90.0,
    reap: bool = False,
) -> list[Done]:
    """Run ``sh -c script`` in the tools image with the node's docker socket: on ``node``
    (an ID), or on every usable node when None. What each task printed, by node ID; the job
    is removed before this returns, whatever happened.

    A finished job's container stays on its node (Swarm keeps it after the service is
    removed), and its output with it: ``reap`` removes it as it ends (its output is then
    lost, its exit code kept), else ``sweep`` removes it later."""
    if reap:
        script = f"( {script} ); rc=$?; {_reaper()}; exit $rc"
    from .runtime import _json, docker

    name = f"clockwork-job-{secrets.token_hex(4)}"
    argv = [
        "service",
        "create",
        "--detach",
        "--quiet",
        "--name",
        name,
        "--mode",
        "replicated-job" if node else "global-job",
        "--restart-condition",
        "none",
        "--label",
        f"{JOB_LABEL}={stack}",
        "--container-label",
        f"{JOB_LABEL}={stack}",
        "--mount",
        f"type=bind,source={SOCKET},target={SOCKET}",
        "--with-registry-auth",
    ]
    argv += ["--env", "CLOCKWORK_TASK={{.Task.ID}}"]
    if node:
        argv += ["--constraint", f"node.id=={node}"]
    if host_network:
        argv += ["--network", "host"]
    for key in sorted(env or {}):
        argv += ["--env", key]
    argv += [tools_image(), "sh", "-c", script]
    from ..._docker import run as run_docker

    created = run_docker(argv, env={**os.environ, **(env or {})}, timeout=120)
    if created.code != 0:
        raise JobFailed(f"docker service create ({tools_image()}) failed: {created.err.strip()}")
    try:
        deadline = time.monotonic() + timeout
        while True:
            ids = docker("service", "ps", "-q", "--no-trunc", name).split()
            found = _json("inspect", *ids) if ids else []
            ended = [t for t in found if t["Status"]["State"] in ("complete", "failed", "rejected", "shutdown")]
            if found and len(ended) == len(found) and _all_placed(found, node):
                break
            if time.monotonic() > deadline:
                states = ", ".join(sorted(t["Status"]["State"] for t in found)) or "no task"
                raise JobFailed(f"job on {node or 'every node'} did not end within {timeout:.0f}s ({states})")
            time.sleep(0.3)
        out = []
        for task in found:
            code = (task["Status"].get("ContainerStatus") or {}).get("ExitCode")
            logs = run_docker(["service", "logs", "--raw", "--no-task-ids", task["ID"]], timeout=60)
            text = (logs.out + logs.err).strip()
            if task["Status"]["State"] == "rejected":
                text = text or task["Status"].get("Err", "")
            out.append(Done(task["NodeID"], code, text))
        return out
    finally:
        docker("service", "rm", name, gone_ok=True)


def _reaper() -> str:
    """A plain container, started by a job as it ends, that waits for the job's container to
    stop, removes it, and is removed itself (--rm)."""
    image = shlex.quote(tools_image())
    find = 'docker ps -aq --filter "label=com.docker.swarm.task.id=$CLOCKWORK_TASK"'
    inner = shlex.quote("for c in $(" + find + '); do docker wait "$c" >/dev/null; docker rm "$c" >/dev/null; done')
    return (
        f'docker run -d --rm --label {JOB_LABEL}=reaper -e CLOCKWORK_TASK="$CLOCKWORK_TASK" '
        f"-v {SOCKET}:{SOCKET} {image} sh -c {inner} >/dev/null"
    )


def sweep(stack: str) -> None:
    """Remove the finished containers of this stack's jobs on every node (their output was
    read); the sweeping job removes its own."""
    prune = f"docker container prune -f --filter label={JOB_LABEL}={shlex.quote(stack)} >/dev/null"
    with contextlib.suppress(JobFailed):  # best effort: a node that is down keeps them for the next sweep
        run_job(stack, prune, reap=True)


def _all_placed(found: Sequence[Mapping[str, Any]], node: str | None) -> bool:
    """A global job's tasks appear together; a pinned job has one."""
    return node is None or any(t.get("NodeID") == node for t in found)


def one(stack: str, node: str, script: str, env: Mapping[str, str] | None = None, **options: Any) -> str:
    """``run_job`` on one node: its output, or JobFailed with its exit code."""
    done = run_job(stack, script, node=node, env=env, **options)
    last = done[-1]
    if last.code != 0:
        raise JobFailed(f"exit code {last.code}", last.output, last.code)
    return last.output


# -- what a job does ------------------------------------------------------------------------


def exec_script(task_id: str, argv: Sequence[str], env_names: Sequence[str]) -> str:
    """``docker exec`` ARGV in the container of ``task_id``, on the node the job runs on."""
    options = " ".join(f"-e {shlex.quote(name)}" for name in env_names)
    return (
        f"id=$(docker ps -q --filter label=com.docker.swarm.task.id={shlex.quote(task_id)}); "
        f'[ -n "$id" ] || {{ echo "no container of task {task_id} on this node" >&2; exit 97; }}; '
        f'exec docker exec {options} "$id" {shlex.join(argv)}'
    )


def port_script(port: int) -> str:
    """Exit 0 when something accepts TCP on 127.0.0.1:PORT of the node (host network)."""
    return (
        "if command -v bash >/dev/null; then "
        f"exec bash -c 'exec 3<>/dev/tcp/127.0.0.1/{port}'; "
        f"else exec nc -z -w 3 127.0.0.1 {port}; fi"
    )


def cleanup_script(stack: str, folder: str, keep_volumes: bool) -> str:
    """Remove, on the node it runs on, the stack's containers (finished jobs included) and,
    unless kept, its named volumes: only what carries the stack's label and this folder's.
    Prints ``container NAME`` / ``volume NAME`` per removal."""
    mine = f"--filter label={STACK_LABEL}={shlex.quote(stack)} --filter label={shlex.quote(f'{OWNER_LABEL}={folder}')}"
    script = (
        f"for c in $(docker ps -aq --filter label={STACK_LABEL}={shlex.quote(stack)}); do "
        'n=$(docker inspect --format \'{{.Name}}\' "$c"); docker rm -f -v "$c" >/dev/null && echo "container ${n#/}"; '
        "done; "
    )
    if not keep_volumes:
        script += (
            "for i in 1 2 3 4 5 6 7 8 9 10; do "
            f'left=$(docker volume ls -q {mine}); [ -z "$left" ] && break; '
            'for v in $left; do docker volume rm "$v" >/dev/null 2>&1 && echo "volume $v"; done; sleep 1; '
            "done; "
            f'[ -z "$(docker volume ls -q {mine})" ]'
        )
    else:
        script += "true"
    return script


def parse_removed(outputs: Sequence[Done]) -> dict[str, list[str]]:
    removed: dict[str, list[str]] = {"container": [], "volume": []}
    for done in outputs:
        for line in done.output.splitlines():
            kind, _, name = line.partition(" ")
            if kind in removed and name:
                removed[kind].append(name)
    return {kind: sorted(set(names)) for kind, names in removed.items()}


def digest_of(pushed: str) -> str | None:
    """The ``sha256:...`` a ``docker push`` printed last (``digest: sha256:... size: N``)."""
    for line in reversed(pushed.splitlines()):
        for word in line.split():
            if word.startswith("sha256:"):
                return word
    return None
