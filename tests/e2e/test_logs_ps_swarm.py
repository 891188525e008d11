"""`clockwork ps` and `clockwork logs --target swarm` on a single-node swarm made for this
module (``swarm_mode``: `docker swarm init` on 127.0.0.1, left again afterwards; skipped when
the engine is in a swarm already). A project of our own: stack cw-logsps-swarm, a cache and
an app with two replicas, host port 16392."""

from __future__ import annotations

import json
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest
from e2e_support import IMAGES, clockwork, swarm_mode

from clockwork_compose._targets.swarm import runtime as swarm_runtime

pytestmark = pytest.mark.e2e

STACK = "cw-logsps-swarm"
MAIN = f"""
from clockwork_compose import *  # noqa: F403

cache = DockerResource(name="cache", image="redis:7-alpine", ports=["16392:6379"])
app = DockerResource(
    name="app",
    image="{IMAGES[3]}",
    replicas=2,
    command=["sh", "-c", "echo cw-logsps swarm hello; while sleep 1; do :; done"],
)
app.connect(cache)
"""


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    folder = tmp_path_factory.mktemp("logsps-swarm") / STACK
    folder.mkdir()
    (folder / "main.py").write_text(textwrap.dedent(MAIN))
    with swarm_mode():
        try:
            applied = clockwork("apply", "--target", "swarm", cwd=folder)
            assert applied.code == 0, applied.text
            yield folder
        finally:
            swarm_runtime.remove(STACK)


def test_ps_shows_every_service_and_the_node_of_each_task(project: Path) -> None:
    result = clockwork("ps", "--target", "swarm", "--json", cwd=project)
    assert result.code == 0, result.text
    rows = {row["service"]: row for row in json.loads(result.out)}
    assert list(rows) == ["app", "cache"]
    assert (rows["app"]["role"], rows["app"]["state"]) == ("app", "running 2/2")
    assert len(rows["app"]["nodes"]) == 2 and rows["app"]["nodes"][0]  # one node, named, per task
    cache = rows["cache"]
    assert (cache["role"], cache["state"], cache["health"]) == ("database", "running", "healthy")
    assert cache["ports"] == ["16392->6379/tcp"] and cache["image"] == "redis:7-alpine"  # host mode
    table = clockwork("ps", "--target", "swarm", cwd=project)
    assert table.out.splitlines()[0].split()[-1] == "NODES"


def test_logs_come_from_every_task(project: Path) -> None:
    result = clockwork("logs", "app", "--target", "swarm", cwd=project)
    assert result.code == 0, result.text
    assert result.out.splitlines().count("app | cw-logsps swarm hello") == 2  # both replicas
    unknown = clockwork("logs", "nope", "--target", "swarm", cwd=project)
    assert unknown.code == 2
    assert unknown.err.strip() == f"error: no service 'nope' of this folder on stack {STACK}; its services: app, cache"


def test_another_stack_name_has_nothing(project: Path) -> None:
    result = clockwork("ps", "--target", "swarm", "--stack", "cw-logsps-none", cwd=project)
    assert (result.code, result.out) == (0, "")
    assert "no service of stack cw-logsps-none" in result.err
