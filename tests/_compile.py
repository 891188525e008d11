"""Compile a project in-process, returning the model, the text and the parsed document."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from clockwork_compose import _api
from clockwork_compose._model import Project


def compile_dir(path: Path) -> tuple[Project, str, dict[str, Any]]:
    project, text, _ = _api.compile_project(path)
    return project, text, yaml.safe_load(text)
