"""The local multi-node swarm of scripts/swarm-lab.sh, as the e2e tests use it.

The lab is made once per test session (``up 3``, the ``lab`` fixture in conftest.py) and
removed at its end (``down``), also on failure; a file lock makes two runs on one engine
take turns. The host engine is never put into swarm mode: the swarm lives in the nodes' own
dockerd. The host talks to the lab only through 127.0.0.1 (the manager's API, the
registry) and `docker exec` into a node.
"""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

from e2e_support import REPO

SCRIPT = REPO / "scripts" / "swarm-lab.sh"
LOCK = Path("/tmp/clockwork-e2e-swarm-lab.lock")
LABEL = "dev.clockwork.lab"
NODES = ("clockwork-lab-node1", "clockwork-lab-node2", "clockwork-lab-node3")


def host_env() -> dict[str, str]:
    """This machine's engine, whatever DOCKER_HOST the caller's shell points at."""
    return {k: v for k, v in os.environ.items() if k not in ("DOCKER_HOST", "DOCKER_CONTEXT")}


def run(
    *args: str, env: dict[str, str] | None = None, timeout: float = 120, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(list(args), capture_output=True, text=True, timeout=timeout, env=env or host_env(), cwd=cwd)


def lab_script(*args: str) -> subprocess.CompletedProcess[str]:
    return run("bash", str(SCRIPT), *args, timeout=900)


def host(*args: str) -> subprocess.CompletedProcess[str]:
    return run("docker", *args)


@dataclass(frozen=True)
class Lab:
    docker_host: str
    registry: str
    tools_image: str

    @property
    def env(self) -> dict[str, str]:
        """The environment of a process that works on the lab (docker and clockwork)."""
        return {**host_env(), "DOCKER_HOST": self.docker_host, "CLOCKWORK_SWARM_TOOLS_IMAGE": self.tools_image}

    def docker(self, *args: str, check: bool = True) -> str:
        """`docker ARGS` against the lab's manager, from this machine."""
        result = run("docker", *args, env=self.env)
        if check:
            assert result.returncode == 0, f"docker {' '.join(args)}: {result.stderr}"
        return result.stdout

    def in_node(self, node: str, *args: str) -> subprocess.CompletedProcess[str]:
        """`docker ARGS` against one node's own engine, through `docker exec` on this machine."""
        return host("exec", node, "docker", *args)


def parse_up(stdout: str) -> Lab:
    lines = stdout.strip().splitlines()
    assert len(lines) >= 3, stdout
    tools, first, second = lines[-3:]
    assert tools.startswith("CLOCKWORK_SWARM_TOOLS_IMAGE=127.0.0.1:"), stdout
    assert first.startswith("DOCKER_HOST=tcp://127.0.0.1:"), stdout
    assert second.startswith("REGISTRY=127.0.0.1:"), stdout
    return Lab(
        first.removeprefix("DOCKER_HOST="),
        second.removeprefix("REGISTRY="),
        tools.removeprefix("CLOCKWORK_SWARM_TOOLS_IMAGE="),
    )
