"""`clockwork import` end to end, on the real engine: three stacks of the corpus (PostgreSQL,
MariaDB with Redis on isolated networks, Redis with a built app), each imported from its
compose file, built, applied, asserted and destroyed with the CLI as a process.

The test copy swaps what this machine cannot run for local stand-ins (images that exist here,
host ports 18401-18405 of this test's range, an app image with a small HTTP server instead of
gitea, nextcloud or flask); everything else is the file as its repository has it."""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path

import engine_support
import pytest
import yaml
from e2e_support import REPO, clockwork

pytestmark = pytest.mark.e2e

CORPUS = REPO / "tests" / "data" / "compose-corpus" / "docker+awesome-compose"
APP = "clockwork-standin-base:bookworm"
#: The stand-in app: serves HTTP on the port it is given, as the real apps do.
SERVE = '["python3", "-m", "http.server", "{port}"]'


@dataclass(frozen=True)
class Stack:
    folder: str
    #: (text in the corpus file, what the test copy has instead)
    swaps: tuple[tuple[str, str], ...]
    engines: dict[str, str]
    #: service -> the networks its container must be on (None: Compose's default only).
    networks: dict[str, set[str]] | None = None


STACKS = {
    "postgres": Stack(
        "gitea-postgres",
        (
            ("image: gitea/gitea:latest", f"image: {APP}\n    command: {SERVE.format(port=3000)}"),
            ("- DB_TYPE=postgres", "- DB_TYPE=postgres\n      - TZ=${TZ}"),
            ("postgres:alpine", "postgres:15-alpine"),
            ("- 3000:3000", "- 127.0.0.1:18401:3000"),
        ),
        {"db": "postgres"},
    ),
    "mariadb": Stack(
        "nextcloud-redis-mariadb",
        (
            ("image: nextcloud:apache", f"image: {APP}\n    command: {SERVE.format(port=80)}"),
            ("redis:alpine", "redis:7-alpine"),
            ("mariadb:10.5", "mariadb:11"),
            ("- 80:80", "- 127.0.0.1:18402:80"),
        ),
        {"db": "mariadb", "redis": "redis"},
        {"nc": {"dbnet", "redisnet"}, "db": {"dbnet"}, "redis": {"redisnet"}},
    ),
    "redis": Stack(
        "flask-redis",
        (
            ("redislabs/redismod", "redis:7-alpine"),
            ("    build:\n      context: .\n      target: builder\n", f"    image: {APP}\n"),
            ("stop_signal: SIGINT", f"stop_signal: SIGINT\n    command: {SERVE.format(port=8000)}"),
            ("'6379:6379'", "'127.0.0.1:18403:6379'"),
            ("'8000:8000'", "'127.0.0.1:18404:8000'"),
        ),
        {"redis": "redis"},
    ),
}


def _copy(stack: Stack, tmp: Path, name: str) -> Path:
    folder = tmp / f"import-e2e-{name}"
    folder.mkdir()
    text = (CORPUS / stack.folder / "compose.yaml").read_text()
    for old, new in stack.swaps:
        assert old in text, f"{stack.folder}/compose.yaml no longer holds {old!r}"
        text = text.replace(old, new)
    (folder / "compose.yaml").write_text(text)
    (folder / ".env").write_text("# the user's own file\nTZ=UTC\n")
    return folder


def _project_containers(project: str) -> dict[str, dict]:
    """service -> `docker inspect` of the project's containers, found by Compose's labels."""
    ids = engine_support.docker("ps", "-aq", "--filter", f"label=com.docker.compose.project={project}").stdout.split()
    if not ids:
        return {}
    found = json.loads(engine_support.docker("inspect", *ids).stdout)
    return {c["Config"]["Labels"]["com.docker.compose.service"]: c for c in found}


@pytest.mark.parametrize("name", sorted(STACKS))
def test_an_imported_stack_applies_asserts_and_is_destroyed(name: str, tmp_path: Path):
    stack = STACKS[name]
    folder = _copy(stack, tmp_path, name)
    project = folder.name
    env_before = (folder / ".env").read_bytes()
    engine_support.remove_leftovers(projects=(project,))
    try:
        imported = clockwork("import", cwd=folder)
        assert imported.code == 0, imported.text
        for service, engine in stack.engines.items():
            assert f"{service} ({engine})" in imported.err
        assert "next: move the hand-written file aside" in imported.err
        assert clockwork("import", cwd=folder).code == 2  # main.py is never overwritten

        refused = clockwork("build", cwd=folder)
        assert refused.code == 2, refused.text  # Compose would read compose.yaml first
        shutil.move(folder / "compose.yaml", folder / "compose.yaml.orig")
        built = clockwork("build", cwd=folder)
        assert built.code == 0, built.text

        applied = clockwork("apply", cwd=folder)
        assert applied.code == 0, applied.text
        checked = clockwork("assert", cwd=folder)
        assert checked.code == 0, checked.text

        containers = _project_containers(project)
        services = yaml.safe_load((folder / "compose.yaml.orig").read_text())["services"]
        assert set(containers) == set(services)
        for service, container in containers.items():
            assert container["State"]["Running"], f"{service} is not running"
            if service in stack.engines:
                assert container["State"]["Health"]["Status"] == "healthy"
        if stack.networks is not None:
            for service, networks in stack.networks.items():
                attached = set(containers[service]["NetworkSettings"]["Networks"])
                assert attached == {f"{project}_{n}" for n in networks}, service
        if name == "postgres":
            env = containers["gitea"]["Config"]["Env"]
            assert "TZ=UTC" in env  # ${TZ} stayed interpolation, resolved from the user's .env
        assert (folder / ".env").read_bytes() == env_before
    finally:
        destroyed = clockwork("destroy", cwd=folder)
    assert destroyed.code == 0, destroyed.text
    assert _project_containers(project) == {}
