"""Helpers of the end-to-end tests: copies of the example, the CLI as a process, clean
slates and the example's database. Engine calls go through ``clockwork_compose._docker``."""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import engine_support

from clockwork_compose import _docker

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "examples" / "connected-services"
PROJECT = "connected-services"
CONTAINERS = ("api-server", "postgres-db", "redis-cache", "worker-service", "postgres-db-migrator")
NETWORK = "app_network"
IMAGES = ("postgres:15-alpine", "redis:7-alpine", "connected-services-api-server", "connected-services-worker-service")
DSN = "postgresql://admin:secret123@127.0.0.1:5432/appdb"  # pragma: allowlist secret
CLI_TIMEOUT = 300
#: Held while a test uses the example's fixed container names, host ports and network, so
#: that two test runs on one engine (two developers, a benchmark) take turns instead of
#: removing each other's stacks.
EXAMPLE_LOCK = Path("/tmp/clockwork-e2e-example.lock")


@dataclass(frozen=True)
class Run:
    code: int
    out: str
    err: str

    @property
    def text(self) -> str:
        return self.out + self.err


def clockwork(*args: str, cwd: Path) -> Run:
    """`clockwork ARGS` as a real process, in ``cwd``."""
    proc = subprocess.run(
        [sys.executable, "-m", "clockwork_compose", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=CLI_TIMEOUT,
    )
    return Run(proc.returncode, proc.stdout, proc.stderr)


@contextlib.contextmanager
def example_lock() -> Iterator[None]:
    """Exclusive use of the example's fixed names and ports on this engine."""
    with EXAMPLE_LOCK.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


#: Held while a test runs in the single-node swarm of ``swarm_mode``: two test runs on one
#: engine take turns, and a swarm found without its holder is one a killed run left.
SWARM_LOCK = Path("/tmp/clockwork-e2e-swarm.lock")
#: The node label that marks a swarm ``swarm_mode`` created (kept with the swarm's own state,
#: so it outlives a run killed inside the block and a reboot).
TEST_SWARM_LABEL = "clockwork.e2e-swarm"


@contextlib.contextmanager
def swarm_mode() -> Iterator[None]:
    """A single-node swarm on this engine for the block (``docker swarm init`` on
    127.0.0.1), left again afterwards, also on failure, with docker_gwbridge removed when
    the block created it. A swarm of an earlier run killed inside the block (its node
    carries ``TEST_SWARM_LABEL`` and nobody holds ``SWARM_LOCK``) is left first, with its
    stacks' volumes. Skips (fails under CLOCKWORK_E2E=required) when the engine is in
    someone else's swarm: never take it over."""
    import pytest

    with SWARM_LOCK.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        state = _swarm_state_holding_the_lock()
        if state != "inactive":
            reason = f"the engine is already in a swarm ({state}): this test creates and leaves its own"
            if os.environ.get("CLOCKWORK_E2E") == "required":
                pytest.fail(reason, pytrace=False)
            pytest.skip(reason)
        had_bridge = engine_support.docker("network", "inspect", "docker_gwbridge", check=False).returncode == 0
        try:
            engine_support.docker("swarm", "init", "--advertise-addr", "127.0.0.1", "--listen-addr", "127.0.0.1:2377")
            node = engine_support.docker("info", "--format", "{{.Swarm.NodeID}}").stdout.strip()
            engine_support.docker("node", "update", "--label-add", f"{TEST_SWARM_LABEL}=true", node)
            yield
        finally:
            engine_support.docker("swarm", "leave", "--force", check=False)
            if not had_bridge:
                engine_support.docker("network", "rm", "docker_gwbridge", check=False)


def swarm_state() -> str:
    """The engine's swarm state ("inactive", "active", ...) once a swarm a killed run of
    ``swarm_mode`` left is gone."""
    with SWARM_LOCK.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        return _swarm_state_holding_the_lock()


def _swarm_state_holding_the_lock() -> str:
    state = engine_support.docker("info", "--format", "{{.Swarm.LocalNodeState}}").stdout.strip()
    if state == "active" and _left_by_a_killed_run():
        _leave_stale_swarm()
        return "inactive"
    return state


def _left_by_a_killed_run() -> bool:
    label = engine_support.docker(
        "node", "inspect", "self", "--format", f'{{{{index .Spec.Labels "{TEST_SWARM_LABEL}"}}}}', check=False
    )
    return label.stdout.strip() == "true"


def _leave_stale_swarm() -> None:
    stacks = engine_support.docker("stack", "ls", "--format", "{{.Name}}", check=False).stdout.split()
    engine_support.docker("swarm", "leave", "--force")
    engine_support.docker("network", "rm", "docker_gwbridge", check=False)
    for stack in stacks:
        label = f"com.docker.stack.namespace={stack}"
        volumes = engine_support.docker("volume", "ls", "--quiet", "--filter", f"label={label}").stdout.split()
        if volumes:
            engine_support.docker("volume", "rm", *volumes, check=False)


def clean_slate() -> _docker.Removed:
    """Remove what an earlier run (or another copy of the example) left behind: only what
    carries the example's project label (never by name or by published port: the engine is
    shared), and app_network only when no container uses it."""
    return engine_support.remove_leftovers(projects=(PROJECT,), networks=(NETWORK,))


@dataclass(frozen=True)
class Stack:
    """A copy of the example in a folder named like the original (same project and images)."""

    dir: Path

    @property
    def compose(self) -> _docker.ComposeProject:
        return _docker.ComposeProject(PROJECT, self.dir, (self.dir / "docker-compose.yml",))

    def cli(self, *args: str) -> Run:
        return clockwork(*args, cwd=self.dir)

    def apply(self) -> Run:
        return self.cli("apply")

    def migration(self, name: str) -> Path:
        return self.dir / "migrations" / name


def copy_example(parent: Path) -> Stack:
    target = parent / PROJECT
    shutil.copytree(EXAMPLE, target, ignore=shutil.ignore_patterns(".env", "__pycache__"))
    return Stack(target)


# -- database helpers -----------------------------------------------------------------------


def query(sql: str, *params: object) -> list[tuple[object, ...]]:
    """Rows from the example's database, through its published port on the host."""
    import psycopg

    with psycopg.connect(DSN, connect_timeout=5, autocommit=True) as conn:
        cursor = conn.execute(sql, params)  # type: ignore[arg-type]
        return list(cursor.fetchall()) if cursor.description else []


def migration_rows() -> dict[str, tuple[object, object]]:
    """clockwork_migrations as {version: (checksum, applied_at)}."""
    return {str(v): (c, a) for v, c, a in query("SELECT version, checksum, applied_at FROM clockwork_migrations")}


def table_exists(name: str) -> bool:
    return bool(query("SELECT to_regclass(%s) IS NOT NULL", f"public.{name}")[0][0])


def eventually(probe: Callable[[], object], timeout: float = 30, interval: float = 0.5) -> object:
    """Poll ``probe`` until it returns a truthy value without raising; the last error otherwise."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            value = probe()
            if value:
                return value
            error: BaseException | None = None
        except Exception as exc:  # retried until the deadline
            error = exc
        if time.monotonic() > deadline:
            if error is not None:
                raise error
            raise AssertionError(f"{probe} stayed false for {timeout}s")
        time.sleep(interval)
