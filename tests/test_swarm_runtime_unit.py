"""The Swarm runtime's decisions, with the tasks faked at the docker seam (no engine)."""

from __future__ import annotations

import contextlib
import dataclasses
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from clockwork_compose._docker import OWNER_LABEL
from clockwork_compose._errors import DeclarationError
from clockwork_compose._model import CommandCheck, Healthcheck, Role, Service
from clockwork_compose._targets.swarm import runtime as swarm_runtime
from clockwork_compose._targets.swarm.runtime import SPEC_LABEL, Removed, spec_hash, state, subset

DOC = {
    "services": {
        "db": {"image": "postgres:16", "environment": {"PW": "${DB_PW:?set it}"}, "deploy": {"labels": {}}},
        "job": {
            "image": "postgres:16",
            "configs": [{"source": "a.sql-111", "target": "/clockwork/migrations/a.sql"}],
            "deploy": {"mode": "replicated-job", "labels": {}},
        },
    },
    "networks": {"app_network": {"driver": "overlay", "attachable": True}},
    "configs": {"a.sql-111": {"file": "./migrations/a.sql"}, "b.sql-222": {"file": "./migrations/b.sql"}},
}


def test_the_hash_changes_with_the_definition_and_with_the_values_filled_in():
    entry = DOC["services"]["db"]
    base = spec_hash(entry, {"DB_PW": "one"})
    assert spec_hash(entry, {"DB_PW": "one", "OTHER": "x"}) == base  # values it does not take do not count
    assert spec_hash(entry, {"DB_PW": "two"}) != base  # a new secret value redeploys
    assert spec_hash({**entry, "image": "postgres:17"}, {"DB_PW": "one"}) != base


def test_a_layer_deploys_only_its_services_with_their_configs_and_hash():
    doc = subset(DOC, {"job": "h1"})
    assert list(doc["services"]) == ["job"]
    assert doc["configs"] == {"a.sql-111": {"file": "./migrations/a.sql"}}  # not b.sql, used by nobody here
    assert doc["services"]["job"]["deploy"]["labels"][SPEC_LABEL] == "h1"
    assert doc["services"]["job"]["labels"][SPEC_LABEL] == "h1"  # on its containers too
    assert SPEC_LABEL not in DOC["services"]["job"]["deploy"]["labels"]  # the original is untouched
    assert "configs" not in subset(DOC, {"db": "h2"})


def task(state_: str, spec: str = "h", desired: str = "running", stamp: str = "1", code: int | None = None) -> dict:
    status = {"State": state_, "Timestamp": stamp, "Err": "task: non-zero exit (1)" if code else ""}
    if code is not None:
        status["ContainerStatus"] = {"ExitCode": code}
    return {
        "ID": f"t{stamp}",
        "DesiredState": desired,
        "Status": status,
        "Spec": {"ContainerSpec": {"Labels": {SPEC_LABEL: spec}}},
    }


DB = Service("db", role=Role.DATABASE, healthcheck=Healthcheck(CommandCheck(("true",)), 1, 3, 3))
JOB = Service("job", role=Role.MIGRATOR)
INSPECTED = {"ID": "s1", "Spec": {"Mode": {"Replicated": {"Replicas": 2}}}}


@pytest.fixture
def tasks(monkeypatch: pytest.MonkeyPatch) -> list[dict]:
    listed: list[dict] = []
    monkeypatch.setattr(swarm_runtime, "tasks", lambda service_id: listed)
    return listed


def test_a_service_is_ready_when_all_its_replicas_of_this_version_run(tasks: list[dict]):
    tasks += [task("running"), task("running", spec="old")]
    assert not state(DB, INSPECTED, "h").ready  # the old version's task does not count
    tasks.append(task("running", stamp="2"))
    now = state(DB, INSPECTED, "h")
    assert now.ready and now.phase == "healthy"


def test_a_crash_loop_fails_after_some_attempts(tasks: list[dict]):
    tasks += [task("failed", desired="shutdown", stamp=str(i), code=1) for i in range(swarm_runtime.CRASHES - 1)]
    assert not state(DB, INSPECTED, "h").failed
    tasks.append(task("failed", desired="shutdown", stamp="9", code=3))
    now = state(DB, INSPECTED, "h")
    assert now.failed and now.exit_code == 3 and now.task == "t9"


