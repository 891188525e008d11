"""`clockwork dev` against the real engine, on a project of our own (names cw-devloop-*,
host port 15311 on 127.0.0.1): a synced file is in the container within seconds, a new
migration is applied, Ctrl-C ends dev with 130 and leaves the stack running."""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import engine_support
import pytest
from e2e_support import clockwork, eventually

pytestmark = pytest.mark.e2e

MAIN = """
from clockwork_compose import DatabaseConnection, DockerResource, ProjectSettings, Sync

ProjectSettings(container_names="compose", shared_network=False)
db = DockerResource(
    name="db",
    image="postgres:15-alpine",
    ports=["127.0.0.1:15311:5432"],
    env_vars={"POSTGRES_DB": "app", "POSTGRES_USER": "app", "POSTGRES_PASSWORD": "devloop"},
)
app = DockerResource(name="app", build="./app", watch=[Sync("./app/src", "/app/src")])
app.connect(DatabaseConnection(to_resource=db, username="app", password="devloop", database_name="app",
                               migrations_dir="migrations/"))
"""


@pytest.fixture
def project(tmp_path: Path) -> Iterator[Path]:
    folder = tmp_path / f"cw-devloop-e2e-{int(time.time())}"
    (folder / "app" / "src").mkdir(parents=True)
    (folder / "migrations").mkdir()
    (folder / "main.py").write_text(textwrap.dedent(MAIN))
    (folder / "app" / "Dockerfile").write_text("FROM redis:7-alpine\nCOPY src /app/src\n")
    (folder / "app" / "src" / "hello.txt").write_text("v1\n")
    (folder / "migrations" / "001_one.sql").write_text("CREATE TABLE one (id int);\n")
    try:
        yield folder
    finally:
        clockwork("destroy", cwd=folder)
        engine_support.remove_leftovers(projects=[folder.name])
        engine_support.docker("image", "rm", f"{folder.name}-app", check=False)


def _in(container: str, *argv: str) -> str:
    return engine_support.docker("exec", container, *argv, check=False).stdout


def test_dev_syncs_applies_migrations_and_leaves_the_stack_on_ctrl_c(project: Path) -> None:
    app, db = f"{project.name}-app-1", f"{project.name}-db-1"
    dev = subprocess.Popen(
        [sys.executable, "-m", "clockwork_compose", "dev"],
        cwd=project,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        eventually(lambda: "v1" in _in(app, "cat", "/app/src/hello.txt"), timeout=120)
        time.sleep(3)  # docker compose watch starts after apply
        (project / "app" / "src" / "hello.txt").write_text("v2\n")
        eventually(lambda: "v2" in _in(app, "cat", "/app/src/hello.txt"), timeout=10)

        (project / "migrations" / "002_two.sql").write_text("CREATE TABLE two (id int);\n")
        query = ["psql", "-U", "app", "-d", "app", "-tAc", "SELECT count(*) FROM clockwork_migrations"]
        eventually(lambda: _in(db, *query).strip() == "2", timeout=60)
    finally:
        dev.send_signal(signal.SIGINT)
        out, err = dev.communicate(timeout=30)
    assert dev.returncode == 130, err
    assert "watching" in err and "migrations changed: applying" in err, err
    assert "Traceback" not in err
    running = engine_support.docker("inspect", "--format", "{{.State.Running}}", app, db).stdout.split()
    assert running == ["true", "true"]
    left = subprocess.run(["pgrep", "-f", f"{project.name}.* watch"], capture_output=True, text=True).stdout
    assert not left.strip(), "docker compose watch outlived clockwork dev"
