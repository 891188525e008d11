"""End-to-end fixtures: a real Docker engine, and fresh copies of the example.

No engine (or no Compose v2, or missing images): the tests are skipped with the reason,
unless ``CLOCKWORK_E2E=required`` (CI), where that is a failure.

The example uses fixed container names, host ports and a fixed network name, so every
stack starts by removing leftovers and is removed again afterwards, even when a test fails.
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from pathlib import Path

import engine_support
import pytest
from e2e_support import IMAGES, Stack, clean_slate, copy_example, example_lock
from lab_support import LOCK, Lab, lab_script, parse_up

from clockwork_compose import _docker
from clockwork_compose._errors import EngineUnavailable


@pytest.fixture(scope="session", autouse=True)
def docker_engine() -> _docker.EngineInfo:
    """The engine, or a skip (a failure under CLOCKWORK_E2E=required) that says why not."""
    required = os.environ.get("CLOCKWORK_E2E") == "required"
    try:
        info = _docker.engine_info()
        missing = [image for image in IMAGES if not engine_support.image_exists(image)]
    except EngineUnavailable as exc:
        reason = f"no usable Docker engine: {exc}"
        if required:
            pytest.fail(f"CLOCKWORK_E2E=required but {reason}", pytrace=False)
        pytest.skip(reason)
    if missing:
        reason = f"images missing: {', '.join(missing)}; run scripts/build-test-images.sh"
        if required:
            pytest.fail(f"CLOCKWORK_E2E=required but {reason}", pytrace=False)
        pytest.skip(reason)
    return info


@pytest.fixture
def fresh_stack(tmp_path: Path) -> Iterator[Stack]:
    """A fresh copy of the example, nothing running yet; everything removed afterwards."""
    with example_lock():
        clean_slate()
        try:
            yield copy_example(tmp_path)
        finally:
            clean_slate()


@pytest.fixture
def applied_stack(fresh_stack: Stack) -> Stack:
    """A fresh copy, applied successfully."""
    result = fresh_stack.apply()
    assert result.code == 0, result.text
    return fresh_stack


@pytest.fixture(scope="session")
def lab() -> Iterator[Lab]:
    """scripts/swarm-lab.sh's three nodes, made once for the session and removed at its
    end (``down``), also on failure; a lab someone left up is reused, then removed
    (CLOCKWORK_E2E_KEEP_LAB=1 leaves it up, for the next run to reuse)."""
    with LOCK.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            up = lab_script("up", "3")
            assert up.returncode == 0, up.stderr
            yield parse_up(up.stdout)
        finally:
            if os.environ.get("CLOCKWORK_E2E_KEEP_LAB") != "1":
                lab_script("down")
            fcntl.flock(handle, fcntl.LOCK_UN)
