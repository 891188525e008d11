"""`clockwork ps` and `clockwork logs` against the real engine, on a project of our own
(names cw-logsps-*, host port 16391 on 127.0.0.1): rows and JSON of what runs, each line
after its service, an unknown service, `logs -f` ended by Ctrl-C, and nothing running
once destroyed."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import engine_support
import pytest
from e2e_support import IMAGES, clockwork

pytestmark = pytest.mark.e2e

APP_IMAGE = IMAGES[3]  # the example's worker: a shell in it
MAIN = f"""
from clockwork_compose import *  # noqa: F403

cache = DockerResource(name="cw-logsps-e2e-cache", image="redis:7-alpine", ports=["127.0.0.1:16391:6379"])
app = DockerResource(
    name="cw-logsps-e2e-app",
    image="{APP_IMAGE}",
    command=["sh", "-c", "echo cw-logsps hello; echo cw-logsps on stderr >&2; while sleep 0.5; do echo tick; done"],
)
app.connect(cache)
"""


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    folder = tmp_path_factory.mktemp("logsps") / "cw-logsps-e2e"
    folder.mkdir()
    (folder / "main.py").write_text(textwrap.dedent(MAIN))
    try:
        applied = clockwork("apply", cwd=folder)
        assert applied.code == 0, applied.text
        yield folder
    finally:
        clockwork("destroy", cwd=folder)
        engine_support.remove_leftovers(projects=[folder.name])


def test_ps_lists_what_runs(project: Path) -> None:
    result = clockwork("ps", cwd=project)
    assert result.code == 0, result.text
    header, *rows = result.out.splitlines()
    assert header.split() == ["SERVICE", "ROLE", "STATE", "HEALTH", "PORTS", "IMAGE", "STARTED"]
    assert [row.split()[:4] for row in rows] == [
        ["cw-logsps-e2e-app", "app", "running", "-"],
        ["cw-logsps-e2e-cache", "database", "running", "healthy"],
    ]
    assert "127.0.0.1:16391->6379/tcp" in rows[1]


def test_ps_json(project: Path) -> None:
    result = clockwork("ps", "--json", cwd=project)
    assert result.code == 0, result.text
    rows = json.loads(result.out)
    keys = ["service", "role", "state", "health", "ports", "image", "started", "nodes"]
    assert [list(row) for row in rows] == [keys, keys]
    cache = rows[1]
    assert (cache["service"], cache["role"], cache["health"]) == ("cw-logsps-e2e-cache", "database", "healthy")
    assert cache["ports"] == ["127.0.0.1:16391->6379/tcp"] and cache["image"] == "redis:7-alpine"
    assert cache["started"].endswith("Z") and cache["nodes"] == []


def test_logs_prefix_each_line_with_its_service(project: Path) -> None:
    result = clockwork("logs", cwd=project)
    assert result.code == 0, result.text
    lines = result.out.splitlines()
    assert "cw-logsps-e2e-app   | cw-logsps hello" in lines
    assert "cw-logsps-e2e-app   | cw-logsps on stderr" in lines  # the container's stderr too
    assert any(line.startswith("cw-logsps-e2e-cache | ") and "Ready to accept" in line for line in lines)
    only = clockwork("logs", "cw-logsps-e2e-app", "--tail", "2", cwd=project)
    assert only.code == 0, only.text
    assert only.out.splitlines() == ["cw-logsps-e2e-app | tick"] * 2


def test_an_unknown_service(project: Path) -> None:
    result = clockwork("logs", "cw-logsps-e2e-nope", cwd=project)
    assert result.code == 2
    assert result.err.strip() == (
        "error: no service 'cw-logsps-e2e-nope' of this folder on cw-logsps-e2e; "
        "its services: cw-logsps-e2e-app, cw-logsps-e2e-cache"
    )


def test_follow_until_ctrl_c(project: Path) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "clockwork_compose", "logs", "-f", "--tail", "0", "cw-logsps-e2e-app"],
        cwd=project,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=os.environ.copy(),
    )
    try:
        time.sleep(3)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, err
    assert err == ""
    assert out.splitlines() and set(out.splitlines()) == {"cw-logsps-e2e-app | tick"}  # new lines only


def test_nothing_running_after_destroy(tmp_path: Path) -> None:
    folder = tmp_path / "cw-logsps-e2e-empty"
    folder.mkdir()
    (folder / "main.py").write_text(textwrap.dedent(MAIN))
    result = clockwork("ps", cwd=folder)
    assert (result.code, result.out) == (0, "")
    assert "nothing of this folder is on the engine: no container of project cw-logsps-e2e-empty" in result.err
