"""Engine helpers only the tests use: set-up, clean-up and looking inside containers.

clockwork's own engine calls are in ``clockwork_compose._docker``; what only a test needs
(removing leftovers, reading a container's environment, running a service by hand) is
here, so that the product module keeps only what the product calls. Clean-up removes
only what carries the labels of a test's own projects, never by name or port alone."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from clockwork_compose import _docker
from clockwork_compose._docker import ComposeProject, Removed


@dataclass(frozen=True)
class ExecResult:
    output: str
    exit_code: int = 0


def docker(
    *argv: str, check: bool = True, timeout: float = 300, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    """The docker CLI, through clockwork's one door (``_docker.run``); raises with its stderr
    when ``check`` and it fails."""
    ran = _docker.run(argv, timeout=timeout, cwd=cwd)
    done = subprocess.CompletedProcess(["docker", *argv], ran.code, ran.out, ran.err)
    if check and done.returncode != 0:
        raise AssertionError(f"docker {' '.join(argv)} failed: {done.stderr.strip() or done.stdout.strip()}")
    return done


def compose_version() -> str:
    """The version `docker compose version` prints ("2.26.1"), or "" when it fails."""
    done = docker("compose", "version", check=False)
    words = done.stdout.split() if done.returncode == 0 else []
    return words[-1].removeprefix("v") if words else ""


def compose_config(project: ComposeProject) -> dict[str, Any]:
    """What Compose makes of the project's files (interpolated, aliases resolved), as data."""
    return dict(json.loads(docker(*_docker.compose_args(project), "config", "--format", "json").stdout))


def compose_up_wait(project: ComposeProject, timeout: int = 120) -> None:
    """A plain `docker compose up --detach --wait`, as a user runs it without clockwork."""
    docker(*_docker.compose_args(project), "up", "--detach", "--wait", "--wait-timeout", str(timeout))


def compose_run(project: ComposeProject, service: str, command: Sequence[str] = ()) -> ExecResult:
    """`compose run --rm` of a service (its dependencies first): its output and exit code."""
    done = docker(*_docker.compose_args(project), "run", "--rm", "--no-TTY", service, *command, check=False)
    if done.returncode == 0:
        return ExecResult(done.stdout.removesuffix("\n"))
    return ExecResult("\n".join(t for t in (done.stdout, done.stderr) if t).rstrip(), done.returncode)


def container_env(name: str, env: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment a running container's processes see (`docker exec NAME env`)."""
    out = {}
    for line in _docker.exec_in(name, ["env"], env).splitlines():
        key, sep, value = line.partition("=")
        if sep:
            out[key] = value
    return out


def stop(name: str) -> None:
    docker("container", "stop", name)


def image_exists(image: str) -> bool:
    return docker("image", "inspect", "--format", "{{.Id}}", image, check=False).returncode == 0


def volume_names() -> frozenset[str]:
    """Every volume on the engine, named or anonymous."""
    return frozenset(docker("volume", "ls", "--quiet").stdout.split())


def network_containers(network: str) -> tuple[str, ...]:
    """Names of the containers attached to a network (empty when there is no such network)."""
    found = _docker.networks(network)
    return tuple(sorted({c for n in found for c in n.containers}))


def project_resources(project_name: str) -> Removed:
    """Names of the containers, networks and volumes that carry the project's label."""
    return Removed(
        tuple(c.name for c in _docker.project_containers(project_name)),
        tuple(networks_of(project_name)),
        tuple(v.name for v in _docker.volumes(project_name)),
    )


def networks_of(project: str) -> list[str]:
    """Names of the networks labelled with the Compose project."""
    return sorted({n.name for n in _docker.networks(project=project)})


def remove_leftovers(
    projects: Sequence[str] = (), networks: Sequence[str] = (), containers: Sequence[str] = ()
) -> Removed:
    """Force-remove the containers and volumes labelled with one of ``projects``, then
    their networks and the named ``networks``, each only when no container uses it any
    more. Nothing without those labels is touched, whatever its name or the ports it
    publishes (``containers``, names a caller expects, are removed only when they carry one
    of the labels too); missing things are fine."""
    names: list[str] = []
    for project in projects:
        found = _docker.project_containers(project)
        names += [c.name for c in found]
        if found:
            docker("container", "rm", "--force", "--volumes", *(c.id for c in found))
    gone_networks: set[str] = set()
    for project in projects:
        for network in networks_of(project):
            gone_networks.update(_docker.remove_network_if_unused(network, project))
    for network in networks:
        for project in projects[:1]:
            gone_networks.update(_docker.remove_network_if_unused(network, project))
    volumes_gone = [v.name for project in projects for v in _docker.volumes(project)]
    _docker.remove_volumes(volumes_gone)
    return Removed(tuple(sorted(names)), tuple(sorted(gone_networks)), tuple(sorted(volumes_gone)))
