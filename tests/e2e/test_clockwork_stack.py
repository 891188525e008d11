"""The ``clockwork_stack`` fixture (``clockwork_compose._pytest_plugin``) on the example:
an isolated copy reached from the test, two copies side by side (also under ``-n 2`` in
another pytest), a copy beside a running one, and nothing left on the engine afterwards.

Copies never touch the example's fixed names, ports or app_network, so only the test that
applies the example itself beside a copy takes EXAMPLE_LOCK (through ``applied_stack``)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
import urllib.request
from pathlib import Path

import engine_support
import psycopg
import pytest
from e2e_support import CONTAINERS, EXAMPLE, REPO, Stack, query

from clockwork_compose import _docker

pytestmark = pytest.mark.e2e

#: The example's fixed host ports: a copy publishes none of them.
FIXED_PORTS = {8000, 5432, 6379}


def _get(url: str) -> dict:
    with urllib.request.urlopen(url, timeout=10) as response:
        assert response.status == 200
        return json.loads(response.read())


def _left(name: str) -> list[str]:
    """What the engine holds of project ``name``: containers, volumes, networks."""
    containers = [c.name for c in _docker.project_containers(name)]
    volumes = [v.name for v in _docker.volumes(name)]
    networks = [n.name for n in _docker.networks(project=name)]
    return containers + volumes + networks


def test_a_copy_answers_on_its_own_ports_and_database(clockwork_stack) -> None:
    stack = clockwork_stack("examples/connected-services")
    assert stack.name.startswith("connected-services-t")
    assert _get(stack.url("api-server", 80) + "/health") == {"status": "ok", "database": "ok", "redis": "ok"}
    with psycopg.connect(stack.database_url("postgres-db"), connect_timeout=5) as conn:
        versions = {row[0] for row in conn.execute("SELECT version FROM clockwork_migrations")}
    assert "001_add_users_table.sql" in versions
    assert stack.exec("redis-cache", ["redis-cli", "ping"]) == "PONG"
    ports = {stack.port(s, p) for s, p in (("api-server", 80), ("postgres-db", 5432), ("redis-cache", 6379))}
    assert not ports & FIXED_PORTS
    assert {stack.container(s) for s in CONTAINERS} == {f"{stack.name}-{s}" for s in CONTAINERS}
    assert not stack.folder.is_relative_to(EXAMPLE)
    assert _untracked_or_changed(EXAMPLE) == ""  # the user's folder was only read


def _untracked_or_changed(folder: Path) -> str:
    return subprocess.run(
        ["git", "status", "--porcelain", "--ignored", "--", "."], cwd=folder, capture_output=True, text=True, check=True
    ).stdout


def test_two_copies_at_once_share_nothing(clockwork_stack) -> None:
    one = clockwork_stack("examples/connected-services")
    two = clockwork_stack(EXAMPLE)
    assert one.name != two.name
    with psycopg.connect(one.database_url("postgres-db"), autocommit=True) as conn:
        conn.execute("CREATE TABLE only_in_one (x int)")
    with psycopg.connect(two.database_url("postgres-db"), autocommit=True) as conn:
        assert conn.execute("SELECT to_regclass('only_in_one')").fetchone() == (None,)
    # Each api-server resolves postgres-db to its own copy's database: on its own network.
    for stack in (one, two):
        networks = engine_support.docker(
            "inspect", "-f", "{{json .NetworkSettings.Networks}}", stack.container("api-server")
        ).stdout
        assert list(json.loads(networks)) == [f"{stack.name}_app_network"]
        assert _get(stack.url("api-server", 80) + "/health")["database"] == "ok"


def test_everything_of_a_copy_is_gone_after_its_test(pytester_like_run) -> None:
    """Two tests each with a copy, run by another pytest under -n 2 (two workers side by
    side): both pass, and nothing of either copy is left on the engine."""
    result = pytester_like_run(
        """
        import urllib.request

        def _health(stack):
            with urllib.request.urlopen(stack.url("api-server", 80) + "/health", timeout=10) as r:
                assert r.status == 200

        def test_one(clockwork_stack):
            stack = clockwork_stack(EXAMPLE)
            _health(stack)
            print("PROJECT", stack.name)

        def test_two(clockwork_stack):
            stack = clockwork_stack(EXAMPLE)
            _health(stack)
            print("PROJECT", stack.name)
        """,
        "-n",
        "2",
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "2 passed" in result.stdout
    projects = sorted({line.split()[-1] for line in result.stdout.splitlines() if "PROJECT " in line})
    assert len(projects) == 2, result.stdout
    for name in projects:
        assert _left(name) == []


def test_a_copy_beside_the_example_itself_leaves_it_alone(applied_stack: Stack, clockwork_stack) -> None:
    """The example applied from its folder (fixed names, ports 5432/6379/8000, app_network),
    then a copy: both serve, neither sees the other's data, and the example's containers
    are the same ones, still healthy, once the copy is gone."""
    before = {c.name: c.id for c in _docker.project_containers("connected-services")}
    copy = clockwork_stack("examples/connected-services")
    with psycopg.connect(copy.database_url("postgres-db"), autocommit=True) as conn:
        conn.execute("CREATE TABLE only_in_the_copy (x int)")
    assert query("SELECT to_regclass('only_in_the_copy')") == [(None,)]
    assert _get("http://127.0.0.1:8000/health")["database"] == "ok"
    assert _get(copy.url("api-server", 80) + "/health")["database"] == "ok"
    assert {c.name: c.id for c in _docker.project_containers("connected-services")} == before


def test_ctrl_c_during_apply_leaves_nothing(tmp_path: Path, pytester_like_run) -> None:
    """Ctrl-C (SIGINT to pytest and its children, as a terminal sends it) while the fixture
    applies: the run stops, and the copy is destroyed, volumes included."""
    base = tmp_path / "base"
    proc = pytester_like_run(
        """
        def test_interrupted(clockwork_stack):
            clockwork_stack(EXAMPLE)
        """,
        "--basetemp",
        str(base),
        wait=False,
    )
    projects = _eventually_projects_under(base)
    os.killpg(proc.pid, signal.SIGINT)
    out, err = proc.communicate(timeout=300)
    assert proc.returncode != 0, out + err
    assert "KeyboardInterrupt" in out + err
    for name in projects:
        assert _left(name) == [], out + err


def _eventually_projects_under(base: Path, timeout: float = 120) -> set[str]:
    """The Compose projects with a container made from a folder under ``base``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        listed = engine_support.docker(
            "ps",
            "-a",
            "--format",
            '{{.Label "com.docker.compose.project"}} {{.Label "com.docker.compose.project.working_dir"}}',
        ).stdout.split("\n")
        found = {
            line.split(" ", 1)[0] for line in listed if " " in line and line.split(" ", 1)[1].startswith(str(base))
        }
        if found:
            return found
        time.sleep(0.1)
    raise AssertionError(f"no container from {base} within {timeout}s")


@pytest.fixture
def pytester_like_run(tmp_path: Path):
    """Run a pytest session over ``source`` (a test module; ``EXAMPLE`` is defined in it) in
    a subprocess, with the plugin from this checkout (-rA: what passing tests print is shown)."""

    def run(source: str, *args: str, wait: bool = True):  # CompletedProcess, or the Popen
        test = tmp_path / "test_copies.py"
        test.write_text(f"EXAMPLE = {str(EXAMPLE)!r}\n" + textwrap.dedent(source), encoding="utf-8")
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))}
        command = [sys.executable, "-m", "pytest", "-p", "clockwork_compose._pytest_plugin", "-q", "-rA"]
        argv = [*command, "-p", "no:cacheprovider", *args, str(test)]
        if not wait:  # its own process group: a Ctrl-C reaches it and its children only
            return subprocess.Popen(
                argv,
                cwd=tmp_path,
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
                start_new_session=True,
            )
        return subprocess.run(argv, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)

    return run
