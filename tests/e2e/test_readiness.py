"""Ready means ready, and checks that can fail, against the real engine.

- The example: `clockwork apply` then an immediate HTTP request from the host succeeds,
  on five fresh applies and on re-applies (unchanged, and with api-server recreated); a
  changed database password on the old data volume fails with the hint.
- Projects of our own (names rdy-*, host ports 157xx): a crash loop and an app that exits
  0 while meant to stay up fail apply with their logs; `assert`'s port check fails on a
  published port with nothing listening behind it and passes with a listener; Ctrl-C
  during apply exits 130 and says what was left running; the engine runs a probe every
  second while its service starts and rests once it is ready.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import textwrap
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import engine_support
import pytest
from e2e_support import IMAGES, Stack, clockwork

from clockwork_compose import _docker

pytestmark = pytest.mark.e2e

#: An image every e2e machine has (the example's worker: python3 and a shell in it).
APP_IMAGE = IMAGES[3]
HEADER = "from clockwork_compose import *  # noqa: F403\n"


def health() -> tuple[int, dict[str, object]]:
    """GET /health of the example's api-server from the host, once, no retry."""
    with urllib.request.urlopen("http://127.0.0.1:8000/health", timeout=10) as response:  # noqa: S310
        return response.status, json.loads(response.read())


def test_apply_then_curl_works_at_once_fresh_and_on_re_apply(fresh_stack: Stack) -> None:
    for attempt in range(5):
        result = fresh_stack.apply()
        assert result.code == 0, result.text
        assert health() == (200, {"status": "ok", "database": "ok", "redis": "ok"}), f"fresh apply {attempt + 1}"
        if attempt == 0:
            summary = {
                line.split()[0]: line for line in result.err.splitlines() if line.startswith("  ") and "  " in line[2:]
            }
            assert "healthy" in summary["api-server"]
            assert "running (no readiness probe)" in summary["worker-service"]
            assert "not known to be ready: worker-service" in result.err
        if attempt < 4:
            destroyed = fresh_stack.cli("destroy")
            assert destroyed.code == 0, destroyed.text

    again = fresh_stack.apply()  # nothing changed
    assert again.code == 0, again.text
    assert health()[0] == 200

    main = fresh_stack.dir / "main.py"
    main.write_text(main.read_text().replace('ports=["8000:80"],', 'ports=["8000:80"],\n    env_vars={"X": "1"},'))
    recreated = fresh_stack.apply()
    assert recreated.code == 0, recreated.text
    assert "recreated" in next(line for line in recreated.err.splitlines() if line.strip().startswith("api-server "))
    assert health()[0] == 200

    # A new password on the data volume initialised with the old one: the image ignores it.
    main.write_text(main.read_text().replace("secret123", "changed456"))
    changed = fresh_stack.apply()
    assert changed.code == 1, changed.text
    assert "password authentication failed" in changed.err
    assert "only when its data volume is first created" in changed.err
    assert "`clockwork destroy` (deletes the data)" in changed.err


# -- projects of our own -----------------------------------------------------------------------


def _project(tmp_path: Path, name: str, body: str) -> Path:
    folder = tmp_path / name
    folder.mkdir()
    (folder / "main.py").write_text(HEADER + textwrap.dedent(body))
    return folder


@pytest.fixture
def own(tmp_path: Path) -> Iterator[list[Path]]:
    """Folders of our own projects; each destroyed afterwards, also on failure."""
    folders: list[Path] = []
    try:
        yield folders
    finally:
        for folder in folders:
            clockwork("destroy", cwd=folder)
        engine_support.remove_leftovers(projects=[f.name for f in folders])


def test_a_crash_loop_fails_apply_with_its_logs(tmp_path: Path, own: list[Path]) -> None:
    folder = _project(
        tmp_path,
        "rdy-crash",
        f"""
        DockerResource(name="rdy-crash-loop", image="{APP_IMAGE}",
                       command=["sh", "-c", "sleep 0.5; echo rdy crashing on purpose; exit 3"])
        """,
    )
    own.append(folder)
    result = clockwork("apply", cwd=folder)
    assert result.code == 1, result.text
    assert "apply failed" in result.err
    # The code it exits with, whether apply saw it exit or restart (never the 0 it shows running again).
    assert re.search(
        r"rdy-crash-loop (keeps restarting \(restarted \d+ times?, last exit code 3\)|failed \(exit code 3\))",
        result.err,
    ), result.err
    assert "last log lines of rdy-crash-loop" in result.err and "rdy crashing on purpose" in result.err
    assert "applied" not in result.err.replace("apply failed", "")
    state = _docker.container("rdy-crash-loop")  # left as it is: its restart policy goes on
    assert state is not None and state.restart_count >= 1 and state.status in ("restarting", "running")


