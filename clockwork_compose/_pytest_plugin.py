"""The pytest plugin clockwork-compose ships (entry point ``pytest11``): the ``clockwork_stack``
fixture, an isolated, applied copy of a project per call (see ``_testing``).

Loading it imports nothing of the engine (no python-on-whales, no psycopg, no docker call):
a pytest run that never asks for the fixture runs as it would without it, Docker or not.
Without a usable engine a test that asks for a stack is skipped with the reason, or fails
under ``CLOCKWORK_E2E=required`` (CI, where a skip would hide it)."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from ._testing import Stack

#: Copies made in this process and not destroyed yet: a finalizer cut short (a second
#: Ctrl-C) leaves them to ``pytest_unconfigure``.
_LIVE: list[Path] = []
_ENGINE: list[str] = []  # "" once the engine answered; else why it cannot be used


@pytest.fixture
def clockwork_stack(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[MakeStack]:
    """``clockwork_stack("examples/shop")``: a copy of that project (a path relative to the
    rootdir, or absolute) applied and ready: its own project name, volumes, container
    names, network and free host ports. Every copy the test made is destroyed afterwards,
    volumes included, whether it passed, failed or was interrupted."""
    made: list[Path] = []

    def make(folder: str | os.PathLike[str], *, timeout: float | None = None) -> Stack:
        from . import _testing

        _require_engine()
        source = Path(folder) if Path(folder).is_absolute() else request.config.rootpath / folder
        copy = _testing.copy_project(source, tmp_path_factory.mktemp("clockwork-stack"))
        made.append(copy)
        _LIVE.append(copy)
        return _testing.apply_copy(copy, source, timeout)

    try:
        yield make
    finally:
        _destroy(made)


MakeStack = Callable[..., "Stack"]


def _destroy(copies: list[Path]) -> None:
    """Destroy each copy, the last made first; every one is tried, the first error raised."""
    if not copies:
        return
    from . import _testing

    errors: list[BaseException] = []
    for copy in reversed(copies):
        try:
            _testing.destroy_copy(copy)
            _LIVE.remove(copy)
        except BaseException as exc:  # a KeyboardInterrupt too: the other copies go first
            errors.append(exc)
    if errors:
        raise errors[0]


def _require_engine() -> None:
    if not _ENGINE:
        from . import _docker
        from ._errors import EngineUnavailable

        try:
            _docker.engine_info()
            _ENGINE.append("")
        except EngineUnavailable as exc:
            _ENGINE.append(f"clockwork_stack needs a Docker engine with Compose v2: {exc}")
    if _ENGINE[0]:
        if os.environ.get("CLOCKWORK_E2E") == "required":
            pytest.fail(_ENGINE[0], pytrace=False)
        pytest.skip(_ENGINE[0])


def pytest_unconfigure(config: pytest.Config) -> None:
    """Copies whose finalizer was cut short (a second Ctrl-C) are destroyed at the end."""
    _destroy(list(_LIVE))
