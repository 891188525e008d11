"""Helpers shared by the tests: paths, and the `clockwork` CLI as a real process."""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import engine_support
import pytest

from clockwork_compose import _docker

REPO = Path(__file__).resolve().parent.parent
EXAMPLE = REPO / "examples" / "connected-services"
HEADER = "from clockwork_compose import *  # noqa: F403\n"


@dataclass
class Result:
    code: int
    out: str
    err: str


def run_cli(*args: str, cwd: Path | None = None, env: dict[str, str] | None = None) -> Result:
    """Run `clockwork ARGS` as a real process (python -m, so the venv's package is used)."""
    proc = subprocess.run(
        [sys.executable, "-m", "clockwork_compose", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        timeout=120,
    )
    return Result(proc.returncode, proc.stdout, proc.stderr)


@cache
def compose_v2() -> bool:
    """Whether a docker CLI with Compose v2 is here (it parses files without an engine)."""
    if shutil.which("docker") is None:
        return False
    return engine_support.compose_version().startswith("2.")


needs_compose = pytest.mark.skipif(not compose_v2(), reason="needs a Docker CLI with Compose v2")

#: Variables that would change what Compose reads: secrets must come from .env alone.
_NOT_FROM_THE_ENVIRONMENT = ("DB_PASSWORD", "CLOCKWORK_API_SERVER_DATABASE_URL", "COMPOSE_FILE", "COMPOSE_PROJECT_NAME")


@contextlib.contextmanager
def _environment_without(names: tuple[str, ...]) -> Iterator[None]:
    saved = {name: os.environ.pop(name) for name in names if name in os.environ}
    try:
        yield
    finally:
        os.environ.update(saved)


def compose_config(folder: Path, file: str = "docker-compose.yml") -> dict[str, Any]:
    """What Compose makes of ``folder``'s compose file and .env, as `docker compose config` reads them,
    with the secrets absent from the environment."""
    folder = folder.resolve()
    project = _docker.ComposeProject(folder.name, folder, (folder / file,))
    with _environment_without(_NOT_FROM_THE_ENVIRONMENT):
        return engine_support.compose_config(project)
