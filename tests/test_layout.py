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


def test_python_on_whales_is_imported_only_under_the_import_lock() -> None:
    """apply imports python-on-whales on a second thread while it builds. Two threads importing
    its mutually importing submodules can see a half-initialised module (CI saw "partially
    initialized module 'python_on_whales' has no attribute 'components'"), so every import of
    it goes through ``_docker._python_on_whales``, which holds a lock."""
    outside = []
    for path in sorted(PACKAGE.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        allowed = {
            id(node)
            for fn in ast.walk(tree)
            if isinstance(fn, ast.FunctionDef) and fn.name == "_python_on_whales" and path.name == "_docker.py"
            for node in ast.walk(fn)
        }
        for node in ast.walk(tree):
            names = (
                [a.name for a in node.names]
                if isinstance(node, ast.Import)
                else [node.module or ""]
                if isinstance(node, ast.ImportFrom)
                else []
            )
            if any(n.split(".")[0] == "python_on_whales" for n in names) and id(node) not in allowed:
                outside.append(f"{path.relative_to(PACKAGE)}:{node.lineno}")
    assert outside == []
