"""The package's shape, read from its imports (lazy ones included, where a mistake shows only
when the command that reaches it runs): every import resolves, and imports point down."""

from __future__ import annotations

import ast
import importlib
import importlib.util
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "clockwork_compose"


def _imports() -> list[tuple[str, int, str, str]]:
    """(file, line, module, name) of every ``from ... import`` of the package's own modules."""
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        package = ".".join(parts[:-1])
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not isinstance(node, ast.ImportFrom):
                continue
            module = importlib.util.resolve_name("." * node.level + (node.module or ""), package)
            if module.startswith("clockwork_compose"):
                rel = str(path.relative_to(PACKAGE))
                found += [(rel, node.lineno, module, alias.name) for alias in node.names if alias.name != "*"]
    return found


def test_every_import_of_the_package_resolves() -> None:
    missing = []
    for file, line, module, name in _imports():
        try:
            if not hasattr(importlib.import_module(module), name):
                importlib.import_module(f"{module}.{name}")
        except ImportError:
            missing.append(f"{file}:{line}: from {module} import {name}")
    assert missing == []


@pytest.mark.parametrize(
    ("below", "above"),
    [
        ("_targets/", ("clockwork_compose._api", "clockwork_compose._cli")),  # runtimes take Needs instead
        ("_docker.py", ("clockwork_compose._targets", "clockwork_compose._api", "clockwork_compose._cli")),
        ("_assertions.py", ("clockwork_compose._targets", "clockwork_compose._api", "clockwork_compose._cli")),
    ],
)
def test_imports_point_down(below: str, above: tuple[str, ...]) -> None:
    upward = [
        f"{file}:{line}: {module}.{name}"
        for file, line, module, name in _imports()
        if file.startswith(below) and f"{module}.{name}".startswith(above)
    ]
    assert upward == []


def test_the_swarm_runtime_does_not_reach_into_compose_s() -> None:
    """Each target's runtime stands on ``base`` and the engine door, not on another target's."""
    sideways = [
        f"{file}:{line}: {module}"
        for file, line, module, _ in _imports()
        if file == "_targets/swarm/runtime.py" and module.startswith("clockwork_compose._targets.compose")
    ]
    assert sideways == []
