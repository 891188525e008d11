"""Helpers shared by the tests: paths, and the `clockwork` CLI as a real process."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

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