def test_a_task_still_starting_past_its_resting_probes_budget_fails(tasks: list[dict]):
    """Docker keeps a resting probe's task "starting" for 90 s past its budget (its start
    period is the budget): past the budget and one more check, apply calls it unhealthy."""
    resting = dataclasses.replace(DB, healthcheck=Healthcheck(CommandCheck(("true",)), 1, 3, 3, rest_interval=30.0))
    began = datetime(2026, 12, 3, 10, 0, 0, tzinfo=UTC)
    tasks += [task("starting", stamp="2026-12-03T10:00:00.123456789Z")]
    assert not state(resting, INSPECTED, "h", now=began + timedelta(seconds=6)).failed
    late = state(resting, INSPECTED, "h", now=began + timedelta(seconds=8))
    assert late.failed and late.phase == "unhealthy" and late.task == "t2026-12-03T10:00:00.123456789Z"
    assert "not healthy 3s after it started" in late.detail
    # A hand-timed healthcheck is Docker's to judge.
    assert not state(DB, INSPECTED, "h", now=began + timedelta(seconds=300)).failed


def test_a_job_completes_or_fails_in_its_current_iteration(tasks: list[dict]):
    inspected = {"ID": "s2", "Spec": {"Mode": {"ReplicatedJob": {}}}, "JobStatus": {"JobIteration": {"Index": 7}}}
    old = task("complete", stamp="1")
    old["JobIteration"] = {"Index": 6}
    tasks.append(old)
    assert not state(JOB, inspected, "h").ready  # an earlier run's success does not count
    failed = task("failed", stamp="2", code=1)
    failed["JobIteration"] = {"Index": 7}
    tasks.append(failed)
    now = state(JOB, inspected, "h")
    assert now.failed and now.exit_code == 1 and now.phase == "failed"
    done = task("complete", stamp="3")
    done["JobIteration"] = {"Index": 7}
    tasks.append(done)  # a retry that succeeded
    assert state(JOB, inspected, "h").phase == "migrated"


# -- ownership: which folder made what (issue 16, item 1) ------------------------------------

HERE, THERE = Path("/srv/a/shop"), "/srv/b/shop"


def test_a_deploy_labels_everything_with_its_folder_and_the_committed_document_stays_as_it_is():
    before = json.dumps(DOC, sort_keys=True)
    stamped = swarm_runtime.stamp(DOC, HERE)
    assert json.dumps(DOC, sort_keys=True) == before  # the document (and the file) hold no path
    for entry in stamped["services"].values():
        assert entry["deploy"]["labels"][OWNER_LABEL] == str(HERE)  # the service
        assert entry["labels"][OWNER_LABEL] == str(HERE)  # its containers
    for key in ("networks", "configs"):
        for spec in stamped[key].values():
            assert spec["labels"] == {OWNER_LABEL: str(HERE)}
    assert stamped["networks"]["app_network"]["driver"] == "overlay"
    with_volume = swarm_runtime.stamp({**DOC, "volumes": {"db_data": {}}}, HERE)
    assert with_volume["volumes"]["db_data"] == {"labels": {OWNER_LABEL: str(HERE)}}
    # A folder moved or renamed deploys nothing again: the hash is of the document alone.
    assert subset(stamped, {"db": "h"})["services"]["db"]["deploy"]["labels"][OWNER_LABEL] == str(HERE)


def made(kind: str, name: str, owner: str = "", compose: str = "") -> swarm_runtime.Made:
    return swarm_runtime.Made(kind, name, owner, compose)


def test_apply_refuses_what_another_folder_made_naming_it_and_the_fix(tmp_path: Path):
    mine = [made("service", "shop_db", str(HERE)), made("volume", "shop_db_data", "")]
    swarm_runtime.check_owner("shop", HERE, mine)  # this folder's, and one made before folders were recorded
    theirs = [
        made("service", "shop_db", THERE),
        made("service", "shop_app", THERE),
        made("volume", "shop_db_data", THERE),
        made("container", "shop_db.1.x", THERE),
        made("network", "shop_app_network", THERE),
    ]
    with pytest.raises(swarm_runtime.SwarmError) as caught:
        swarm_runtime.check_owner("shop", HERE, theirs)
    message = str(caught.value)
    assert message.startswith(
        f"stack shop belongs to {THERE} (made there: services shop_app, shop_db; volume shop_db_data "
        f"(and 1 container, 1 network)), not to {HERE}; nothing was changed."
    )
    assert f"Run `clockwork destroy --target swarm` in {THERE} first ({THERE} no longer exists" in message
    assert message.endswith("or give --stack another name")
    other = tmp_path / "shop"
    other.mkdir()
    compose = [made("volume", "shop_db_data", str(other), compose="shop")]
    with pytest.raises(swarm_runtime.SwarmError) as caught:
        swarm_runtime.check_owner("shop", HERE, compose)
    assert str(caught.value).startswith(f"Compose project shop, made in {other}, keeps its data in shop_db_data")
    assert f"Run `clockwork destroy` in {other} first, or give --stack another name" in str(caught.value)


