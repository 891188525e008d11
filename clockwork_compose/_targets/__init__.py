"""Targets: each turns the target-neutral model (``_model``) into the file one orchestrator
reads. A target is one emitter module here (``FILE``, ``document``, ``validate``,
``render``) plus, where clockwork runs it, one runtime module (``swarm_runtime`` for Swarm;
Compose's is ``_runtime``).

- ``compose``: docker-compose.yml for ``docker compose`` (the default).
- ``swarm``: docker-stack.yml for ``docker stack deploy``.
- ``kubernetes``: kubernetes.yaml for ``kubectl apply -f`` (no runtime module: kubectl runs it).
"""

from __future__ import annotations

import importlib
import posixpath
from types import ModuleType

#: Target name -> its emitter module (imported when used).
TARGETS = {"compose": "compose", "kubernetes": "kubernetes", "swarm": "swarm"}
DEFAULT = "compose"


def emitter(name: str) -> ModuleType:
    """The emitter module of target ``name`` (ValueError for an unknown one)."""
    if name not in TARGETS:
        raise ValueError(f"unknown target {name!r}: choose one of {', '.join(sorted(TARGETS))}")
    return importlib.import_module(f"{__name__}.{TARGETS[name]}")


def place(source: str, base: str) -> str:
    """A project-relative path (``./x``, ``.``, ``../x``) as seen from the generated file's
    folder, which is ``base`` relative to the project folder ("." when it sits next to main.py)."""
    if base == ".":
        return source
    joined = posixpath.normpath(posixpath.join(base, source))
    return joined if joined == "." or joined.startswith("..") else f"./{joined}"