def test_an_app_meant_to_stay_up_that_exits_0_fails_apply(tmp_path: Path, own: list[Path]) -> None:
    folder = _project(
        tmp_path,
        "rdy-exit",
        f"""
        DockerResource(name="rdy-exits-early", image="{APP_IMAGE}", restart="no", ports=["15710:8080"],
                       command=["sh", "-c", "echo rdy serving; sleep 1; echo rdy done early"])
        DockerResource(name="rdy-one-shot", image="{APP_IMAGE}", restart="no", command=["true"])
        """,
    )
    own.append(folder)
    result = clockwork("apply", cwd=folder)
    assert result.code == 1, result.text
    assert 'rdy-exits-early exited with code 0 but is meant to stay up (restart: "no")' in result.err
    assert "rdy done early" in result.err
    one_shot = next(line for line in result.err.splitlines() if line.strip().startswith("rdy-one-shot "))
    assert "completed" in one_shot  # a job with nothing waiting for it may finish


def test_port_check_needs_a_process_behind_the_published_port(tmp_path: Path, own: list[Path]) -> None:
    folder = _project(
        tmp_path,
        "rdy-ports",
        f"""
        DockerResource(name="rdy-no-listener", image="{APP_IMAGE}", ports=["15701:8080"],
                       command=["sleep", "infinity"])
        DockerResource(name="rdy-listener", image="{APP_IMAGE}", ports=["15702:8080"],
                       command=["python3", "-m", "http.server", "8080"], readiness=TcpProbe(8080))
        """,
    )
    own.append(folder)
    applied = clockwork("apply", cwd=folder)
    assert applied.code == 0, applied.text
    result = clockwork("assert", "--json", "--timeout", "3", cwd=folder)
    assert result.code == 1, result.text
    checks = {c["name"]: c for c in json.loads(result.out)}
    silent = next(c for name, c in checks.items() if "15701" in name)
    served = next(c for name, c in checks.items() if "15702" in name)
    assert not silent["passed"] and "nothing listens in the container" in silent["detail"]
    assert served["passed"], served


def test_ctrl_c_during_apply_exits_130_and_says_what_was_left_running(tmp_path: Path, own: list[Path]) -> None:
    folder = _project(
        tmp_path,
        "rdy-ctrlc",
        f"""
        DockerResource(name="rdy-never-ready", image="{APP_IMAGE}", ports=["15720:8080"],
                       command=["sleep", "infinity"], readiness=HttpProbe("/", retries=600))
        """,
    )
    own.append(folder)
    proc = subprocess.Popen(
        [sys.executable, "-m", "clockwork_compose", "apply"],
        cwd=folder,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "COLUMNS": "200"},
    )
    try:
        deadline = time.monotonic() + 120
        while _state("rdy-never-ready") != "running" and time.monotonic() < deadline:
            time.sleep(0.2)
        time.sleep(0.5)
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, err
    assert "apply interrupted" in err
    assert "left running: rdy-never-ready (starting)" in err
    assert _state("rdy-never-ready") == "running"  # nothing is stopped


def test_the_engine_probes_every_second_while_starting_and_rests_once_ready(tmp_path: Path, own: list[Path]) -> None:
    # It listens 3 s after it starts: the first checks fail, one a second, then one passes.
    serve = (
        "import signal,socket,time;signal.signal(signal.SIGTERM,lambda *_:exit());time.sleep(3);"
        "s=socket.socket();s.bind(('0.0.0.0',8080));s.listen();time.sleep(1e9)"
    )
    folder = _project(
        tmp_path,
        "rdy-rest",
        f"""
        DockerResource(name="rdy-rests", image="{APP_IMAGE}", command=["python3", "-c", {serve!r}],
                       readiness=TcpProbe(8080))
        """,
    )
    own.append(folder)
    applied = clockwork("apply", cwd=folder)
    assert applied.code == 0, applied.text
    config, health = _health("rdy-rests")
    assert (config["StartInterval"], config["Interval"]) == (1_000_000_000, 90_000_000_000)
    assert health["Status"] == "healthy"
    codes = [check["ExitCode"] for check in health["Log"]]
    assert codes[-1] == 0 and 1 in codes, health["Log"]  # failed while starting, then passed
    starts = [_docker.engine_time(check["Start"]) for check in health["Log"]]
    gaps = [(later - earlier).total_seconds() for earlier, later in zip(starts, starts[1:], strict=False)]
    assert gaps and max(gaps) < 5, gaps  # every second (plus the check's own time), not every 90 s
    time.sleep(8)  # at a check a second, 8 more would have run
    _, rested = _health("rdy-rests")
    assert rested["Log"] == health["Log"] and rested["Status"] == "healthy"


def _health(name: str) -> tuple[dict[str, object], dict[str, object]]:
    """The container's healthcheck as the engine holds it, and its health state and last checks."""
    inspected = json.loads(engine_support.docker("inspect", name).stdout)[0]
    return inspected["Config"]["Healthcheck"], inspected["State"]["Health"]


def _state(name: str) -> str | None:
    found = _docker.container(name)
    return found.status if found else None
