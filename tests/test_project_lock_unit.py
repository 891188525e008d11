"""One apply or destroy of a project at a time (issue 16, item 5), without an engine. The
same on the real engine: tests/e2e/test_project_lock.py."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from clockwork_compose import _deploy, _runtime
from clockwork_compose._runtime import Busy

# -- the lock ----------------------------------------------------------------------------------


@pytest.fixture
def name() -> str:
    """A project name of this test process alone (the lock directory is shared by the host)."""
    return f"unit-lock-{os.getpid()}"


def test_a_second_apply_or_a_destroy_is_refused_naming_what_holds_the_lock(name: str) -> None:
    me = os.getpid()
    with _deploy.project_lock(name, "apply"):
        another = rf"^another apply of {name} is running \(process {me}\); nothing was changed"
        with pytest.raises(Busy, match=another), _deploy.apply_lock(name):
            pass
        with (
            pytest.raises(Busy, match=rf"^an apply of {name} is running \(process {me}\)"),
            _deploy.project_lock(name, "destroy"),
        ):
            pass
    with (
        _deploy.project_lock(name, "destroy"),
        pytest.raises(Busy, match=rf"^a destroy of {name} is running \(process {me}\)"),
        _deploy.apply_lock(name),
    ):
        pass
    with _deploy.project_lock(name, "destroy"):  # free again once the holder is done
        pass


def test_a_lock_file_without_a_holder_written_yet_names_what_it_guards() -> None:
    assert _runtime.busy_message("", "an apply or destroy of shop", "apply of shop") == (
        "an apply or destroy of shop is running; nothing was changed: wait for it to finish, then try again"
    )
    assert _runtime.busy_message("42", "the network lock").startswith("the network lock is running (process 42)")


def test_compose_destroy_takes_the_project_lock(tmp_path: Path) -> None:
    folder = tmp_path / "unit-lock-destroy"
    folder.mkdir()
    with (
        _deploy.project_lock("unit-lock-destroy", "apply"),
        pytest.raises(Busy, match="an apply of unit-lock-destroy is running"),
    ):
        _deploy.destroy(folder, engine=None)  # type: ignore[arg-type]  # refused before any engine call
