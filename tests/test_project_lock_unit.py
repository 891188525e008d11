"""One apply or destroy of a project at a time, and Compose's refusal while a Swarm stack of
the project's name runs or left another folder's data (issue 16, items 2 and 5), without an
engine. The same on the real engine: tests/e2e/test_project_lock.py and
tests/e2e/test_swarm_ownership.py."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from clockwork_compose import _docker
from clockwork_compose._docker import Busy, SwarmStack, Volume
from clockwork_compose._errors import RuntimeFailure
from clockwork_compose._model import Mount, Project, Role, Service
from clockwork_compose._targets.compose import runtime as _deploy

# -- the lock ----------------------------------------------------------------------------------


@pytest.fixture
def name() -> str:
    """A project name of this test process alone (the lock directory is shared by the host)."""
    return f"unit-lock-{os.getpid()}"


def test_a_second_apply_or_a_destroy_is_refused_naming_what_holds_the_lock(name: str) -> None:
    me = os.getpid()
    with _docker.project_lock(name, "apply"):
        another = rf"^another apply of {name} is running \(process {me}\); nothing was changed"
        with pytest.raises(Busy, match=another), _docker.project_lock(name, "apply"):
            pass
        with (
            pytest.raises(Busy, match=rf"^an apply of {name} is running \(process {me}\)"),
            _docker.project_lock(name, "destroy"),
        ):
            pass
    with (
        _docker.project_lock(name, "destroy"),
        pytest.raises(Busy, match=rf"^a destroy of {name} is running \(process {me}\)"),
        _docker.project_lock(name, "apply"),
    ):
        pass
    with _docker.project_lock(name, "destroy"):  # free again once the holder is done
        pass


def test_a_lock_file_without_a_holder_written_yet_names_what_it_guards() -> None:
    assert _docker.busy_message("", "an apply or destroy of shop", "apply of shop") == (
        "an apply or destroy of shop is running; nothing was changed: wait for it to finish, then try again"
    )
    assert _docker.busy_message("42", "the network lock").startswith("the network lock is running (process 42)")


def test_compose_destroy_takes_the_project_lock(tmp_path: Path) -> None:
    folder = tmp_path / "unit-lock-destroy"
    folder.mkdir()
    with (
        _docker.project_lock("unit-lock-destroy", "apply"),
        pytest.raises(Busy, match="an apply of unit-lock-destroy is running"),
    ):
        _deploy.destroy(folder, engine=None)  # type: ignore[arg-type]  # refused before any engine call


# -- Compose refuses while a stack of its name runs -----------------------------------------------

DB = Service(
    "db", Role.DATABASE, image="postgres:15-alpine", mounts=[Mount("volume", "db_data", "/var/lib/postgresql/data")]
)
SHOP = Project("shop", {"db": DB}, ["app_network"], ["db_data"])
HERE = Path("/srv/shop")


def test_no_stack_no_refusal() -> None:
    _deploy.check_no_stack(SHOP, HERE, SwarmStack({}))


def test_a_running_stack_of_the_project_name_is_refused_with_the_fix() -> None:
    with pytest.raises(RuntimeFailure) as caught:
        _deploy.check_no_stack(SHOP, HERE, SwarmStack({"shop_db": str(HERE), "shop_db-migrator": ""}))
    message = str(caught.value)
    assert message.startswith("Swarm stack shop runs on this engine (services shop_db, shop_db-migrator)")
    assert "its volumes have the names this project's would (shop_db_data)" in message
    assert "nothing was changed" in message and "`clockwork destroy --target swarm --keep-volumes` first" in message


def test_another_folders_stack_is_named_with_where_to_destroy_it() -> None:
    with pytest.raises(RuntimeFailure) as caught:
        _deploy.check_no_stack(SHOP, HERE, SwarmStack({"shop_db": "/srv/other/shop"}))
    message = str(caught.value)
    assert "(services shop_db, made from /srv/other/shop)" in message
    assert "`clockwork destroy --target swarm --keep-volumes` in /srv/other/shop first" in message


def test_volumes_a_stack_left_are_compose_data_only_when_this_folder_made_them() -> None:
    mine = Volume("shop_db_data", {_docker.OWNER_LABEL: str(HERE)})
    unrecorded = Volume("shop_db_data", {})  # a stack deployed before clockwork recorded folders
    unmounted = Volume("shop_other_data", {_docker.OWNER_LABEL: "/srv/other/shop"})
    for volumes in ((mine,), (unrecorded,), (unmounted,)):
        _deploy.check_no_stack(SHOP, HERE, SwarmStack({}, volumes))
    theirs = Volume("shop_db_data", {_docker.OWNER_LABEL: "/srv/other/shop"})
    with pytest.raises(RuntimeFailure) as caught:
        _deploy.check_no_stack(SHOP, HERE, SwarmStack({}, (theirs,)))
    message = str(caught.value)
    assert message.startswith("Swarm stack shop, made in /srv/other/shop, left its data in shop_db_data")
    assert "`clockwork destroy --target swarm` in /srv/other/shop" in message
