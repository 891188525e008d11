"""Shared fixtures: throwaway projects (helpers live in support.py)."""

from __future__ import annotations

import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest
from support import HEADER

MakeProject = Callable[..., Path]

#: The clockwork_stack fixture, from the worktree (the installed entry point may be older).
pytest_plugins = ("clockwork_compose._pytest_plugin",)


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
