"""What every benchmark receives: the mode, a scratch folder, and a place for extra JSON data."""

from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ._proc import REPO

EXAMPLE = REPO / "examples" / "connected-services"


@dataclass
class Settings:
    quick: bool
    scratch: Path
    extra: dict[str, Any] = field(default_factory=dict)

    def copy_example(self, under: str) -> Path:
        """A private copy of the example, in a folder still named ``connected-services``
        (the Compose project name, and so the image names, come from the folder's name)."""
        target = self.scratch / under / EXAMPLE.name
        shutil.rmtree(target, ignore_errors=True)
        shutil.copytree(EXAMPLE, target, ignore=shutil.ignore_patterns("docker-compose.yml", "__pycache__", ".*"))
        return target
