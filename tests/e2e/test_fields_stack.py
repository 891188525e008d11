"""A stack as real Compose files write it, on the real engine (issue 18): a file secret read
through the official image's ``*_FILE`` variable, networks that isolate a frontend from the
database, no shared ``app_network`` and Compose's own container names.

Project ``fields-e2e`` (its folder's name): containers ``fields-e2e-<service>-1``, no host port.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import engine_support
import pytest
from e2e_support import IMAGES, clockwork

pytestmark = pytest.mark.e2e

PROJECT = "fields-e2e"
APP_IMAGE = IMAGES[3]  # python3, psycopg and psql in it
PASSWORD = "e2e-file-secret-1"  # pragma: allowlist secret

MAIN = f"""\
from clockwork_compose import *  # noqa: F403

ProjectSettings(shared_network=False, container_names="compose")
back = Network("back", internal=True)
front = Network("front")
password = FileSecret("db_password", file="./secrets/db_password.txt")
idle = ["python3", "-c", "import time\\nwhile True: time.sleep(60)"]

# The local postgres stand-in has no file_env (the official image reads POSTGRES_PASSWORD_FILE
# itself): this entrypoint does what the official one does with it.
from_file = 'POSTGRES_PASSWORD="$(cat "$POSTGRES_PASSWORD_FILE")" exec docker-entrypoint.sh postgres'
db = DockerResource(
    name="db",
    image="postgres:15-alpine",
    env_vars={{"POSTGRES_PASSWORD_FILE": "/run/secrets/db_password"}},
    entrypoint=["/bin/sh", "-c", from_file],
    secrets=[password],
    networks=[back],
)
app = DockerResource(name="app", image="{APP_IMAGE}", command=idle, secrets=[password], networks=[back, front])
app.connect(db)
web = DockerResource(name="web", image="{APP_IMAGE}", command=idle, networks=[front], init=True, read_only=True)
"""


def _exec(container: str, *argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["docker", "exec", container, *argv], capture_output=True, text=True, timeout=60)


def _networks(container: str) -> set[str]:
    out = engine_support.docker("inspect", "--format", "{{json .NetworkSettings.Networks}}", container).stdout
    import json

    return set(json.loads(out))


def _psql(password: str) -> subprocess.CompletedProcess[str]:
    script = f'PGPASSWORD="{password}" psql -h db -U postgres -tAc "select 40 + 2"'
    return _exec(f"{PROJECT}-app-1", "sh", "-c", script)


@pytest.fixture
def project(tmp_path: Path):
    root = tmp_path / PROJECT
    (root / "secrets").mkdir(parents=True)
    (root / "secrets" / "db_password.txt").write_text(PASSWORD)
    (root / "main.py").write_text(MAIN)
    try:
        yield root
    finally:
        down = clockwork("destroy", cwd=root)
        if down.code != 0:  # leave nothing behind either way
            subprocess.run(
                ["docker", "compose", "-p", PROJECT, "--project-directory", str(root), "down", "-v"],
                capture_output=True,
                timeout=120,
            )


def test_file_secrets_and_isolated_networks_on_the_engine(project: Path) -> None:
    applied = clockwork("apply", cwd=project)
    assert applied.code == 0, applied.text

    # Compose's names, and exactly the declared networks: no app_network joins them.
    assert _networks(f"{PROJECT}-db-1") == {f"{PROJECT}_back"}
    assert _networks(f"{PROJECT}-app-1") == {f"{PROJECT}_back", f"{PROJECT}_front"}
    assert _networks(f"{PROJECT}-web-1") == {f"{PROJECT}_front"}

    # Postgres took its password from the file (POSTGRES_PASSWORD_FILE): right one in, wrong one out.
    right = _psql(PASSWORD)
    assert right.returncode == 0 and right.stdout.strip() == "42", right.stderr
    wrong = _psql("not-the-password")
    assert wrong.returncode != 0 and "password authentication failed" in wrong.stderr, wrong.stderr
    secret = _exec(f"{PROJECT}-app-1", "cat", "/run/secrets/db_password")
    assert secret.stdout == PASSWORD

    # The frontend shares no network with the database: it cannot even resolve its name.
    lookup = "import socket\ntry:\n socket.getaddrinfo('db', 5432)\nexcept OSError:\n print('no route')"
    isolated = _exec(f"{PROJECT}-web-1", "python3", "-c", lookup)
    assert isolated.stdout.strip() == "no route", isolated.stdout + isolated.stderr
    reached = _exec(f"{PROJECT}-app-1", "python3", "-c", lookup + "\nelse:\n print('ok')")
    assert reached.stdout.strip() == "ok", reached.stdout + reached.stderr

    checked = clockwork("assert", cwd=project)
    assert checked.code == 0, checked.text

    destroyed = clockwork("destroy", cwd=project)
    assert destroyed.code == 0, destroyed.text
    left = engine_support.docker("ps", "-a", "--filter", f"label=com.docker.compose.project={PROJECT}", "-q").stdout
    assert left.strip() == ""


PROFILES_MAIN = f"""\
from clockwork_compose import *  # noqa: F403

ProjectSettings(container_names="compose", shared_network=False)
idle = ["python3", "-c", "import time\\nwhile True: time.sleep(60)"]
DockerResource(name="app", image="{APP_IMAGE}", command=idle)
DockerResource(name="debugger", image="{APP_IMAGE}", command=idle, profiles=["debug"])
"""


def _running(project: str) -> set[str]:
    out = engine_support.docker(
        "ps", "--filter", f"label=com.docker.compose.project={project}", "--format", "{{.Names}}"
    )
    return set(out.stdout.split())


def test_profiles_run_as_compose_runs_them(tmp_path: Path) -> None:
    """apply and assert leave a service of an inactive profile out (as `docker compose up`
    does), run it when COMPOSE_PROFILES (environment or .env) activates it, and never
    remove it as an orphan when the profile is off again; destroy removes everything."""
    name = "fields-e2e-profiles"
    root = tmp_path / name
    root.mkdir()
    (root / "main.py").write_text(PROFILES_MAIN)
    try:
        first = clockwork("apply", cwd=root)
        assert first.code == 0, first.text
        assert _running(name) == {f"{name}-app-1"}
        assert clockwork("assert", cwd=root).code == 0
        (root / ".env").write_text("COMPOSE_PROFILES=debug\n")
        second = clockwork("apply", cwd=root)
        assert second.code == 0, second.text
        assert _running(name) == {f"{name}-app-1", f"{name}-debugger-1"}
        checked = clockwork("assert", cwd=root)
        assert checked.code == 0 and "debugger" in checked.text, checked.text
        (root / ".env").write_text("")
        third = clockwork("apply", cwd=root)
        assert third.code == 0, third.text
        assert _running(name) == {f"{name}-app-1", f"{name}-debugger-1"}  # left as Compose leaves it
    finally:
        destroyed = clockwork("destroy", cwd=root)
    assert destroyed.code == 0, destroyed.text
    assert _running(name) == set()
