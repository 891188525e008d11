"""Shared fixtures: throwaway projects and the `clockwork` CLI as a real process."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

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


MakeProject = Callable[..., Path]


@pytest.fixture
def make_project(tmp_path: Path) -> MakeProject:
    """Write a project: main.py (dedented, with the public names imported) plus files."""

    def make(main: str, files: dict[str, str] | None = None, name: str = "demo") -> Path:
        root = tmp_path / name
        root.mkdir(parents=True, exist_ok=True)
        (root / "main.py").write_text(HEADER + textwrap.dedent(main), encoding="utf-8")
        for relative, content in (files or {}).items():
            path = root / relative
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(content, encoding="utf-8")
        return root

    return make