@pytest.fixture
def destroying(monkeypatch: pytest.MonkeyPatch) -> tuple[list[swarm_runtime.Made], list[str]]:
    """destroy with the engine's answers faked: what the stack has, and what was removed."""
    things: list[swarm_runtime.Made] = []
    removed: list[str] = []
    monkeypatch.setattr(swarm_runtime, "require_manager", lambda: None)
    monkeypatch.setattr(swarm_runtime, "made", lambda stack: things)
    monkeypatch.setattr(swarm_runtime, "remove", lambda stack, keep, wait: removed.append(stack) or Removed(("x",)))
    monkeypatch.setattr(swarm_runtime, "_compose_volumes", lambda stack, folder: ())
    monkeypatch.setattr(swarm_runtime._docker, "project_lock", lambda name, action: contextlib.nullcontext())
    monkeypatch.setattr(swarm_runtime._nodes, "nodes", lambda: [])
    return things, removed


def test_destroy_removes_only_a_stack_this_folder_made(destroying):
    things, removed = destroying
    things += [made("service", "shop_db", THERE), made("volume", "shop_db_data", THERE)]
    assert swarm_runtime.destroy("shop", HERE) == Removed(foreign=(THERE,))
    assert removed == []
    things[:] = [made("service", "shop_db", str(HERE)), made("volume", "shop_db_data", "")]
    assert swarm_runtime.destroy("shop", HERE) == Removed(("x",))  # with what it made before folders were kept
    things.clear()
    assert swarm_runtime.destroy("shop", HERE) == Removed(("x",))  # nothing there: nothing to remove
    assert removed == ["shop", "shop"]


def test_destroy_refuses_a_stack_with_no_folder_recorded_and_says_how_to_go_on(destroying):
    things, removed = destroying
    things += [made("service", "shop_db"), made("volume", "shop_db_data"), made("config", "shop_a.sql-1")]
    with pytest.raises(swarm_runtime.SwarmError) as caught:
        swarm_runtime.destroy("shop", HERE)
    message = str(caught.value)
    assert message.startswith("stack shop has no record of the folder that made it")
    assert "service shop_db; volume shop_db_data (and 1 config); nothing was changed" in message
    assert "run `clockwork apply --target swarm` (it records that folder)" in message
    assert message.endswith("`docker stack rm shop`, then `docker volume rm shop_db_data`")
    with pytest.raises(swarm_runtime.SwarmError, match=r"`clockwork apply --target swarm --stack other`"):
        swarm_runtime.destroy("other", HERE)
    assert removed == []


def test_apply_records_its_folder_on_unrecorded_services_but_never_updates_a_job(monkeypatch: pytest.MonkeyPatch):
    calls: list[tuple[str, ...]] = []
    monkeypatch.setattr(swarm_runtime, "docker", lambda *args, **kw: calls.append(args) or "")
    services = {
        "db": {"ID": "s1", "Spec": {"Labels": {}, "Mode": {"Replicated": {"Replicas": 1}}}},
        "app": {"ID": "s2", "Spec": {"Labels": {OWNER_LABEL: str(HERE)}, "Mode": {"Replicated": {}}}},
        "job": {"ID": "s3", "Spec": {"Labels": {}, "Mode": {"ReplicatedJob": {}}}},  # an update would run it
    }
    notes = swarm_runtime.adopt("shop", services, HERE)
    assert calls == [("service", "update", "--detach", "--label-add", f"{OWNER_LABEL}={HERE}", "s1")]
    assert notes == [
        f"recorded {HERE} as the folder of stack shop (services db had no folder recorded: deployed before "
        "clockwork recorded it, or by a plain docker stack deploy)"
    ]
    assert swarm_runtime.adopt("shop", {"app": services["app"]}, HERE) == []


@pytest.mark.parametrize("name", ["shop", "Shop.2", "a_b-c"])
def test_a_stack_name_docker_accepts(name: str):
    assert swarm_runtime.valid_stack(name) == name


@pytest.mark.parametrize("name", ["", "../x", "a/b", "-x", "a b", "x" * 64])
def test_a_stack_name_docker_refuses_is_a_declaration_error(name: str):
    with pytest.raises(DeclarationError, match="is not a stack name"):
        swarm_runtime.valid_stack(name)
