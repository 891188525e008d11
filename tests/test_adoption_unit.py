"""A folder that moved or was renamed, without an engine: what apply finds its old folder
left (``plan_adoption``), what it says (``adoption_error``, the guard's sizes), what
``--adopt-data`` does against a fake engine that holds volumes' labels and files, and that
stopping it at any step (Ctrl-C, kill) loses nothing and is finished by the next run.

The same on the real engine, through the CLI: tests/e2e/test_moved_data.py."""

from __future__ import annotations

import contextlib
import copy
import os
from pathlib import Path
from types import SimpleNamespace

import pytest
from fakes import FakeEngine, Stop
from support import run_cli

from clockwork_compose._docker import (
    ADOPTED_FROM_LABEL,
    COPYING_INTO_LABEL,
    OWNER_LABEL,
    OWNER_OF_LABEL,
    PROJECT_LABEL,
    VOLUME_LABEL,
    ContainerState,
    Volume,
    VolumeUsage,
)
from clockwork_compose._errors import RuntimeFailure
from clockwork_compose._model import Mount, Project, Role, Service
from clockwork_compose._targets.base import Needs
from clockwork_compose._targets.compose import runtime as _deploy

DB = Service(
    "db", Role.DATABASE, image="postgres:15-alpine", mounts=[Mount("volume", "db_data", "/var/lib/postgresql/data")]
)
FILES = {"PG_VERSION": "15", "base/1/1259": "rows", "pg_wal/0001": "wal"}


def shop(name: str = "shop") -> Project:
    return Project(name, {"db": DB}, ["app_network"], ["db_data"])


def folder_with_main(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    (path / "main.py").write_text("")
    return path


def data_volume(name: str, project: str, owner: Path | str, **labels: str) -> Volume:
    base = {PROJECT_LABEL: project, VOLUME_LABEL: "db_data", OWNER_LABEL: str(owner)}
    return Volume(name, {**base, **labels})


def container(name: str, project: str, working_dir: Path | str, status: str = "running", **kw) -> ContainerState:
    return ContainerState(
        name,
        name,
        f"id-{project}-{name}",
        status,
        None,
        0,
        None,
        project=project,
        working_dir=str(working_dir),
        role="database",
        image="postgres:15-alpine",
        **kw,
    )


# -- which folder is gone ------------------------------------------------------------------------


def test_a_folder_is_gone_when_it_or_its_main_py_no_longer_exists(tmp_path: Path, monkeypatch) -> None:
    assert _deploy.gone(str(tmp_path / "nowhere"))
    (tmp_path / "emptied").mkdir()
    assert _deploy.gone(str(tmp_path / "emptied"))  # the project moved out of it
    assert not _deploy.gone(str(folder_with_main(tmp_path / "here")))
    (tmp_path / "file").write_text("")
    assert _deploy.gone(str(tmp_path / "file"))  # not even a folder
    assert not _deploy.gone("") and not _deploy.gone("relative/shop")  # unknown: never assumed gone

    def denied(path: object, *args: object, **kwargs: object) -> os.stat_result:
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(os, "stat", denied)
    assert not _deploy.gone(str(tmp_path / "nowhere"))  # cannot look: not known to be gone


def test_a_record_says_who_owns_a_moved_volume() -> None:
    volumes = [
        data_volume("shop_db_data", "shop", "/a/shop"),
        Volume("shop_db_data.clockwork-owner", {OWNER_LABEL: "/b/shop", OWNER_OF_LABEL: "shop_db_data"}),
        Volume("made_by_compose", {}),
    ]
    assert _deploy.volume_owners(volumes) == {
        "shop_db_data": "/b/shop",
        "shop_db_data.clockwork-owner": "/b/shop",
        "made_by_compose": "",
    }


# -- what a moved or renamed project finds -------------------------------------------------------


def test_a_moved_project_finds_its_volumes_and_running_containers(tmp_path: Path) -> None:
    old, new = tmp_path / "a" / "shop", folder_with_main(tmp_path / "b" / "shop")
    running = container("db", "shop", old)
    plan = _deploy.plan_adoption(shop(), new, [running], [running], [data_volume("shop_db_data", "shop", old)])
    assert plan.volumes == (_deploy.Taken("shop_db_data", str(old), "shop_db_data", "shop"),)
    assert plan.volumes[0].moved and plan.copies == ()
    assert plan.containers == (running,)
    assert not plan.ambiguous and not plan.unfinished


def test_a_project_in_its_own_folder_or_another_live_one_finds_nothing(tmp_path: Path) -> None:
    here, there = folder_with_main(tmp_path / "b" / "shop"), folder_with_main(tmp_path / "a" / "shop")
    for owner in (here, there):  # there: another project's, the ownership checks refuse it
        running = container("db", "shop", owner)
        plan = _deploy.plan_adoption(shop(), here, [running], [running], [data_volume("shop_db_data", "shop", owner)])
        assert not plan, plan


def test_a_renamed_project_finds_the_old_projects_volume_of_the_same_resource(tmp_path: Path) -> None:
    old, new = tmp_path / "oldshop", folder_with_main(tmp_path / "shop")
    source = data_volume("oldshop_db_data", "oldshop", old)
    unrelated = Volume("oldshop_cache_data", {**source.labels, VOLUME_LABEL: "cache_data"})
    holder = container("db", "oldshop", old)
    plan = _deploy.plan_adoption(shop(), new, [], [holder], [], [source, unrelated])
    assert plan.volumes == (_deploy.Taken("oldshop_db_data", str(old), "shop_db_data", "oldshop"),)
    assert plan.copies == plan.volumes
    assert plan.containers == (holder,)  # it holds the name db: it goes with its data


def test_a_renamed_projects_old_volume_is_not_offered_once_a_complete_copy_exists(tmp_path: Path) -> None:
    old, new = tmp_path / "oldshop", folder_with_main(tmp_path / "shop")
    source = data_volume("oldshop_db_data", "oldshop", old)
    copied = data_volume(
        "other_db_data", "other", folder_with_main(tmp_path / "other"), **{ADOPTED_FROM_LABEL: source.name}
    )
    assert not _deploy.plan_adoption(shop(), new, [], [], [], [source, copied])
    # ...but it is while that copy is unfinished (a marker says so): the data is only there.
    marker = Volume("other_db_data.clockwork-copying", {OWNER_LABEL: "x", COPYING_INTO_LABEL: copied.name})
    plan = _deploy.plan_adoption(shop(), new, [], [], [], [source, copied, marker])
    assert [t.source for t in plan.volumes] == ["oldshop_db_data"]


def test_a_live_folders_volume_or_a_volume_without_owner_is_never_offered(tmp_path: Path) -> None:
    new = folder_with_main(tmp_path / "shop")
    live = data_volume("other_db_data", "other", folder_with_main(tmp_path / "other"))
    unlabelled = Volume("compose_db_data", {PROJECT_LABEL: "compose", VOLUME_LABEL: "db_data"})
    assert not _deploy.plan_adoption(shop(), new, [], [], [], [live, unlabelled])


def test_several_gone_folders_are_ambiguous_until_one_is_named(tmp_path: Path) -> None:
    new = folder_with_main(tmp_path / "shop")
    first = data_volume("one_db_data", "one", tmp_path / "one")
    second = data_volume("two_db_data", "two", tmp_path / "two")
    plan = _deploy.plan_adoption(shop(), new, [], [], [], [first, second])
    assert plan.volumes == () and [[t.source for t in g] for g in plan.ambiguous] == [["one_db_data", "two_db_data"]]
    chosen = _deploy.plan_adoption(shop(), new, [], [], [], [first, second], adopt_from=str(tmp_path / "two"))
    assert [t.source for t in chosen.volumes] == ["two_db_data"] and not chosen.ambiguous
    # A folder that left nothing for db: nothing is chosen, and nothing starts empty either.
    nowhere = _deploy.plan_adoption(shop(), new, [], [], [], [first], adopt_from=str(tmp_path / "elsewhere"))
    assert nowhere.volumes == () and len(nowhere.ambiguous) == 1


def test_an_unfinished_copy_is_found_and_its_target_never_offered(tmp_path: Path) -> None:
    new = folder_with_main(tmp_path / "shop")
    source = data_volume("oldshop_db_data", "oldshop", tmp_path / "oldshop")
    target = data_volume("shop_db_data", "shop", new, **{ADOPTED_FROM_LABEL: source.name})
    marker = Volume(
        "shop_db_data.clockwork-copying",
        {
            PROJECT_LABEL: "shop",
            OWNER_LABEL: str(new),
            COPYING_INTO_LABEL: target.name,
            ADOPTED_FROM_LABEL: source.name,
        },
    )
    plan = _deploy.plan_adoption(shop(), new, [], [], [target, marker], [source])
    assert [(t.source, t.target) for t in plan.unfinished] == [("oldshop_db_data", "shop_db_data")]
    assert plan.volumes == ()
    # The target not made yet (stopped between marker and target): still unfinished, never empty.
    plan = _deploy.plan_adoption(shop(), new, [], [], [marker], [source])
    assert [t.target for t in plan.unfinished] == ["shop_db_data"] and plan.volumes == ()


# -- what apply says ----------------------------------------------------------------------------


def test_the_refusal_names_the_flag_the_volume_its_folder_and_its_size(tmp_path: Path) -> None:
    old, new = tmp_path / "a" / "shop", folder_with_main(tmp_path / "b" / "shop")
    running = container("db", "shop", old)
    plan = _deploy.plan_adoption(shop(), new, [running], [running], [data_volume("shop_db_data", "shop", old)])
    usage = {"shop_db_data": VolumeUsage("shop_db_data", True, 38_300, 19)}
    message = str(_deploy.adoption_error(shop(), plan, usage))
    assert "\n" not in message and message.startswith("apply stopped before changing anything")
    assert "volume shop_db_data (39.2 MB) of db" in message and f"created in {old}, which is gone" in message
    assert "containers db (project shop)" in message
    assert "`clockwork apply --adopt-data`" in message
    assert "--replace-data" not in message  # the same volume name: starting empty would mean deleting it


def test_a_renamed_projects_refusal_also_offers_to_start_empty(tmp_path: Path) -> None:
    new = folder_with_main(tmp_path / "shop")
    source = data_volume("oldshop_db_data", "oldshop", tmp_path / "oldshop")
    plan = _deploy.plan_adoption(shop(), new, [], [], [], [source])
    message = str(_deploy.adoption_error(shop(), plan, {source.name: VolumeUsage(source.name, True, 4, 0)}))
    assert "db has no volume here yet (shop_db_data): volume oldshop_db_data (empty) of project oldshop" in message
    assert "--adopt-data" in message and "`clockwork apply --replace-data`" in message


def test_ambiguity_and_an_unfinished_copy_are_said_with_their_way_out(tmp_path: Path) -> None:
    new = folder_with_main(tmp_path / "shop")
    two = [data_volume(f"{n}_db_data", n, tmp_path / n) for n in ("one", "two")]
    message = str(_deploy.adoption_error(shop(), _deploy.plan_adoption(shop(), new, [], [], [], two), {}))
    assert f"one_db_data from {tmp_path / 'one'}" in message and "--adopt-data-from FOLDER" in message
    unfinished = _deploy.Adoption(unfinished=(_deploy.Taken("oldshop_db_data", "", "shop_db_data", ""),))
    message = str(_deploy.adoption_error(shop(), unfinished))
    assert "copying volume oldshop_db_data into shop_db_data (--adopt-data) was interrupted" in message
    assert "--adopt-data" in message and "--replace-data" not in message


def test_the_ownership_checks_leave_gone_folders_to_adoption(tmp_path: Path) -> None:
    here, old = folder_with_main(tmp_path / "b" / "shop"), tmp_path / "a" / "shop"
    _deploy.check_owner("shop", here, [container("db", "shop", old)])
    _deploy.check_names("shop", [container("db", "oldshop", old)])
    _deploy.check_volume_owner("shop", here, [data_volume("shop_db_data", "shop", old)])


def test_destroy_lists_what_a_gone_folder_left_and_a_moved_volume_once_adopted_is_its_own(tmp_path: Path) -> None:
    here, old = folder_with_main(tmp_path / "b" / "shop"), tmp_path / "a" / "shop"
    volume = data_volume("shop_db_data", "shop", old)
    left = _deploy.left_behind(here, [container("db", "shop", old)], [volume])
    assert left == (_deploy.LeftBehind(str(old), ("db",), ("shop_db_data",)),)
    record = Volume(
        "shop_db_data.clockwork-owner", {PROJECT_LABEL: "shop", OWNER_LABEL: str(here), OWNER_OF_LABEL: volume.name}
    )
    assert _deploy.left_behind(here, [], [volume, record]) == ()


# -- --adopt-data against a fake engine, stopped at every step ----------------------------------


def renamed(tmp_path: Path) -> tuple[FakeEngine, Path, Path]:
    """oldshop, applied and still running, renamed to shop."""
    old, new = tmp_path / "oldshop", folder_with_main(tmp_path / "shop")
    source = data_volume("oldshop_db_data", "oldshop", old)
    db = container("db", "oldshop", old, volumes=(("/var/lib/postgresql/data", source.name),))
    return FakeEngine([db], volumes=[source], files={source.name: FILES}), old, new


def moved(tmp_path: Path) -> tuple[FakeEngine, Path, Path]:
    """shop, applied and still running, moved from a/ to b/."""
    old, new = tmp_path / "a" / "shop", folder_with_main(tmp_path / "b" / "shop")
    volume = data_volume("shop_db_data", "shop", old)
    db = container("db", "shop", old, volumes=(("/var/lib/postgresql/data", volume.name),))
    return FakeEngine([db], volumes=[volume], files={volume.name: FILES}), old, new


def take_over(engine: FakeEngine, folder: Path, adopt: bool = False) -> _deploy._TakenOver:
    """What apply does first, with apply's own listings of the fake engine."""
    project = shop()
    listings = (
        engine.project_containers(project.name),
        engine.containers_named(list(project.services)),
        engine.volumes(project.name),
    )
    for c in listings[0]:
        _deploy.check_owner(project.name, folder, [c])
    _deploy.check_volume_owner(project.name, folder, listings[2])
    return _deploy.take_over(engine, project, folder, listings, _deploy._Adopting(adopt=adopt))  # type: ignore[arg-type]


def test_without_the_flag_nothing_changes(tmp_path: Path) -> None:
    for setup in (moved, renamed):
        engine, _, new = setup(tmp_path / setup.__name__)
        before = copy.deepcopy((engine.labels, engine.files, engine.running))
        with pytest.raises(RuntimeFailure) as caught:
            take_over(engine, new)
        assert "--adopt-data" in str(caught.value) and "(12 bytes)" not in str(caught.value)
        assert engine.changes == 0 and (engine.labels, engine.files, engine.running) == before


def test_a_moved_project_keeps_its_volume_and_never_asks_again(tmp_path: Path) -> None:
    engine, old, new = moved(tmp_path)
    taken = take_over(engine, new, adopt=True)
    assert taken.adopted == (_deploy.Adopted("shop_db_data", str(old), "shop_db_data"),)
    assert [c.name for c in taken.stranded] == ["db"] and engine.running == []
    assert engine.files["shop_db_data"] == FILES and engine.labels["shop_db_data"][OWNER_LABEL] == str(old)
    assert engine.labels["shop_db_data.clockwork-owner"][OWNER_LABEL] == str(new)
    assert not take_over(engine, new).changed  # the next apply, and after destroy --keep-volumes
    # Moved again: the record of the first move is replaced.
    again = folder_with_main(tmp_path / "c" / "shop")
    (new / "main.py").unlink()
    take_over(engine, again, adopt=True)
    assert engine.labels["shop_db_data.clockwork-owner"][OWNER_LABEL] == str(again)
    assert not take_over(engine, again).changed
    assert engine.files["shop_db_data"] == FILES


def test_a_renamed_project_copies_the_data_and_keeps_the_original(tmp_path: Path) -> None:
    engine, old, new = renamed(tmp_path)
    taken = take_over(engine, new, adopt=True)
    assert taken.adopted == (_deploy.Adopted("oldshop_db_data", str(old), "shop_db_data", 12),)
    assert engine.files["shop_db_data"] == FILES == engine.files["oldshop_db_data"]
    assert engine.labels["shop_db_data"][ADOPTED_FROM_LABEL] == "oldshop_db_data"
    assert engine.labels["shop_db_data"][OWNER_LABEL] == str(new)
    assert "shop_db_data.clockwork-copying" not in engine.labels and engine.running == []
    assert not take_over(engine, new).changed


def test_a_running_container_of_another_project_on_the_source_stops_the_copy(tmp_path: Path) -> None:
    engine, _, new = renamed(tmp_path)
    live = folder_with_main(tmp_path / "live")
    engine.running.append(container("reader", "live", live, volumes=(("/data", "oldshop_db_data"),)))
    with pytest.raises(RuntimeFailure) as caught:
        take_over(engine, new, adopt=True)
    assert "oldshop_db_data is in use by reader" in str(caught.value) and "docker stop reader" in str(caught.value)
    assert "shop_db_data" not in engine.files and engine.files["oldshop_db_data"] == FILES


def _stopped_at_every_step(setup, tmp_path: Path) -> int:
    """Stop adoption at each change in turn; after each stop, apply without the flag either
    refuses or finds the data complete; with it, it finishes. The data is never lost."""
    steps = 0
    while True:
        steps += 1
        engine, _, new = setup(tmp_path / str(steps))
        engine.stop_at = steps
        try:
            take_over(engine, new, adopt=True)
        except Stop:
            pass
        else:
            return steps - 1  # no change left to stop at
        source = "oldshop_db_data" if setup is renamed else "shop_db_data"
        assert engine.files[source] == FILES, f"stopped at {steps}: the data it came from changed"
        engine.stop_at = None
        try:
            take_over(engine, new)  # apply without the flag
        except RuntimeFailure as refused:
            assert "--adopt-data" in str(refused)
        else:
            assert engine.files["shop_db_data"] == FILES, f"stopped at {steps}: apply would start on part of it"
        take_over(engine, new, adopt=True)
        assert engine.files["shop_db_data"] == FILES == engine.files[source]
        assert not take_over(engine, new).changed, f"stopped at {steps}: it asks again"


def test_a_moved_projects_adoption_stopped_at_any_step_loses_nothing(tmp_path: Path) -> None:
    assert _stopped_at_every_step(moved, tmp_path) == 2  # the record, the containers


def test_a_renamed_projects_adoption_stopped_at_any_step_loses_nothing(tmp_path: Path) -> None:
    assert _stopped_at_every_step(renamed, tmp_path) == 5  # containers, marker, target, copy, marker gone


def test_an_unfinished_copy_whose_source_was_deleted_says_so(tmp_path: Path) -> None:
    engine, _, new = renamed(tmp_path)
    engine.stop_at = 4  # the copy, half done
    with pytest.raises(Stop):
        take_over(engine, new, adopt=True)
    del engine.labels["oldshop_db_data"], engine.files["oldshop_db_data"]  # the user removed it meanwhile
    engine.stop_at = None
    with pytest.raises(RuntimeFailure) as caught:
        take_over(engine, new, adopt=True)
    assert "oldshop_db_data no longer exists" in str(caught.value)
    assert "docker volume rm shop_db_data shop_db_data.clockwork-copying" in str(caught.value)
    with pytest.raises(RuntimeFailure):  # and the partial copy is still never used
        take_over(engine, new)


def test_a_copy_an_interrupted_apply_left_running_is_not_in_the_way(tmp_path: Path) -> None:
    engine, _, new = renamed(tmp_path)
    engine.stop_at = 4  # the copy, half done: Ctrl-C leaves its container running
    with pytest.raises(Stop):
        take_over(engine, new, adopt=True)
    leftover = container("clockwork-copy-shop_db_data", "", "", volumes=(("/from", "oldshop_db_data"),))
    engine.running.append(leftover)
    engine.stop_at = None
    take_over(engine, new, adopt=True)
    assert engine.files["shop_db_data"] == FILES


def test_adopting_is_for_compose(make_project) -> None:
    root = make_project('db = DockerResource(name="db", image="postgres:15-alpine")\n')
    for flag in (["--adopt-data"], ["--adopt-data-from", "/old/shop"]):
        result = run_cli("apply", "--target", "swarm", *flag, cwd=root)
        assert result.code == 2 and "--adopt-data is for Compose" in result.err, result.err
        assert len(result.err.strip().splitlines()) == 1


def test_a_live_other_folder_is_refused_before_anything_is_adopted(tmp_path: Path) -> None:
    """Containers of the project name from a folder that still holds it, next to volumes a
    gone folder left: apply refuses (naming the live folder) before --adopt-data acts."""
    here, live, old = (
        folder_with_main(tmp_path / "c" / "shop"),
        folder_with_main(tmp_path / "a" / "shop"),
        tmp_path / "b" / "shop",
    )
    engine = FakeEngine(
        [container("db", "shop", live)],
        volumes=[data_volume("shop_db_data", "shop", old)],
        files={"shop_db_data": FILES},
    )
    built = SimpleNamespace(project=shop(), path=here / "docker-compose.yml", notes=())
    needs = Needs(lambda project_dir, target: built, lambda name, action: contextlib.nullcontext(), {})
    with pytest.raises(RuntimeFailure) as caught:
        _deploy.apply(here, needs, engine=engine, adopt_data=True)
    assert f"project shop belongs to {live}" in str(caught.value)
    assert engine.changes == 0 and "shop_db_data.clockwork-owner" not in engine.labels
